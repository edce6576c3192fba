//! The pure half of a Linux sock_diag client (`NETLINK_SOCK_DIAG`, inet_diag): it encodes one
//! dump request for the TCP sockets of one address family in a set of states whose local or
//! remote port equals a given port, and decodes the kernel's replies into [`TcpConn`]s with selected `struct
//! tcp_info` fields. No I/O here: the binary's `cmd/tcp_diag.rs` owns the netlink socket.
//!
//! Encoded: `struct nlmsghdr` + `struct inet_diag_req_v2` (with `struct inet_diag_sockid`) +
//! one `struct rtattr` `INET_DIAG_REQ_BYTECODE` holding an `INET_DIAG_BC_S_EQ` program, so the
//! kernel does the port filtering (as `ss` does for `sport = :P`) instead of dumping every socket
//! of a node with 10,000+ of them. Decoded: `struct nlmsghdr` (`SOCK_DIAG_BY_FAMILY`,
//! `NLMSG_DONE`, `NLMSG_ERROR`), `struct inet_diag_msg`, its rtattrs and `INET_DIAG_INFO`'s
//! `struct tcp_info` (layouts from `include/uapi/linux/{netlink,inet_diag,tcp}.h`).
//!
//! Why by hand: the maintained crate (netlink-packet-sock-diag 0.4) has no bytecode filter
//! support, and the workspace forbids `unsafe`, so the C structs are read and written as bytes:
//! native endian for netlink and host-order fields, big endian for the sockid's ports and
//! addresses. Decoding never panics: every read is bounds-checked and a short or inconsistent
//! buffer is a [`DiagError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h): the request and reply message type.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCP_ESTABLISHED` (the kernel's TCP state numbering, also [`TcpConn::state`]).
pub const TCP_ESTABLISHED: u8 = 1;
/// `TCP_SYN_SENT`: a connect under way.
pub const TCP_SYN_SENT: u8 = 2;
/// The state set of the replication fence's and the tickles' dumps.
pub const ESTABLISHED: u32 = 1 << TCP_ESTABLISHED;
/// Established or still connecting: a client's link that exists or is being made.
pub const ESTABLISHED_OR_CONNECTING: u32 = ESTABLISHED | 1 << TCP_SYN_SENT;
/// Bytes of one encoded [`dump_request`].
pub const REQUEST_LEN: usize = NLMSG_HDRLEN + REQ_V2_LEN + BYTECODE_ATTR_LEN;

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
/// `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;
/// `sizeof(struct nlmsghdr)`: len u32, type u16, flags u16, seq u32, pid u32.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`: family, protocol, ext, pad, states u32, sockid.
const REQ_V2_LEN: usize = 56;
/// Offset of `id` (`struct inet_diag_sockid`) in `struct inet_diag_req_v2`.
const REQ_V2_ID: usize = 8;
/// `sizeof(struct inet_diag_msg)`: family, state, timer, retrans, sockid, 5 × u32.
const DIAG_MSG_LEN: usize = 72;
/// Offset of `id` in `struct inet_diag_msg`.
const DIAG_MSG_ID: usize = 4;
/// Offset of `idiag_wqueue` in `struct inet_diag_msg` (after the sockid, expires and rqueue).
const DIAG_MSG_WQUEUE: usize = 60;
/// Offsets inside `struct inet_diag_sockid` (48 bytes): sport, dport (be16), src, dst (16
/// bytes each, an IPv4 address in the first 4), if, cookie[2].
const SOCKID_SPORT: usize = 0;
const SOCKID_DPORT: usize = 2;
const SOCKID_SRC: usize = 4;
const SOCKID_DST: usize = 20;
/// `sizeof(struct rtattr)`: len u16, type u16.
const RTA_HDRLEN: usize = 4;
/// The rtattr type bits (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_BC_S_EQ: u8 = 11;
const INET_DIAG_BC_D_EQ: u8 = 12;
/// `sizeof(struct inet_diag_bc_op)`: code u8, yes u8, no u16.
const BC_OP_LEN: usize = 4;
/// The S_EQ program: the comparison op and the op whose `no` holds the port.
const BYTECODE_LEN: usize = 2 * BC_OP_LEN;
const BYTECODE_ATTR_LEN: usize = RTA_HDRLEN + BYTECODE_LEN;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;

