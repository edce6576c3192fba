//! TCP segments sent and read by a node that holds no socket of the session (pure): the
//! session takeover's tickle, the client's answer, and the session's next bytes.
//!
//! [`Segment::encode`] makes a TCP header (with its checksum over the IPv4 or IPv6
//! pseudo-header), an optional timestamps option and a payload, as a raw `IPPROTO_TCP`
//! socket sends it (the kernel adds the IP header). [`parse`] reads an IP packet as a
//! packet socket delivers it (no link header) and returns its TCP fields.
//! [`capture_filter`] is the classic BPF program that lets such a socket see only TCP
//! packets to the VIP's client ports, so a busy node copies nothing else.

use std::net::{IpAddr, SocketAddr};

/// TCP flags.
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// The window a sent segment announces (what it is matters not: the session is never read).
const WINDOW: u16 = 4096;

/// A segment to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// `(TSval, TSecr)` of the timestamps option, if the session uses it.
    pub timestamps: Option<(u32, u32)>,
    pub payload: &'a [u8],
}

/// Why a segment cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SegmentError {
    #[error("source {0} and destination {1} are of different address families")]
    Families(SocketAddr, SocketAddr),
    #[error("a payload of {0} bytes does not fit one segment")]
    TooLong(usize),
}

impl Segment<'_> {
    /// The TCP header, options and payload, checksummed.
    pub fn encode(&self) -> Result<Vec<u8>, SegmentError> {
        if self.payload.len() > 1200 {
            return Err(SegmentError::TooLong(self.payload.len()));
        }
        let mut options = Vec::new();
        if let Some((val, ecr)) = self.timestamps {
            // NOP, NOP, timestamps (kind 8, length 10): the layout Linux sends.
            options.extend_from_slice(&[1, 1, 8, 10]);
            options.extend_from_slice(&val.to_be_bytes());
            options.extend_from_slice(&ecr.to_be_bytes());
        }
        let header_len = 20 + options.len();
        let mut out = Vec::with_capacity(header_len + self.payload.len());
        out.extend_from_slice(&self.src.port().to_be_bytes());
        out.extend_from_slice(&self.dst.port().to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        // Data offset in 32-bit words; 20 + 12 bytes at most, so it fits.
        out.push(((header_len / 4) as u8) << 4);
        out.push(self.flags);
        out.extend_from_slice(&WINDOW.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        out.extend_from_slice(&options);
        out.extend_from_slice(self.payload);
        let sum = checksum(&pseudo_header(self.src, self.dst, out.len())?, &out);
        out[16..18].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// The pseudo-header the TCP checksum covers.
fn pseudo_header(src: SocketAddr, dst: SocketAddr, len: usize) -> Result<Vec<u8>, SegmentError> {
    let mut p = Vec::with_capacity(40);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
        }
        _ => return Err(SegmentError::Families(src, dst)),
    }
    Ok(p)
}

/// The Internet checksum of `a` followed by `b` (`a` has an even length).
fn checksum(a: &[u8], b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in a.chunks(2).chain(b.chunks(2)) {
        let word = match chunk {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            [hi] => u16::from_be_bytes([*hi, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP fields of a packet seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// `(TSval, TSecr)` if the segment carries the timestamps option.
    pub timestamps: Option<(u32, u32)>,
    pub payload_len: usize,
}

/// Reads an IPv4 or IPv6 packet carrying TCP (IPv6 without extension headers); `None` for
/// anything else or a truncated packet.
pub fn parse(packet: &[u8]) -> Option<Seen> {
    let version = packet.first()? >> 4;
    let (src, dst, tcp) = match version {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if *packet.get(9)? != 6 || ihl < 20 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
            let (src, dst) = addresses::<4>(packet, 12)?;
            (src, dst, packet.get(ihl..total.min(packet.len()))?)
        }
        6 => {
            if *packet.get(6)? != 6 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([*packet.get(4)?, *packet.get(5)?]));
            let (src, dst) = addresses::<16>(packet, 8)?;
            (src, dst, packet.get(40..(40 + len).min(packet.len()))?)
        }
        _ => return None,
    };
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(tcp.get(at..at + 4)?.try_into().ok()?))
    };
    let port = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(tcp.get(at..at + 2)?.try_into().ok()?))
    };
    let header_len = usize::from(tcp.get(12)? >> 4) * 4;
    let options = tcp.get(20..header_len)?;
    Some(Seen {
        src: SocketAddr::new(src, port(0)?),
        dst: SocketAddr::new(dst, port(2)?),
        seq: word(4)?,
        ack: word(8)?,
        flags: *tcp.get(13)?,
        timestamps: timestamps(options),
        payload_len: tcp.len().saturating_sub(header_len),
    })
}

