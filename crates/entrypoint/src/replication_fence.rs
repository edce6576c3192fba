//! The replication fence — the pure part: when may the active copy keep acknowledging writes?
//!
//! OVSDB active-backup replication is asynchronous: the active acknowledges a write before any
//! replica has it. When the active is cut off one way — it still reaches clients and its
//! replicas, but nothing from the replicas reaches it — it keeps acknowledging writes for the
//! second or two corosync needs to notice, while the replicas already stopped receiving
//! (their TCP acknowledgements are lost, so the active's send window closes). The survivors
//! then promote a copy without those writes.
//!
//! The active can see this coming in its own kernel: every replica's connection to the VIP has
//! bytes in flight that nobody acknowledges. When that holds for all replica connections of a
//! database for [`STALL_LIMIT`], the active stops taking writes for that database (the I/O
//! side closes its listeners and client sessions) — within a window its replicas still
//! received, so nothing it acknowledged is lost. A real partition costs this node its quorum
//! within about 1.3 s and Pacemaker stops the copy; if the node still serves after
//! [`MAX_FENCE`], the stall was something else (a slow replica) and the listeners come back.
//!
//! Limit: a fault that drops only the active's *outgoing* packets loses the writes
//! acknowledged during [`STALL_LIMIT`] (they never left the host).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// How long every replica connection must have unacknowledged bytes before the fence closes.
/// Above a healthy ACK delay (delayed ACKs wait at most 40 ms) and below TCP's minimum
/// retransmission timeout (200 ms): once that fires unanswered, the active's kernel stops
/// sending new data to the replica, so every write acknowledged before the fence closes has
/// already reached the replicas. (Measured with a 300 ms limit: writes acknowledged from
/// 0.27 s after the fault on were lost.)
pub const STALL_LIMIT: Duration = Duration::from_millis(80);
/// Longest a fence stays closed while this node keeps serving.
pub const MAX_FENCE: Duration = Duration::from_secs(3);
/// After a fence opens again, how long before it may close again (no flapping).
pub const COOLDOWN: Duration = Duration::from_secs(10);

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Connection state (1 = ESTABLISHED).
    pub state: u8,
    /// Bytes sent and not yet acknowledged by the peer.
    pub tx_queue: u32,
}

const ESTABLISHED: u8 = 1;

fn hex_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.swap_bytes(),
        )),
        32 => {
            // Four 32-bit words, each in host (little-endian) order.
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses `/proc/net/tcp` or `/proc/net/tcp6` text (the header and malformed rows are
/// skipped). IPv4-mapped IPv6 addresses are returned as IPv4.
pub fn parse_proc_net_tcp(text: &str) -> Vec<TcpRow> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _slot = f.next()?;
            let local = hex_addr(f.next()?)?;
            let remote = hex_addr(f.next()?)?;
            let state = u8::from_str_radix(f.next()?, 16).ok()?;
            let tx = f.next()?.split_once(':')?.0;
            let tx_queue = u32::from_str_radix(tx, 16).ok()?;
            let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
            Some(TcpRow {
                local: canon(local),
                remote: canon(remote),
                state,
                tx_queue,
            })
        })
        .collect()
}

/// The replica connections of one database: established, to `vip:port`, from a peer.
pub fn replica_connections<'a>(
    rows: &'a [TcpRow],
    vip: IpAddr,
    port: u16,
    peers: &'a [IpAddr],
) -> impl Iterator<Item = &'a TcpRow> + 'a {
    rows.iter().filter(move |r| {
        r.state == ESTABLISHED
            && r.local.ip() == vip
            && r.local.port() == port
            && peers.contains(&r.remote.ip())
    })
}

/// What the I/O side must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Stop taking writes (why).
    Close(String),
    /// Take writes again (why).
    Open(String),
}

/// The fence of one database.
#[derive(Debug, Default)]
pub struct Fence {
    stalled_since: BTreeMap<SocketAddr, Instant>,
    closed_at: Option<Instant>,
    opened_at: Option<Instant>,
}

