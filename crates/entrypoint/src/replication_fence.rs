//! The replication fence — the pure part: when may the active copy keep acknowledging writes?
//!
//! OVSDB active-backup replication is asynchronous: the active acknowledges a write before any
//! replica has it. When the active is cut off — wholly, or one way so that nothing from the
//! replicas reaches it — it keeps acknowledging writes for the second or two corosync needs to
//! notice, while the replicas already stopped receiving or confirming. The survivors then
//! promote a copy without those writes.
//!
//! The active can see this coming in its own kernel. Its replicas connect to a port of their
//! own (the replication port: no client connects there), so every established connection from
//! that port is a replica, exactly. Each is judged by acknowledgement *progress* (the kernel's
//! `tcp_info`: bytes acknowledged, segments unacknowledged): a replica is stalled while it has
//! segments in flight and its acknowledged byte count has not moved. When every replica of a
//! database has been stalled for [`STALL_LIMIT`], the active stops taking writes for that
//! database (the I/O side closes its client listeners and sessions, never the replication
//! listener) — within a window its replicas still received, so nothing it acknowledged is lost
//! in a one-way partition. The fence opens again as soon as a replica acknowledges again (the
//! stall is over, and the replica holds everything acknowledged so far), or after
//! [`MAX_FENCE`]: a real partition costs this node its quorum well within it, so if the node
//! still serves then, the stall was something else (a slow replica), and it does not close
//! again for [`COOLDOWN`].
//!
//! Why progress and not a non-empty send queue: a healthy stream with steady small writes
//! nearly always has a few bytes in flight (the receiver delays its ACKs by up to 40 ms on a
//! LAN), so "unacknowledged bytes on every sample" tripped with two light writers and no fault
//! at all. A replica whose receive window is full (busy loading a large update) acknowledges
//! everything sent, so it has no segments in flight and is not stalled either.
//!
//! On a path whose acknowledgements are slow but arrive (a congested link into the active),
//! the limit grows to half the connection's retransmission timeout, which the kernel derives
//! from the RTT it measures: still before the kernel stops sending, and no flapping.
//!
//! Limits: an idle database (nothing in flight) is never judged, which is harmless because it
//! acknowledges nothing; a fault that drops only the active's *outgoing* packets loses the
//! writes acknowledged during [`STALL_LIMIT`] (they never left the host), and so does a whole
//! link cut for a client on the active's own host.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long every replica must go without acknowledging progress, with segments in flight,
/// before the fence closes. Above a healthy ACK delay (the receiver's delayed ACK is bounded
/// by its RTT estimate, at least 40 ms, on a LAN) with margin for a loaded host, and below
/// TCP's minimum retransmission timeout (200 ms): once that fires unanswered, the active's
/// kernel stops sending new data, so every write acknowledged before the fence closes has
/// already reached the replicas of a one-way partition.
pub const STALL_LIMIT: Duration = Duration::from_millis(100);
/// Longest a fence stays closed while no replica acknowledges and this node keeps serving.
pub const MAX_FENCE: Duration = Duration::from_secs(3);
/// After a fence opened on [`MAX_FENCE`] (not on progress), how long before it may close again.
pub const COOLDOWN: Duration = Duration::from_secs(10);

/// One replica connection as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    /// The replica's address and port (the connection's identity on the replication port).
    pub remote: SocketAddr,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Bytes the replica has acknowledged since the connection opened.
    pub bytes_acked: u64,
    /// The connection's retransmission timeout (the kernel's RTT estimate plus variance).
    pub rto: Duration,
    /// Whether it lags (`replica_lag`: an unacknowledged byte older than its limit).
    pub lagging: bool,
}

impl Replica {
    /// How long this replica may go without acknowledging before it counts as stalled:
    /// [`STALL_LIMIT`], or half the connection's retransmission timeout on a path whose
    /// acknowledgements are slow (a congested link), which is still before the kernel would
    /// stop sending new data to it.
    pub fn stall_limit(&self) -> Duration {
        STALL_LIMIT.max(self.rto / 2)
    }
}

/// What the I/O side must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Stop taking writes (why).
    Close(String),
    /// Take writes again (why).
    Open(String),
}

/// What the fence remembers of one replica.
#[derive(Debug, Clone, Copy)]
struct Seen {
    bytes_acked: u64,
    /// Since when it has had segments in flight without progress.
    stalled_since: Option<Instant>,
    /// Whether it was caught up when last seen progressing (frozen during a stall: a replica
    /// that stops acknowledging soon lags too, and must still count).
    caught_up: bool,
}

/// The fence of one database.
#[derive(Debug, Default)]
pub struct Fence {
    seen: BTreeMap<SocketAddr, Seen>,
    closed_at: Option<Instant>,
    /// Acknowledged bytes per replica when the fence closed.
    acked_at_close: BTreeMap<SocketAddr, u64>,
    cooling_until: Option<Instant>,
}