/// `struct tcp_info` offsets (include/uapi/linux/tcp.h, checked against the running kernel by
/// `tests/tcp_diag.rs`).
const TCPI_RETRANSMITS: usize = 2;
const TCPI_BACKOFF: usize = 4;
/// `tcpi_rto`, microseconds.
const TCPI_RTO: usize = 8;
const TCPI_UNACKED: usize = 24;
const TCPI_LAST_DATA_SENT: usize = 44;
const TCPI_LAST_ACK_RECV: usize = 56;
const TCPI_BYTES_ACKED: usize = 120;
const TCPI_NOTSENT_BYTES: usize = 144;
const TCPI_BYTES_SENT: usize = 200;
/// The shortest `tcp_info` decoded at all: through `tcpi_last_ack_recv` (every kernel since
/// 2.6 sends at least 104 bytes).
const TCPI_MIN_LEN: usize = TCPI_LAST_ACK_RECV + 4;

/// The address family of one dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `AF_INET`.
    V4,
    /// `AF_INET6` (includes dual-stack sockets with IPv4-mapped addresses).
    V6,
}

impl Family {
    fn af(self) -> u8 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }
}

/// Which end's port a dump selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The socket's own port (a listener's accepted connections).
    Local(u16),
    /// The peer's port (this host's connections to a server port).
    Remote(u16),
}

impl Port {
    fn number(self) -> u16 {
        match self {
            Port::Local(p) | Port::Remote(p) => p,
        }
    }
}

/// One TCP socket from a dump. IPv4-mapped IPv6 addresses are canonicalised to IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The kernel's TCP state (`idiag_state`: one of the dump's states).
    pub state: u8,
    /// `idiag_wqueue`: for TCP, bytes written by the application and not yet acknowledged by
    /// the peer, sent or not (`write_seq - snd_una`).
    pub wqueue: u32,
    /// `INET_DIAG_INFO`, when the kernel sent one long enough to decode.
    pub info: Option<TcpInfo>,
}

/// Selected `struct tcp_info` fields. The `Option`s are `None` when the kernel's `tcp_info` is
/// too short to hold them (older kernels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// `tcpi_unacked`: segments sent and not acknowledged.
    pub unacked: u32,
    /// `tcpi_retransmits`: consecutive retransmission timeouts of the head segment.
    pub retransmits: u8,
    /// `tcpi_backoff`: exponential backoff of the retransmission timer.
    pub backoff: u8,
    /// `tcpi_rto`: the retransmission timeout, microseconds.
    pub rto_us: u32,
    /// `tcpi_last_data_sent`: milliseconds since data was last sent.
    pub last_data_sent_ms: u32,
    /// `tcpi_last_ack_recv`: milliseconds since an ACK was last received.
    pub last_ack_recv_ms: u32,
    /// `tcpi_bytes_acked` (Linux 4.1+): bytes acknowledged by the peer. On an accepted
    /// connection exactly the payload; a connecting socket's count also has the 1 of its SYN.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_sent` (Linux 4.19+): payload bytes sent, retransmissions included.
    pub bytes_sent: Option<u64>,
    /// `tcpi_notsent_bytes` (Linux 4.6+): bytes queued and not yet sent.
    pub notsent_bytes: Option<u32>,
}

/// What one receive buffer held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    pub conns: Vec<TcpConn>,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
}

/// A reply that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagError {
    /// The kernel answered `NLMSG_ERROR` (or a failed `NLMSG_DONE`) with this errno.
    #[error("kernel error {0} ({err})", err = std::io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
    #[error("truncated {what} at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("netlink message at byte {offset} has a bad length {len}")]
    BadLength { offset: usize, len: usize },
    #[error("unexpected netlink message type {kind} at byte {offset}")]
    UnexpectedType { kind: u16, offset: usize },
    #[error("unknown address family {family} at byte {offset}")]
    UnknownFamily { family: u8, offset: usize },
}