/// The source and destination addresses of `N` bytes each, the first at `at`.
fn addresses<const N: usize>(packet: &[u8], at: usize) -> Option<(IpAddr, IpAddr)>
where
    IpAddr: From<[u8; N]>,
{
    let src: [u8; N] = packet.get(at..at + N)?.try_into().ok()?;
    let dst: [u8; N] = packet.get(at + N..at + 2 * N)?.try_into().ok()?;
    Some((IpAddr::from(src), IpAddr::from(dst)))
}

/// The timestamps option among TCP options.
fn timestamps(mut options: &[u8]) -> Option<(u32, u32)> {
    while let Some(&kind) = options.first() {
        match kind {
            0 => return None,
            1 => options = &options[1..],
            _ => {
                let len = usize::from(*options.get(1)?);
                if len < 2 {
                    return None;
                }
                let opt = options.get(..len)?;
                if kind == 8 && len == 10 {
                    let val = u32::from_be_bytes(opt[2..6].try_into().ok()?);
                    let ecr = u32::from_be_bytes(opt[6..10].try_into().ok()?);
                    return Some((val, ecr));
                }
                options = &options[len..];
            }
        }
    }
    None
}

/// One classic BPF instruction: `(code, jt, jf, k)` as `struct sock_filter` holds it.
pub type Insn = (u16, u8, u8, u32);

// Classic BPF opcodes used below.
const LD_B_ABS: u16 = 0x30;
const LD_H_ABS: u16 = 0x28;
const LD_W_ABS: u16 = 0x20;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const ALU_AND_K: u16 = 0x54;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;

/// Accept the whole packet.
const KEEP: u32 = 0xffff;