impl Fence {
    /// Whether the fence is closed.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Feeds the replica connections seen at `now` (remote address, unacknowledged bytes).
    pub fn step(&mut self, now: Instant, replicas: &[(SocketAddr, u32)]) -> Option<Change> {
        self.stalled_since
            .retain(|remote, _| replicas.iter().any(|(r, q)| r == remote && *q > 0));
        for (remote, queued) in replicas {
            if *queued > 0 {
                self.stalled_since.entry(*remote).or_insert(now);
            }
        }
        if let Some(closed) = self.closed_at {
            if now.duration_since(closed) >= MAX_FENCE {
                self.closed_at = None;
                self.opened_at = Some(now);
                self.stalled_since.clear();
                return Some(Change::Open(format!(
                    "{MAX_FENCE:?} since closing; a partition would have cost this node its quorum by now"
                )));
            }
            return None;
        }
        let cooling = self
            .opened_at
            .is_some_and(|o| now.duration_since(o) < COOLDOWN);
        let all_stalled = !replicas.is_empty()
            && replicas.iter().all(|(remote, _)| {
                self.stalled_since
                    .get(remote)
                    .is_some_and(|t| now.duration_since(*t) >= STALL_LIMIT)
            });
        if all_stalled && !cooling {
            self.closed_at = Some(now);
            return Some(Change::Close(format!(
                "no replica acknowledged its stream for {STALL_LIMIT:?} ({})",
                replicas
                    .iter()
                    .map(|(r, q)| format!("{r}: {q} bytes in flight"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE_V4: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 641312C6:19F9 0D1312C6:A2C4 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1
   1: 641312C6:19F9 0C1312C6:B0B0 01 000001A0:00000000 01:00000014 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 641312C6:19FA 0C1312C6:B0B1 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 00000000:19F9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   4: 641312C6:19F9 011312C6:C000 01 00000050:00000000 01:00000014 00000000     0        0 5 1 0 20 4 30 10 -1
";

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_rows() {
        let rows = parse_proc_net_tcp(SAMPLE_V4);
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[1],
            TcpRow {
                local: sa("198.18.19.100:6649"),
                remote: sa("198.18.19.12:45232"),
                state: 1,
                tx_queue: 0x1a0,
            }
        );
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue\n\
   0: 0000000000000000FFFF0000641312C6:19F9 0000000000000000FFFF00000D1312C6:A2C4 01 00000010:00000000 00:00000000 00000000\n\
   1: B80D0120000000000000000001000000:19F9 B80D0120000000000000000002000000:A2C4 01 00000000:00000000 00:00000000 00000000\n";
        let rows = parse_proc_net_tcp(v6);
        assert_eq!(rows[0].local, sa("198.18.19.100:6649"));
        assert_eq!(rows[0].remote, sa("198.18.19.13:41668"));
        assert_eq!(rows[0].tx_queue, 16);
        assert_eq!(rows[1].local, sa("[2001:db8::1]:6649"));
        assert_eq!(rows[1].remote, sa("[2001:db8::2]:41668"));
        assert!(parse_proc_net_tcp("garbage\n1: zz").is_empty());
    }

    #[test]
    fn picks_replica_connections() {
        let rows = parse_proc_net_tcp(SAMPLE_V4);
        let peers: Vec<IpAddr> = vec![
            "198.18.19.12".parse().unwrap(),
            "198.18.19.13".parse().unwrap(),
        ];
        let vip: IpAddr = "198.18.19.100".parse().unwrap();
        let got: Vec<SocketAddr> = replica_connections(&rows, vip, 6649, &peers)
            .map(|r| r.remote)
            .collect();
        // Not the listener, not the other port, not the client 198.18.19.1.
        assert_eq!(
            got,
            vec![sa("198.18.19.13:41668"), sa("198.18.19.12:45232")]
        );
    }

    #[test]
    fn closes_only_when_every_replica_stalls_long_enough_and_reopens() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let (a, b) = (sa("198.18.19.12:1000"), sa("198.18.19.13:1000"));
        let mut f = Fence::default();
        // Nothing to judge without replicas.
        assert_eq!(f.step(ms(0), &[]), None);
        // One replica keeps up: never closes.
        for n in 0..20 {
            assert_eq!(f.step(ms(n * 50), &[(a, 100), (b, 0)]), None);
        }
        // Short stalls (delayed ACKs) do not close.
        let mut f = Fence::default();
        assert_eq!(f.step(ms(0), &[(a, 100), (b, 100)]), None);
        assert_eq!(f.step(ms(40), &[(a, 0), (b, 0)]), None);
        assert_eq!(f.step(ms(100), &[(a, 100), (b, 100)]), None);
        assert_eq!(f.step(ms(160), &[(a, 100), (b, 100)]), None);
        // Both stalled for the limit: close.
        assert!(matches!(
            f.step(ms(400), &[(a, 200), (b, 200)]),
            Some(Change::Close(_))
        ));
        assert!(f.is_closed());
        // Closed: the sessions are gone; stays closed until MAX_FENCE.
        assert_eq!(f.step(ms(2000), &[]), None);
        assert!(matches!(f.step(ms(3400), &[]), Some(Change::Open(_))));
        assert!(!f.is_closed());
        // Cooling down: a new stall does not close at once.
        assert_eq!(f.step(ms(3500), &[(a, 1)]), None);
        assert_eq!(f.step(ms(4000), &[(a, 1)]), None);
        // After the cooldown it may.
        assert!(matches!(
            f.step(ms(13_500), &[(a, 1)]),
            Some(Change::Close(_))
        ));
    }
}