/// One `SOCK_DIAG_BY_FAMILY` dump request (`NLM_F_REQUEST | NLM_F_DUMP`) for `family`'s TCP
/// sockets in `states` (a bit per kernel TCP state, e.g. [`ESTABLISHED`]) whose `port` matches,
/// asking for `INET_DIAG_INFO`. The port is given twice, in the request's `id` (`idiag_sport`
/// or `idiag_dport`) and as an `INET_DIAG_BC_S_EQ` / `INET_DIAG_BC_D_EQ` program; either one
/// makes the kernel skip every other socket.
pub fn dump_request(family: Family, port: Port, states: u32, seq: u32) -> Vec<u8> {
    let number = port.number();
    let mut b = Vec::with_capacity(REQUEST_LEN);
    // struct nlmsghdr (the length is a small constant).
    b.extend_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: to the kernel
    // struct inet_diag_req_v2
    b.push(family.af());
    b.push(IPPROTO_TCP);
    b.push(1 << (INET_DIAG_INFO - 1)); // idiag_ext
    b.push(0); // pad
    b.extend_from_slice(&states.to_ne_bytes()); // idiag_states
    // struct inet_diag_sockid: sport (network order), then dport, src, dst, if, cookie = 0.
    debug_assert_eq!(b.len(), NLMSG_HDRLEN + REQ_V2_ID);
    let (code, sport, dport) = match port {
        Port::Local(p) => (INET_DIAG_BC_S_EQ, p, 0),
        Port::Remote(p) => (INET_DIAG_BC_D_EQ, 0, p),
    };
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.resize(NLMSG_HDRLEN + REQ_V2_LEN, 0);
    // struct rtattr INET_DIAG_REQ_BYTECODE
    b.extend_from_slice(&(BYTECODE_ATTR_LEN as u16).to_ne_bytes());
    b.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    // The program (inet_diag_bc_audit: `yes` and `no` at least the op's length including its
    // port op, multiples of 4, at most len + 4). A match jumps `yes` = 8 to the end (accept);
    // a mismatch jumps `no` = len + 4 past it (reject).
    b.push(code);
    b.push(BYTECODE_LEN as u8);
    b.extend_from_slice(&((BYTECODE_LEN + 4) as u16).to_ne_bytes());
    // The port op: only its `no` is read, the port in host order.
    b.push(0);
    b.push(0);
    b.extend_from_slice(&number.to_ne_bytes());
    debug_assert_eq!(b.len(), REQUEST_LEN);
    b
}

/// Decodes every netlink message of one receive buffer.
pub fn parse_dump(buf: &[u8]) -> Result<Dump, DiagError> {
    parse(buf, None)
}

/// [`parse_dump`], skipping every message whose `nlmsg_seq` is not `seq` (what is left of an
/// earlier, abandoned dump on the same socket).
pub fn parse_dump_seq(buf: &[u8], seq: u32) -> Result<Dump, DiagError> {
    parse(buf, Some(seq))
}

fn parse(buf: &[u8], seq: Option<u32>) -> Result<Dump, DiagError> {
    let mut dump = Dump::default();
    let mut offset = 0usize;
    while offset < buf.len() {
        let start = offset;
        let truncated = move |what| DiagError::Truncated {
            what,
            offset: start,
        };
        let rest = buf.get(offset..).ok_or(truncated("nlmsghdr"))?;
        let len = read_u32(rest, 0).ok_or(truncated("nlmsghdr"))? as usize;
        let kind = read_u16(rest, 4).ok_or(truncated("nlmsghdr"))?;
        let msg_seq = read_u32(rest, 8).ok_or(truncated("nlmsghdr"))?;
        if len < NLMSG_HDRLEN {
            return Err(DiagError::BadLength { offset, len });
        }
        let payload = rest
            .get(NLMSG_HDRLEN..len)
            .ok_or(truncated("netlink message"))?;
        let payload_offset = start + NLMSG_HDRLEN;
        offset = start.saturating_add(align4(len));
        if seq.is_some_and(|s| s != msg_seq) {
            continue;
        }
        match kind {
            SOCK_DIAG_BY_FAMILY => dump.conns.push(parse_diag_msg(payload, payload_offset)?),
            NLMSG_DONE => {
                // A dump that failed midway ends with a negative errno here.
                if let Some(err) = read_i32(payload, 0).filter(|e| *e < 0) {
                    return Err(DiagError::Kernel(err.saturating_neg()));
                }
                dump.done = true;
                break;
            }
            NLMSG_ERROR => {
                let err = read_i32(payload, 0).ok_or(DiagError::Truncated {
                    what: "nlmsgerr",
                    offset: payload_offset,
                })?;
                if err != 0 {
                    return Err(DiagError::Kernel(err.saturating_abs()));
                }
                // 0 is an acknowledgement: nothing to report.
            }
            NLMSG_NOOP => {}
            kind => {
                return Err(DiagError::UnexpectedType {
                    kind,
                    offset: start,
                });
            }
        }
    }
    Ok(dump)
}