/// The filter of a packet socket (`SOCK_DGRAM`, so a packet starts at its IP header) that
/// passes only TCP packets to `vip` on one of `ports`.
pub fn capture_filter(vip: IpAddr, ports: [u16; 2]) -> Vec<Insn> {
    /// A comparison of the accumulator with `k`; its false branch is resolved to the rejection.
    const TO_REJECT: u8 = u8::MAX;
    let cmp = |k: u32| (JEQ_K, 0, TO_REJECT, k);
    let mut prog: Vec<Insn> = vec![(LD_B_ABS, 0, 0, 0), (ALU_AND_K, 0, 0, 0xf0)];
    match vip {
        IpAddr::V4(v4) => {
            prog.extend([
                cmp(0x40),
                (LD_B_ABS, 0, 0, 9),
                cmp(6),
                (LD_W_ABS, 0, 0, 16),
                cmp(u32::from(v4)),
                // X = the IP header's length; the destination port is at X + 2.
                (LDX_B_MSH, 0, 0, 0),
                (LD_H_IND, 0, 0, 2),
            ]);
        }
        IpAddr::V6(v6) => {
            prog.extend([cmp(0x60), (LD_B_ABS, 0, 0, 6), cmp(6)]);
            for (i, chunk) in v6.octets().chunks(4).enumerate() {
                let word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                prog.extend([(LD_W_ABS, 0, 0, 24 + 4 * i as u32), cmp(word)]);
            }
            prog.push((LD_H_ABS, 0, 0, 42));
        }
    }
    prog.extend([
        (JEQ_K, 1, 0, u32::from(ports[0])),
        (JEQ_K, 0, 1, u32::from(ports[1])),
        (RET_K, 0, 0, KEEP),
        (RET_K, 0, 0, 0),
    ]);
    let reject = prog.len() - 1;
    for (at, insn) in prog.iter_mut().enumerate() {
        if insn.0 == JEQ_K && insn.2 == TO_REJECT {
            // At most 16 instructions ahead, so it fits a jump offset.
            insn.2 = (reject - at - 1) as u8;
        }
    }
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over `packet` (only the instructions above).
    fn run(prog: &[Insn], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| u32::from(packet.get(at).copied().unwrap_or(0));
        let half = |at: usize| (byte(at) << 8) | byte(at + 1);
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            match code {
                LD_B_ABS => a = byte(k as usize),
                LD_H_ABS => a = half(k as usize),
                LD_W_ABS => a = (half(k as usize) << 16) | half(k as usize + 2),
                LD_H_IND => a = half((x + k) as usize),
                LDX_B_MSH => x = (byte(k as usize) & 0x0f) * 4,
                ALU_AND_K => a &= k,
                JEQ_K => pc += usize::from(if a == k { jt } else { jf }),
                RET_K => return k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    /// An IP packet around a TCP segment.
    fn ip_packet(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Vec<u8> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut p = vec![0x45, 0];
                p.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(tcp);
                p
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut p = vec![0x60, 0, 0, 0];
                p.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
                p.extend_from_slice(&[6, 64]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(tcp);
                p
            }
            _ => unreachable!(),
        }
    }

    fn seg<'a>(src: &str, dst: &str, payload: &'a [u8]) -> Segment<'a> {
        Segment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq: 0xdead_beef,
            ack: 0x0102_0304,
            flags: PSH | ACK,
            timestamps: Some((7, 9)),
            payload,
        }
    }

    #[test]
    fn a_segment_round_trips_through_parse_in_both_families() {
        for (src, dst) in [
            ("10.0.0.100:6641", "10.0.0.5:40122"),
            ("[2001:db8::64]:6642", "[2001:db8::5]:40122"),
        ] {
            let s = seg(src, dst, b"{\"id\":null}");
            let tcp = s.encode().unwrap();
            let seen = parse(&ip_packet(s.src.ip(), s.dst.ip(), &tcp)).unwrap();
            assert_eq!(
                seen,
                Seen {
                    src: s.src,
                    dst: s.dst,
                    seq: s.seq,
                    ack: s.ack,
                    flags: s.flags,
                    timestamps: Some((7, 9)),
                    payload_len: 11,
                }
            );
        }
    }

    #[test]
    fn the_checksum_verifies_over_the_pseudo_header() {
        for (src, dst, payload) in [
            ("10.0.0.100:6641", "10.0.0.5:40122", &b"odd"[..]),
            ("10.0.0.100:6641", "10.0.0.5:40122", &b""[..]),
            ("[2001:db8::64]:6642", "[2001:db8::5]:1", &b"even"[..]),
        ] {
            let s = seg(src, dst, payload);
            let tcp = s.encode().unwrap();
            let pseudo = pseudo_header(s.src, s.dst, tcp.len()).unwrap();
            // Summing a correct segment with its checksum in place gives all ones.
            assert_eq!(checksum(&pseudo, &tcp), 0, "{src} → {dst}");
        }
    }

    #[test]
    fn a_known_linux_ack_checksum() {
        // The numbers of a client's answer to a tickle, as a prototype on a test bridge read them:
        // 10.77.0.3:48334 → 10.77.0.100:6641, seq 3922982595, ack 1259325101.
        let s = Segment {
            src: "10.77.0.3:48334".parse().unwrap(),
            dst: "10.77.0.100:6641".parse().unwrap(),
            seq: 3_922_982_595,
            ack: 1_259_325_101,
            flags: ACK,
            timestamps: Some((1_872_929_830, 284_300_217)),
            payload: b"",
        };
        let tcp = s.encode().unwrap();
        let pseudo = pseudo_header(s.src, s.dst, tcp.len()).unwrap();
        assert_eq!(checksum(&pseudo, &tcp), 0);
        assert_eq!(tcp.len(), 32);
        assert_eq!(tcp[12], 8 << 4);
    }

    #[test]
    fn mixed_families_and_long_payloads_are_refused() {
        let s = seg("10.0.0.1:1", "[::1]:2", b"");
        assert!(matches!(s.encode(), Err(SegmentError::Families(..))));
        let long = vec![b'x'; 1201];
        let s = seg("10.0.0.1:1", "10.0.0.2:2", &long);
        assert_eq!(s.encode(), Err(SegmentError::TooLong(1201)));
    }

    #[test]
    fn parse_refuses_what_is_not_tcp_or_is_cut_short() {
        let s = seg("10.0.0.100:6641", "10.0.0.5:40122", b"x");
        let mut p = ip_packet(s.src.ip(), s.dst.ip(), &s.encode().unwrap());
        assert!(parse(&p[..30]).is_none());
        p[9] = 17;
        assert!(parse(&p).is_none());
        assert!(parse(&[]).is_none());
        assert!(parse(&[0x20, 0, 0]).is_none());
    }

    #[test]
    fn the_options_parser_skips_other_options_and_stops_at_the_end() {
        assert_eq!(
            timestamps(&[2, 4, 5, 0xb4, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            Some((1, 2))
        );
        assert_eq!(timestamps(&[0, 8, 10]), None);
        assert_eq!(timestamps(&[3, 0]), None);
        assert_eq!(timestamps(&[8, 10, 0]), None);
    }

    #[test]
    fn the_capture_filter_passes_only_tcp_to_the_vip_client_ports() {
        let ports = [6641, 6642];
        for (vip, other, client) in [
            ("10.0.0.100", "10.0.0.7", "10.0.0.5"),
            ("2001:db8::64", "2001:db8::7", "2001:db8::5"),
        ] {
            let vip: IpAddr = vip.parse().unwrap();
            let prog = capture_filter(vip, ports);
            let packet = |dst: IpAddr, port: u16| {
                let s = Segment {
                    src: SocketAddr::new(client.parse().unwrap(), 40122),
                    dst: SocketAddr::new(dst, port),
                    seq: 1,
                    ack: 2,
                    flags: ACK,
                    timestamps: None,
                    payload: b"",
                };
                ip_packet(s.src.ip(), s.dst.ip(), &s.encode().unwrap())
            };
            assert_eq!(run(&prog, &packet(vip, 6641)), KEEP, "{vip}");
            assert_eq!(run(&prog, &packet(vip, 6642)), KEEP, "{vip}");
            assert_eq!(run(&prog, &packet(vip, 6643)), 0, "{vip}");
            assert_eq!(
                run(&prog, &packet(other.parse().unwrap(), 6641)),
                0,
                "{vip}"
            );
            let mut udp = packet(vip, 6641);
            if vip.is_ipv4() {
                udp[9] = 17;
            } else {
                udp[6] = 17;
            }
            assert_eq!(run(&prog, &udp), 0, "{vip}");
            // The other family never passes.
            let wrong = if vip.is_ipv4() {
                "[2001:db8::64]:6641"
            } else {
                "10.0.0.100:6641"
            };
            let wrong: SocketAddr = wrong.parse().unwrap();
            let src = if wrong.is_ipv4() {
                "10.0.0.5"
            } else {
                "2001:db8::5"
            };
            let s = Segment {
                src: SocketAddr::new(src.parse().unwrap(), 1),
                dst: wrong,
                seq: 0,
                ack: 0,
                flags: ACK,
                timestamps: None,
                payload: b"",
            };
            assert_eq!(
                run(
                    &prog,
                    &ip_packet(s.src.ip(), s.dst.ip(), &s.encode().unwrap())
                ),
                0
            );
        }
    }
}
