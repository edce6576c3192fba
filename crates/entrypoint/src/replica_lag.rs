//! Which standbys hold (nearly) everything the active acknowledged — the pure part of
//! data-aware promotion.
//!
//! OVSDB active-backup replication has no log position a standby could report, but the
//! active's kernel knows, for each replica connection, how many bytes the server has written
//! to it and how many the replica has acknowledged. Sampling both every few milliseconds gives
//! the age of the oldest byte a replica has not acknowledged: its lag. A replica whose lag stays
//! under [`LAG_LIMIT`] on both databases is *caught up*; the active publishes that per node as
//! the transient node attribute [`ATTRIBUTE`] (again every [`REPUBLISH`], since Pacemaker erases a
//! node's transient attributes when it leaves the membership), and the CIB prefers caught-up
//! nodes for
//! promotion. When the active dies, the survivors promote a caught-up standby over one that
//! lags (a throttled or slow one), so the writes only the caught-up one had survive.
//!
//! Resolution: a standby is preferred only over one lagging by more than [`LAG_LIMIT`]; two
//! caught-up standbys can differ by up to that much and are equal here. The state is what the
//! active last published, at most one sample plus the attribute's propagation old.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Node attribute: `1` on nodes whose copy is caught up with the active (the active's
/// own node included), `0` on the others. Only the active writes it.
pub const ATTRIBUTE: &str = "ovndb-ha-caught-up";
/// Oldest unacknowledged byte a caught-up replica may have. A healthy replica on a LAN
/// acknowledges within its delayed-ACK time (≤ 40 ms) plus scheduling; a throttled or
/// overloaded one falls seconds behind.
pub const LAG_LIMIT: Duration = Duration::from_millis(200);
/// How long a lagging replica must stay under the limit before it counts as caught up again
/// (a flapping replica is not preferred).
pub const RECOVER_AFTER: Duration = Duration::from_millis(500);
/// How often the active publishes every node's mark even without a change (a node that left
/// and rejoined the membership lost its mark).
pub const REPUBLISH: Duration = Duration::from_secs(2);
/// Most write marks kept per connection (a minute at one mark per 20 ms sample); past it the
/// newest mark absorbs further writes, which can only overstate the lag.
const MAX_MARKS: usize = 3_000;

/// One replica connection of one database as sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The replica's address and port.
    pub remote: SocketAddr,
    /// Bytes the active has written to it so far (acknowledged + still queued).
    pub written: u64,
    /// Bytes it has acknowledged.
    pub acked: u64,
}

/// Per connection: when the written total reached each value, oldest first.
#[derive(Debug, Default)]
struct Marks(VecDeque<(Instant, u64)>);

impl Marks {
    fn step(&mut self, now: Instant, s: &Stream) -> Duration {
        let full = self.0.len() >= MAX_MARKS;
        match self.0.back_mut() {
            Some((_, w)) if *w >= s.written => {}
            Some((_, w)) if full => *w = s.written,
            _ => self.0.push_back((now, s.written)),
        }
        // Marks whose bytes are all acknowledged are done.
        while self.0.front().is_some_and(|(_, w)| *w <= s.acked) {
            self.0.pop_front();
        }
        self.0
            .front()
            .map_or(Duration::ZERO, |(t, _)| now.saturating_duration_since(*t))
    }
}

/// Tracks the lag of every replica connection of one database.
#[derive(Debug, Default)]
pub struct LagTracker {
    marks: BTreeMap<SocketAddr, Marks>,
}

impl LagTracker {
    /// Feeds one sample; returns each connection's lag (age of its oldest unacknowledged byte).
    pub fn step(&mut self, now: Instant, streams: &[Stream]) -> BTreeMap<SocketAddr, Duration> {
        self.marks
            .retain(|remote, _| streams.iter().any(|s| s.remote == *remote));
        streams
            .iter()
            .map(|s| {
                (
                    s.remote,
                    self.marks.entry(s.remote).or_default().step(now, s),
                )
            })
            .collect()
    }
}

/// Decides the attribute value of every member node, as the active sees them.
#[derive(Debug, Default)]
pub struct CaughtUp {
    /// Per node: since when it has been under the limit on every database.
    under_since: BTreeMap<String, Instant>,
    /// What was last handed out for publication.
    published: BTreeMap<String, bool>,
    /// When every mark was last handed out.
    all_at: Option<Instant>,
}