/// `struct inet_diag_msg` and its rtattrs; `at` is the payload's offset in the buffer.
fn parse_diag_msg(msg: &[u8], at: usize) -> Result<TcpConn, DiagError> {
    let truncated = |what, offset: usize| DiagError::Truncated {
        what,
        offset: at + offset,
    };
    let head = msg
        .get(..DIAG_MSG_LEN)
        .ok_or(truncated("inet_diag_msg", 0))?;
    let family = read_u8(head, 0).ok_or(truncated("inet_diag_msg", 0))?;
    let state = read_u8(head, 1).ok_or(truncated("inet_diag_msg", 1))?;
    let id = DIAG_MSG_ID;
    let sport = read_be16(head, id + SOCKID_SPORT).ok_or(truncated("sockid", id))?;
    let dport = read_be16(head, id + SOCKID_DPORT).ok_or(truncated("sockid", id))?;
    let src = read_addr(head, id + SOCKID_SRC, family, at)?;
    let dst = read_addr(head, id + SOCKID_DST, family, at)?;
    let wqueue =
        read_u32(head, DIAG_MSG_WQUEUE).ok_or(truncated("inet_diag_msg", DIAG_MSG_WQUEUE))?;

    let mut info = None;
    let mut offset = DIAG_MSG_LEN;
    while offset < msg.len() {
        let rta_len = read_u16(msg, offset).ok_or(truncated("rtattr", offset))? as usize;
        let rta_type = read_u16(msg, offset + 2).ok_or(truncated("rtattr", offset))?;
        if rta_len < RTA_HDRLEN {
            return Err(DiagError::BadLength {
                offset: at + offset,
                len: rta_len,
            });
        }
        let data = msg
            .get(offset + RTA_HDRLEN..offset + rta_len)
            .ok_or(truncated("rtattr", offset))?;
        if rta_type & NLA_TYPE_MASK == INET_DIAG_INFO {
            info = TcpInfo::decode(data);
        }
        offset = offset.saturating_add(align4(rta_len));
    }
    Ok(TcpConn {
        local: SocketAddr::new(src, sport),
        remote: SocketAddr::new(dst, dport),
        state,
        wqueue,
        info,
    })
}

impl TcpInfo {
    /// The fields present in `raw` (a kernel `struct tcp_info`), `None` if it is too short for
    /// the base fields.
    fn decode(raw: &[u8]) -> Option<TcpInfo> {
        if raw.len() < TCPI_MIN_LEN {
            return None;
        }
        Some(TcpInfo {
            unacked: read_u32(raw, TCPI_UNACKED)?,
            retransmits: read_u8(raw, TCPI_RETRANSMITS)?,
            backoff: read_u8(raw, TCPI_BACKOFF)?,
            rto_us: read_u32(raw, TCPI_RTO)?,
            last_data_sent_ms: read_u32(raw, TCPI_LAST_DATA_SENT)?,
            last_ack_recv_ms: read_u32(raw, TCPI_LAST_ACK_RECV)?,
            bytes_acked: read_u64(raw, TCPI_BYTES_ACKED),
            bytes_sent: read_u64(raw, TCPI_BYTES_SENT),
            notsent_bytes: read_u32(raw, TCPI_NOTSENT_BYTES),
        })
    }
}