impl Fence {
    /// Whether the fence is closed.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Feeds the replica connections seen at `now`.
    pub fn step(&mut self, now: Instant, replicas: &[Replica]) -> Option<Change> {
        self.track(now, replicas);
        if let Some(closed) = self.closed_at {
            let progressed = replicas.iter().find(|r| {
                self.acked_at_close
                    .get(&r.remote)
                    .is_some_and(|at| r.bytes_acked > *at)
            });
            if let Some(r) = progressed {
                self.open();
                return Some(Change::Open(format!(
                    "replica {} acknowledges again",
                    r.remote
                )));
            }
            if now.duration_since(closed) >= MAX_FENCE {
                self.open();
                self.cooling_until = Some(now + COOLDOWN);
                return Some(Change::Open(format!(
                    "{MAX_FENCE:?} since closing; a partition would have cost this node its quorum by now"
                )));
            }
            return None;
        }
        let cooling = self.cooling_until.is_some_and(|until| now < until);
        // The replicas that hold what this copy acknowledged: the caught-up ones (a lagging
        // replica lacks recent writes anyway, and is not promoted first), or all of them when
        // none is caught up.
        let caught_up = |r: &&Replica| self.seen.get(&r.remote).is_some_and(|s| s.caught_up);
        let mut judged: Vec<&Replica> = replicas.iter().filter(caught_up).collect();
        if judged.is_empty() {
            judged = replicas.iter().collect();
        }
        let all_stalled = !judged.is_empty()
            && judged.iter().all(|r| {
                self.seen
                    .get(&r.remote)
                    .and_then(|s| s.stalled_since)
                    .is_some_and(|t| now.duration_since(t) >= r.stall_limit())
            });
        if !all_stalled || cooling {
            return None;
        }
        self.closed_at = Some(now);
        self.acked_at_close = replicas.iter().map(|r| (r.remote, r.bytes_acked)).collect();
        Some(Change::Close(format!(
            "no replica acknowledged its stream in time ({})",
            replicas
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} segments in flight, limit {:?}",
                        r.remote,
                        r.unacked,
                        r.stall_limit()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn open(&mut self) {
        self.closed_at = None;
        self.acked_at_close.clear();
        for s in self.seen.values_mut() {
            s.stalled_since = None;
        }
    }

    /// Updates each replica's stall start; forgets connections that are gone.
    fn track(&mut self, now: Instant, replicas: &[Replica]) {
        self.seen
            .retain(|remote, _| replicas.iter().any(|r| r.remote == *remote));
        for r in replicas {
            let stalled = r.unacked > 0;
            let seen = self.seen.entry(r.remote).or_insert(Seen {
                bytes_acked: r.bytes_acked,
                stalled_since: None,
                caught_up: !r.lagging,
            });
            if !stalled || r.bytes_acked != seen.bytes_acked {
                seen.stalled_since = None;
                seen.caught_up = !r.lagging;
            }
            if stalled {
                seen.stalled_since.get_or_insert(now);
            }
            seen.bytes_acked = r.bytes_acked;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn rep(remote: &str, unacked: u32, bytes_acked: u64) -> Replica {
        Replica {
            remote: sa(remote),
            unacked,
            bytes_acked,
            rto: Duration::from_millis(200),
            lagging: false,
        }
    }

    /// One replica lags (throttled) and its path's RTO has grown with its queue; the other is
    /// caught up. When both stop acknowledging (the active is cut off), the caught-up one's
    /// stall alone closes the fence: the lagging one would not be promoted first and lacks the
    /// recent writes anyway. Its lag flag turning on during the stall changes nothing.
    #[test]
    fn a_lagging_replica_does_not_hold_the_fence_open() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let slow = |acked| Replica {
            rto: Duration::from_secs(4),
            lagging: true,
            ..rep(B, 300, acked)
        };
        let fresh = |acked, lagging| Replica {
            lagging,
            ..rep(A, 2, acked)
        };
        let mut f = Fence::default();
        // Healthy: both progress.
        assert_eq!(f.step(ms(0), &[fresh(100, false), slow(10)]), None);
        assert_eq!(f.step(ms(20), &[fresh(200, false), slow(20)]), None);
        // Cut: nothing progresses; the fresh one's lag crosses its limit at 60 ms.
        assert_eq!(f.step(ms(40), &[fresh(200, false), slow(20)]), None);
        assert_eq!(f.step(ms(100), &[fresh(200, true), slow(20)]), None);
        assert!(matches!(
            f.step(ms(120), &[fresh(200, true), slow(20)]),
            Some(Change::Close(_))
        ));
        // Only lagging replicas: all of them are judged (the slow one's long limit holds).
        let mut f = Fence::default();
        assert_eq!(f.step(ms(0), &[slow(20)]), None);
        assert_eq!(f.step(ms(1_000), &[slow(20)]), None);
        assert!(matches!(
            f.step(ms(2_000), &[slow(20)]),
            Some(Change::Close(_))
        ));
    }

    /// A congested path (the kernel's RTO grew to 800 ms): a 300 ms wait for ACKs is normal
    /// there, so the limit is 400 ms.
    #[test]
    fn slow_paths_get_a_longer_limit() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let slow = |acked| Replica {
            rto: Duration::from_millis(800),
            ..rep(A, 2, acked)
        };
        // (Caught up: it is judged.)
        assert_eq!(slow(0).stall_limit(), Duration::from_millis(400));
        assert_eq!(rep(A, 1, 0).stall_limit(), STALL_LIMIT);
        let mut f = Fence::default();
        assert_eq!(f.step(ms(0), &[slow(100)]), None);
        assert_eq!(f.step(ms(300), &[slow(100)]), None);
        assert_eq!(f.step(ms(320), &[slow(200)]), None);
        assert_eq!(f.step(ms(700), &[slow(200)]), None);
        assert!(matches!(
            f.step(ms(720), &[slow(200)]),
            Some(Change::Close(_))
        ));
    }

    const A: &str = "198.18.19.12:40000";
    const B: &str = "198.18.19.13:40000";

    /// Each case: samples (ms, replicas as (remote, unacked, bytes_acked)) and the step at
    /// which the fence must close (`None`: never).
    #[test]
    fn closes_only_when_every_replica_stops_acknowledging() {
        type Sample = (u64, Vec<(&'static str, u32, u64)>);
        let every_20ms = |n: u64, f: &dyn Fn(u64) -> Vec<(&'static str, u32, u64)>| {
            (0..n).map(|i| (i * 20, f(i))).collect::<Vec<Sample>>()
        };
        let cases: Vec<(&str, Vec<Sample>, Option<usize>)> = vec![
            (
                "no replicas: nothing to judge",
                every_20ms(20, &|_| vec![]),
                None,
            ),
            (
                // What tripped the old rule: bytes in flight on every sample, but the
                // acknowledgements keep coming.
                "steady writes, ACKs delayed 40 ms",
                every_20ms(50, &|i| vec![(A, 1, 100 * (i / 2)), (B, 1, 100 * (i / 2))]),
                None,
            ),
            (
                "one replica keeps up",
                every_20ms(50, &|i| vec![(A, 3, 500), (B, 1, 100 * i)]),
                None,
            ),
            (
                "full receive window: nothing in flight, no progress",
                every_20ms(50, &|_| vec![(A, 0, 500), (B, 0, 700)]),
                None,
            ),
            (
                "both stop acknowledging: closes after the limit",
                every_20ms(20, &|i| {
                    let acked = 100 * i.min(3);
                    vec![(A, 2, acked), (B, 2, acked)]
                }),
                // The last progress is seen at sample 3 (t = 60 ms); the limit is reached at
                // sample 8 (t = 160 ms).
                Some(8),
            ),
            (
                "a stall shorter than the limit",
                every_20ms(30, &|i| {
                    let acked = if i < 10 {
                        100 * i
                    } else {
                        1_000 + 100 * (i / 4)
                    };
                    vec![(A, 1, acked), (B, 1, acked)]
                }),
                None,
            ),
            (
                "an idle replica with its last ACK long ago, then one write",
                every_20ms(10, &|i| vec![(A, u32::from(i >= 5), 900), (B, 0, 900)]),
                None,
            ),
        ];
        for (name, samples, want) in cases {
            let t0 = Instant::now();
            let mut f = Fence::default();
            let mut closed = None;
            for (i, (ms, reps)) in samples.iter().enumerate() {
                let reps: Vec<Replica> = reps.iter().map(|(r, u, a)| rep(r, *u, *a)).collect();
                if let Some(Change::Close(_)) = f.step(t0 + Duration::from_millis(*ms), &reps) {
                    closed.get_or_insert(i);
                }
            }
            assert_eq!(closed, want, "{name}");
        }
    }

    #[test]
    fn opens_on_progress_or_after_max_fence_then_cools_down() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let stalled = [rep(A, 2, 100), rep(B, 2, 100)];
        let mut f = Fence::default();
        assert_eq!(f.step(ms(0), &stalled), None);
        assert!(matches!(f.step(ms(100), &stalled), Some(Change::Close(_))));
        assert!(f.is_closed());
        // Still no progress: stays closed.
        assert_eq!(f.step(ms(1_000), &stalled), None);
        // B acknowledges again: open at once, and no cooldown.
        assert!(matches!(
            f.step(ms(1_020), &[rep(A, 2, 100), rep(B, 1, 150)]),
            Some(Change::Open(_))
        ));
        assert!(!f.is_closed());
        assert_eq!(f.step(ms(1_040), &[rep(A, 2, 100), rep(B, 1, 150)]), None);
        assert!(matches!(
            f.step(ms(1_140), &[rep(A, 2, 100), rep(B, 1, 150)]),
            Some(Change::Close(_))
        ));
        // Replica connections gone (the replicas reconnect elsewhere): stays closed until
        // MAX_FENCE, then opens and cools down.
        assert_eq!(f.step(ms(2_000), &[]), None);
        assert!(matches!(f.step(ms(4_140), &[]), Some(Change::Open(_))));
        let new = [rep("198.18.19.12:40001", 1, 0)];
        for n in 0..20 {
            assert_eq!(f.step(ms(4_200 + n * 100), &new), None, "cooling down");
        }
        assert!(matches!(f.step(ms(14_200), &new), Some(Change::Close(_))));
    }
}