impl CaughtUp {
    /// One sample. `me`: this node's name; `members`: every member (name, ring address);
    /// `lags`: per database, the lag of each replica connection. Returns the attribute changes
    /// to publish (node, caught up), this node first. Publishes nothing while this copy has no
    /// replica at all (it is not the active, or it has just been promoted), and forgets what it
    /// published then, so that a copy promoted later publishes every node afresh.
    pub fn step(
        &mut self,
        now: Instant,
        me: &str,
        members: &[(String, IpAddr)],
        lags: &[BTreeMap<SocketAddr, Duration>],
    ) -> Vec<(String, bool)> {
        if lags.iter().all(BTreeMap::is_empty) {
            self.published.clear();
            self.under_since.clear();
            self.all_at = None;
            return Vec::new();
        }
        // Every replica lagging at once is this copy's own trouble (it is being cut off), not
        // theirs: freeze the marks, so a cut-off active never marks its successor as lagging.
        let any_under = members.iter().filter(|(n, _)| n != me).any(|(_, addr)| {
            lags.iter().all(|db| {
                db.iter()
                    .any(|(remote, lag)| remote.ip() == *addr && *lag < LAG_LIMIT)
            })
        });
        if !any_under {
            return Vec::new();
        }
        let mut want: Vec<(String, bool)> = vec![(me.to_string(), true)];
        for (name, addr) in members.iter().filter(|(n, _)| n != me) {
            let under = lags.iter().all(|db| {
                db.iter()
                    .any(|(remote, lag)| remote.ip() == *addr && *lag < LAG_LIMIT)
            });
            let caught_up = if under {
                let since = *self.under_since.entry(name.clone()).or_insert(now);
                // A node seen caught up before keeps it; a new or lagging one waits.
                self.published.get(name) == Some(&true)
                    || now.saturating_duration_since(since) >= RECOVER_AFTER
            } else {
                self.under_since.remove(name);
                false
            };
            want.push((name.clone(), caught_up));
        }
        self.under_since
            .retain(|n, _| members.iter().any(|(m, _)| m == n));
        let all = self
            .all_at
            .is_none_or(|t| now.saturating_duration_since(t) >= REPUBLISH);
        if all {
            self.all_at = Some(now);
        }
        want.into_iter()
            .filter(|(node, v)| self.published.insert(node.clone(), *v) != Some(*v) || all)
            .collect()
    }
}

impl CaughtUp {
    /// Whether this copy is publishing marks: it is the active, with replicas.
    pub fn publishing(&self) -> bool {
        !self.published.is_empty()
    }