/// A sockid address (`idiag_src`/`idiag_dst`, 16 bytes, network order) of `family`.
fn read_addr(head: &[u8], offset: usize, family: u8, at: usize) -> Result<IpAddr, DiagError> {
    let truncated = DiagError::Truncated {
        what: "sockid address",
        offset: at + offset,
    };
    match family {
        AF_INET => {
            let octets: [u8; 4] = read_array(head, offset).ok_or(truncated)?;
            Ok(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = read_array(head, offset).ok_or(truncated)?;
            Ok(IpAddr::V6(Ipv6Addr::from(octets)).to_canonical())
        }
        family => Err(DiagError::UnknownFamily { family, offset: at }),
    }
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn read_array<const N: usize>(buf: &[u8], offset: usize) -> Option<[u8; N]> {
    buf.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

fn read_u8(buf: &[u8], offset: usize) -> Option<u8> {
    buf.get(offset).copied()
}

fn read_u16(buf: &[u8], offset: usize) -> Option<u16> {
    read_array(buf, offset).map(u16::from_ne_bytes)
}

fn read_be16(buf: &[u8], offset: usize) -> Option<u16> {
    read_array(buf, offset).map(u16::from_be_bytes)
}

fn read_u32(buf: &[u8], offset: usize) -> Option<u32> {
    read_array(buf, offset).map(u32::from_ne_bytes)
}

fn read_i32(buf: &[u8], offset: usize) -> Option<i32> {
    read_array(buf, offset).map(i32::from_ne_bytes)
}

fn read_u64(buf: &[u8], offset: usize) -> Option<u64> {
    read_array(buf, offset).map(u64::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SEQ: u32 = 0x0102_0304;

    fn u16_at(b: &[u8], o: usize) -> u16 {
        read_u16(b, o).unwrap()
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        read_u32(b, o).unwrap()
    }

    #[test]
    fn request_layout() {
        let b = dump_request(Family::V4, Port::Local(6641), ESTABLISHED, SEQ);
        assert_eq!(b.len(), 84);
        assert_eq!(REQUEST_LEN, 84);
        // nlmsghdr
        assert_eq!(u32_at(&b, 0), 84);
        assert_eq!(u16_at(&b, 4), 20);
        assert_eq!(u16_at(&b, 6), 0x0301);
        assert_eq!(u32_at(&b, 8), SEQ);
        assert_eq!(u32_at(&b, 12), 0);
        // inet_diag_req_v2
        assert_eq!(&b[16..20], &[2, 6, 0b10, 0]);
        assert_eq!(u32_at(&b, 20), 0b10);
        assert_eq!(&b[24..26], &6641u16.to_be_bytes()); // id.idiag_sport
        assert!(b[26..72].iter().all(|&x| x == 0)); // dport, src, dst, if, cookie
        // rtattr INET_DIAG_REQ_BYTECODE
        assert_eq!(u16_at(&b, 72), 12);
        assert_eq!(u16_at(&b, 74), 1);
        // {S_EQ, yes 8, no 12}, {0, 0, port in host order}
        assert_eq!(&b[76..78], &[11, 8]);
        assert_eq!(u16_at(&b, 78), 12);
        assert_eq!(&b[80..82], &[0, 0]);
        assert_eq!(u16_at(&b, 82), 6641);

        let v6 = dump_request(Family::V6, Port::Local(0xabcd), ESTABLISHED, 7);
        assert_eq!(v6[16], 10);
        assert_eq!(&v6[24..26], &[0xab, 0xcd]);
        assert_eq!(u16_at(&v6, 82), 0xabcd);
        assert_eq!(u32_at(&v6, 8), 7);
    }

    #[test]
    fn a_remote_port_request_selects_the_destination_port_and_its_states() {
        let b = dump_request(
            Family::V4,
            Port::Remote(6643),
            ESTABLISHED_OR_CONNECTING,
            SEQ,
        );
        assert_eq!(b.len(), REQUEST_LEN);
        assert_eq!(u32_at(&b, 20), 0b110, "ESTABLISHED and SYN_SENT");
        assert_eq!(&b[24..26], &[0, 0]); // id.idiag_sport
        assert_eq!(&b[26..28], &6643u16.to_be_bytes()); // id.idiag_dport
        assert!(b[28..72].iter().all(|&x| x == 0));
        assert_eq!(&b[76..78], &[INET_DIAG_BC_D_EQ, 8]);
        assert_eq!(u16_at(&b, 78), 12);
        assert_eq!(u16_at(&b, 82), 6643);
    }

    /// The bytecode passes the kernel's `inet_diag_bc_audit` rules and `inet_diag_bc_run`
    /// accepts exactly the port, replayed here.
    #[test]
    fn bytecode_audits_and_runs() {
        let b = dump_request(Family::V4, Port::Local(6642), ESTABLISHED, 1);
        let bc = &b[76..84];
        let len = bc.len() as i32;
        let (code, yes, no) = (bc[0], i32::from(bc[1]), i32::from(u16_at(bc, 2)));
        assert_eq!(code, INET_DIAG_BC_S_EQ);
        let min_len = 8; // the op and its port op
        assert!(yes >= min_len && yes <= len + 4 && yes % 4 == 0);
        assert!(no >= min_len && no <= len + 4 && no % 4 == 0);
        assert!(
            no >= len,
            "no jump into the program, so valid_cc is not needed"
        );
        assert_eq!(len - yes, 0, "the audit walks exactly to the end");
        let run = |sport: u16| {
            let left = if sport == u16_at(bc, 6) {
                len - yes
            } else {
                len - no
            };
            left == 0
        };
        assert!(run(6642));
        assert!(!run(6641));
        assert!(!run(0));
    }

    fn nlmsg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&4242u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(align4(m.len()), 0);
        m
    }

    fn rtattr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((RTA_HDRLEN + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        a.resize(align4(a.len()), 0);
        a
    }

    fn tcp_info(len: usize) -> Vec<u8> {
        let mut t = vec![0u8; len];
        let mut put = |o: usize, v: &[u8]| {
            if let Some(dst) = t.get_mut(o..o + v.len()) {
                dst.copy_from_slice(v);
            }
        };
        put(0, &[TCP_ESTABLISHED]);
        put(TCPI_RETRANSMITS, &[3]);
        put(TCPI_BACKOFF, &[2]);
        put(TCPI_RTO, &204_000u32.to_ne_bytes());
        put(TCPI_UNACKED, &5u32.to_ne_bytes());
        put(TCPI_LAST_DATA_SENT, &40u32.to_ne_bytes());
        put(TCPI_LAST_ACK_RECV, &90u32.to_ne_bytes());
        put(TCPI_BYTES_ACKED, &1001u64.to_ne_bytes());
        put(TCPI_NOTSENT_BYTES, &77u32.to_ne_bytes());
        put(TCPI_BYTES_SENT, &1500u64.to_ne_bytes());
        t
    }

    fn diag_msg(
        family: u8,
        src: &[u8],
        sport: u16,
        dst: &[u8],
        dport: u16,
        attrs: &[u8],
    ) -> Vec<u8> {
        let mut m = vec![family, TCP_ESTABLISHED, 1, 0];
        let mut id = [0u8; 48];
        id[0..2].copy_from_slice(&sport.to_be_bytes());
        id[2..4].copy_from_slice(&dport.to_be_bytes());
        id[4..4 + src.len()].copy_from_slice(src);
        id[20..20 + dst.len()].copy_from_slice(dst);
        m.extend_from_slice(&id);
        m.extend_from_slice(&[0u8; 8]); // expires, rqueue
        m.extend_from_slice(&u32::from(dport % 7).to_ne_bytes()); // wqueue
        m.extend_from_slice(&[0u8; 8]); // uid, inode
        assert_eq!(m.len(), DIAG_MSG_LEN);
        m.extend_from_slice(attrs);
        m
    }

    fn mapped(v4: [u8; 4]) -> [u8; 16] {
        Ipv4Addr::from(v4).to_ipv6_mapped().octets()
    }

    fn two_sockets_reply(seq: u32) -> Vec<u8> {
        let mut attrs = rtattr(14, &[0; 4]); // INET_DIAG_PAD, skipped
        attrs.extend(rtattr(INET_DIAG_INFO, &tcp_info(232)));
        let v4 = diag_msg(AF_INET, &[10, 0, 0, 1], 6641, &[10, 0, 0, 2], 40000, &attrs);
        let v6 = diag_msg(
            AF_INET6,
            &mapped([10, 0, 0, 1]),
            6641,
            &mapped([10, 0, 0, 3]),
            40001,
            &rtattr(INET_DIAG_INFO, &tcp_info(104)),
        );
        let mut buf = nlmsg(SOCK_DIAG_BY_FAMILY, seq, &v4);
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, seq, &v6));
        buf
    }

    #[test]
    fn decodes_v4_and_mapped_v6() {
        let mut buf = two_sockets_reply(SEQ);
        buf.extend(nlmsg(NLMSG_DONE, SEQ, &0i32.to_ne_bytes()));
        let dump = parse_dump(&buf).unwrap();
        assert!(dump.done);
        let full = TcpInfo {
            unacked: 5,
            retransmits: 3,
            backoff: 2,
            rto_us: 204_000,
            last_data_sent_ms: 40,
            last_ack_recv_ms: 90,
            bytes_acked: Some(1001),
            bytes_sent: Some(1500),
            notsent_bytes: Some(77),
        };
        let short = TcpInfo {
            bytes_acked: None,
            bytes_sent: None,
            notsent_bytes: None,
            ..full
        };
        assert_eq!(
            dump.conns,
            vec![
                TcpConn {
                    local: "10.0.0.1:6641".parse().unwrap(),
                    remote: "10.0.0.2:40000".parse().unwrap(),
                    state: TCP_ESTABLISHED,
                    wqueue: 40000 % 7,
                    info: Some(full),
                },
                TcpConn {
                    local: "10.0.0.1:6641".parse().unwrap(),
                    remote: "10.0.0.3:40001".parse().unwrap(),
                    state: TCP_ESTABLISHED,
                    wqueue: 40001 % 7,
                    info: Some(short),
                },
            ]
        );
    }

    #[test]
    fn tcp_info_lengths() {
        assert_eq!(TcpInfo::decode(&tcp_info(59)), None);
        let base = TcpInfo::decode(&tcp_info(60)).unwrap();
        assert_eq!((base.unacked, base.last_ack_recv_ms), (5, 90));
        assert_eq!(base.bytes_acked, None);
        let at = |len| TcpInfo::decode(&tcp_info(len)).unwrap();
        assert_eq!(at(127).bytes_acked, None);
        assert_eq!(at(128).bytes_acked, Some(1001));
        assert_eq!(at(147).notsent_bytes, None);
        assert_eq!(at(148).notsent_bytes, Some(77));
        assert_eq!(at(207).bytes_sent, None);
        assert_eq!(at(208).bytes_sent, Some(1500));
        // A too-short INET_DIAG_INFO leaves the connection without info.
        let msg = diag_msg(
            AF_INET,
            &[1, 2, 3, 4],
            1,
            &[5, 6, 7, 8],
            2,
            &rtattr(2, &[0; 8]),
        );
        let dump = parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &msg)).unwrap();
        assert_eq!(dump.conns.len(), 1);
        assert_eq!(dump.conns[0].info, None);
        assert!(!dump.done);
    }

    #[test]
    fn native_ipv6_and_no_info() {
        let src = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        let dst = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        let msg = diag_msg(AF_INET6, &src, 6642, &dst, 5555, &[]);
        let dump = parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &msg)).unwrap();
        assert_eq!(dump.conns[0].local, "[fd00::1]:6642".parse().unwrap());
        assert_eq!(dump.conns[0].remote, "[fd00::2]:5555".parse().unwrap());
        assert_eq!(dump.conns[0].info, None);
    }

    #[test]
    fn done_error_and_seq() {
        let done = nlmsg(NLMSG_DONE, SEQ, &0i32.to_ne_bytes());
        assert_eq!(
            parse_dump(&done).unwrap(),
            Dump {
                conns: vec![],
                done: true
            }
        );
        // An old kernel's empty NLMSG_DONE.
        assert!(parse_dump(&nlmsg(NLMSG_DONE, SEQ, &[])).unwrap().done);
        // A dump that failed midway.
        let failed = nlmsg(NLMSG_DONE, SEQ, &(-105i32).to_ne_bytes());
        assert_eq!(parse_dump(&failed), Err(DiagError::Kernel(105)));

        // NLMSG_ERROR: errno, then the request's header.
        let mut err = (-22i32).to_ne_bytes().to_vec();
        err.extend_from_slice(&dump_request(Family::V4, Port::Local(1), ESTABLISHED, SEQ)[..16]);
        let error = nlmsg(NLMSG_ERROR, SEQ, &err);
        assert_eq!(parse_dump(&error), Err(DiagError::Kernel(22)));
        assert!(
            DiagError::Kernel(22)
                .to_string()
                .starts_with("kernel error 22 (")
        );
        let ack = nlmsg(NLMSG_ERROR, SEQ, &[0; 20]);
        assert_eq!(parse_dump(&ack).unwrap(), Dump::default());

        // Messages of another sequence number are skipped, the error included.
        let mut buf = two_sockets_reply(SEQ - 1);
        buf.extend(nlmsg(NLMSG_ERROR, SEQ - 1, &err));
        buf.extend(nlmsg(NLMSG_DONE, SEQ - 1, &0i32.to_ne_bytes()));
        assert_eq!(parse_dump_seq(&buf, SEQ).unwrap(), Dump::default());
        assert_eq!(parse_dump_seq(&buf, SEQ - 1), Err(DiagError::Kernel(22)));
        let mut buf = two_sockets_reply(SEQ);
        buf.extend(done.clone());
        assert_eq!(parse_dump_seq(&buf, SEQ).unwrap().conns.len(), 2);
        // Nothing after NLMSG_DONE is read.
        let mut buf = done;
        buf.extend(error);
        assert!(parse_dump(&buf).unwrap().done);
        // NOOP is skipped, other control types are errors.
        assert_eq!(
            parse_dump(&nlmsg(NLMSG_NOOP, 1, &[])).unwrap(),
            Dump::default()
        );
        assert_eq!(
            parse_dump(&nlmsg(4, 1, &[])),
            Err(DiagError::UnexpectedType { kind: 4, offset: 0 })
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let mut whole = two_sockets_reply(SEQ);
        whole.extend(nlmsg(NLMSG_DONE, SEQ, &0i32.to_ne_bytes()));
        // Every prefix: an error, or (cut exactly between messages) fewer sockets and no DONE.
        for cut in 0..whole.len() {
            match parse_dump(&whole[..cut]) {
                Ok(d) => {
                    assert!(!d.done, "cut {cut}");
                    assert!(d.conns.len() <= 2, "cut {cut}");
                }
                Err(DiagError::Truncated { .. }) => {}
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
        assert!(parse_dump(&[]).unwrap().conns.is_empty());
        assert!(matches!(
            parse_dump(&[1, 2, 3]),
            Err(DiagError::Truncated {
                what: "nlmsghdr",
                offset: 0
            })
        ));
        // A header claiming less than itself, or more than the buffer.
        let mut bad = nlmsg(NLMSG_DONE, 1, &[0; 4]);
        bad[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(
            parse_dump(&bad),
            Err(DiagError::BadLength { offset: 0, len: 8 })
        );
        bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(parse_dump(&bad), Err(DiagError::Truncated { .. })));
        // An inet_diag_msg too short, an unknown family, a zero-length rtattr, an rtattr
        // running past its message.
        let short = nlmsg(SOCK_DIAG_BY_FAMILY, 1, &[2; 40]);
        assert!(matches!(
            parse_dump(&short),
            Err(DiagError::Truncated {
                what: "inet_diag_msg",
                offset: 16
            })
        ));
        let unknown = nlmsg(SOCK_DIAG_BY_FAMILY, 1, &diag_msg(7, &[], 1, &[], 2, &[]));
        assert_eq!(
            parse_dump(&unknown),
            Err(DiagError::UnknownFamily {
                family: 7,
                offset: 16
            })
        );
        let zero = diag_msg(AF_INET, &[1; 4], 1, &[2; 4], 2, &[0, 0, 2, 0]);
        assert_eq!(
            parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &zero)),
            Err(DiagError::BadLength {
                offset: 16 + 72,
                len: 0
            })
        );
        let mut long = diag_msg(AF_INET, &[1; 4], 1, &[2; 4], 2, &rtattr(2, &[0; 8]));
        long[72..74].copy_from_slice(&200u16.to_ne_bytes());
        assert!(matches!(
            parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &long)),
            Err(DiagError::Truncated { what: "rtattr", .. })
        ));
        let mut odd = diag_msg(AF_INET, &[1; 4], 1, &[2; 4], 2, &[]);
        odd.extend_from_slice(&[4, 0]);
        assert!(matches!(
            parse_dump(&nlmsg(SOCK_DIAG_BY_FAMILY, 1, &odd)),
            Err(DiagError::Truncated { what: "rtattr", .. })
        ));
        // NLMSG_ERROR without its errno.
        assert!(matches!(
            parse_dump(&nlmsg(NLMSG_ERROR, 1, &[])),
            Err(DiagError::Truncated {
                what: "nlmsgerr",
                ..
            })
        ));
    }
}