    /// The nodes last published as caught up, this node excluded.
    pub fn caught_up_peers(&self, me: &str) -> Vec<String> {
        self.published
            .iter()
            .filter(|(n, v)| **v && n.as_str() != me)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// For a handover with writes stopped: whether every peer in `candidates` (the caught-up ones,
/// which promotion prefers) has acknowledged every byte written to it on every database, so
/// whichever is promoted holds every acknowledged write. False with no candidate.
pub fn drained(
    candidates: &[String],
    members: &[(String, IpAddr)],
    streams: &[Vec<Stream>],
) -> bool {
    !candidates.is_empty()
        && candidates.iter().all(|node| {
            members
                .iter()
                .find(|(n, _)| n == node)
                .is_some_and(|(_, addr)| {
                    streams.iter().all(|db| {
                        db.iter()
                            .any(|s| s.remote.ip() == *addr && s.acked >= s.written)
                    })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_unacknowledged_byte() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let r = sa("198.18.20.12:40000");
        let st = |written, acked| Stream {
            remote: r,
            written,
            acked,
        };
        let mut t = LagTracker::default();
        // Each case: time, written, acked, expected lag in ms.
        for (at, written, acked, want) in [
            (0, 100, 100, 0),     // all acknowledged
            (20, 200, 100, 0),    // written just now
            (40, 300, 150, 20),   // the bytes of t=20 wait
            (60, 300, 200, 20),   // t=20's bytes acknowledged: t=40's wait
            (80, 300, 300, 0),    // caught up
            (100, 900, 300, 0),   // a burst
            (400, 900, 600, 300), // throttled: the burst's bytes wait 300 ms
            (420, 900, 900, 0),
        ] {
            let lags = t.step(ms(at), &[st(written, acked)]);
            assert_eq!(lags[&r], Duration::from_millis(want), "at {at} ms");
        }
        // A closed connection is forgotten.
        assert!(t.step(ms(440), &[]).is_empty());
    }

    #[test]
    fn marks_are_bounded() {
        let t0 = Instant::now();
        let r = sa("198.18.20.12:40000");
        let mut t = LagTracker::default();
        for i in 0..(MAX_MARKS as u64 + 100) {
            t.step(
                t0 + Duration::from_millis(i * 20),
                &[Stream {
                    remote: r,
                    written: 1 + i,
                    acked: 0,
                }],
            );
        }
        assert_eq!(t.marks[&r].0.len(), MAX_MARKS);
    }

    #[test]
    fn drained_when_every_candidate_has_everything() {
        let members: Vec<(String, IpAddr)> = vec![
            ("h2".into(), "198.18.20.12".parse().unwrap()),
            ("h3".into(), "198.18.20.13".parse().unwrap()),
        ];
        let st = |a: &str, written, acked| Stream {
            remote: sa(a),
            written,
            acked,
        };
        let h2 = "198.18.20.12:40000";
        let h3 = "198.18.20.13:40000";
        let nb_done = vec![st(h2, 500, 500), st(h3, 500, 400)];
        let sb_done = vec![st(h2, 90, 90), st(h3, 90, 90)];
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // h3 still misses 100 NB bytes.
        assert!(drained(
            &c(&["h2"]),
            &members,
            &[nb_done.clone(), sb_done.clone()]
        ));
        assert!(!drained(
            &c(&["h2", "h3"]),
            &members,
            &[nb_done.clone(), sb_done.clone()]
        ));
        // No candidate, or one without a connection: not drained.
        assert!(!drained(&[], &members, &[nb_done.clone(), sb_done.clone()]));
        assert!(!drained(&c(&["h2"]), &members, &[nb_done, vec![]]));
        assert!(!drained(&c(&["h9"]), &members, &[vec![], vec![]]));
    }

    #[test]
    fn caught_up_nodes_are_published_on_change() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let members: Vec<(String, IpAddr)> = ["h1", "h2", "h3"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    format!("198.18.20.1{}", i + 1).parse().unwrap(),
                )
            })
            .collect();
        let lag = |pairs: &[(&str, u64)]| -> BTreeMap<SocketAddr, Duration> {
            pairs
                .iter()
                .map(|(a, l)| (sa(a), Duration::from_millis(*l)))
                .collect()
        };
        let h2 = "198.18.20.12:40000";
        let h3 = "198.18.20.13:40000";
        let mut c = CaughtUp::default();
        let s = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(n, b)| (n.to_string(), *b)).collect()
        };
        // No replicas: not the active, nothing to say.
        assert_eq!(c.step(ms(0), "h1", &members, &[lag(&[]), lag(&[])]), vec![]);
        // Replicas appear: this node at once, the others only after RECOVER_AFTER.
        let both = [lag(&[(h2, 10), (h3, 10)]), lag(&[(h2, 0), (h3, 0)])];
        assert_eq!(
            c.step(ms(20), "h1", &members, &both),
            s(&[("h1", true), ("h2", false), ("h3", false)])
        );
        assert_eq!(c.step(ms(300), "h1", &members, &both), vec![]);
        assert_eq!(
            c.step(ms(520), "h1", &members, &both),
            s(&[("h2", true), ("h3", true)])
        );
        // h3 falls behind on SB only: at once.
        let h3_behind = [lag(&[(h2, 10), (h3, 10)]), lag(&[(h2, 0), (h3, 250)])];
        assert_eq!(
            c.step(ms(540), "h1", &members, &h3_behind),
            s(&[("h3", false)])
        );
        // h2 loses its NB connection: not caught up.
        let h2_gone = [lag(&[(h3, 10)]), lag(&[(h2, 0), (h3, 0)])];
        assert_eq!(
            c.step(ms(560), "h1", &members, &h2_gone),
            s(&[("h2", false)])
        );
        // Both lag at once (this copy is being cut off): nothing changes.
        let both_behind = [lag(&[(h2, 300), (h3, 300)]), lag(&[(h2, 0), (h3, 0)])];
        assert_eq!(c.step(ms(580), "h1", &members, &both_behind), vec![]);
        // Both back under the limit: caught up again after RECOVER_AFTER.
        assert_eq!(c.step(ms(600), "h1", &members, &both), vec![]);
        assert_eq!(
            c.step(ms(1_100), "h1", &members, &both),
            s(&[("h2", true), ("h3", true)])
        );
        assert_eq!(c.caught_up_peers("h1"), ["h2", "h3"]);
        // Every REPUBLISH, everything again (a node that left the membership lost its mark).
        assert_eq!(
            c.step(ms(2_020), "h1", &members, &both),
            s(&[("h1", true), ("h2", true), ("h3", true)])
        );
        // Demoted (no replicas): silent, and a later promotion publishes everything again.
        assert_eq!(
            c.step(ms(2_200), "h1", &members, &[lag(&[]), lag(&[])]),
            vec![]
        );
        assert_eq!(
            c.step(ms(2_300), "h1", &members, &both),
            s(&[("h1", true), ("h2", false), ("h3", false)])
        );
    }
}
