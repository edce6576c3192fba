//! Semi-synchronous replication — the pure part: when may the active's replies reach clients?
//!
//! OVSDB active-backup replication is asynchronous: ovsdb-server answers a transaction first
//! and writes the change to its replicas afterwards (in the same main-loop pass or the next,
//! later still while a replica's connection has a backlog). A crash or cut of the active in
//! between loses a write its client saw acknowledged. The entrypoint therefore puts a proxy
//! in front of the server (`cmd::sync_proxy`): clients and replicas reach it, and it holds
//! every byte the server sends a client until a *barrier round* that started after those bytes
//! arrived has completed.
//!
//! A round is two echoes per replica connection. The proxy sends an `echo` request into the
//! server on the replica's connection: ovsdb-server handles a session's next request only
//! after flushing that session's monitors, so its echo reply follows, in the replica's stream,
//! every change committed before — including every transaction whose reply the proxy holds.
//! The proxy swallows that reply and sends an `echo` to the replica: the replica's server
//! answers an echo only once it has read, and so applied, everything before it. The replica's
//! answer (swallowed too) *confirms* the round for that replica.
//!
//! [`Round`] decides when a round is complete: every *required* replica (one that finished its
//! initial copy and is not excluded) confirmed or disconnected, at least one confirming (a
//! replica that leaves has not confirmed anything: it may be following a newly promoted copy);
//! or none was required (the active is the only copy); or at least one confirmed and
//! the others are [`SLOW`] — they are excluded (no longer waited for, and marked lagging so
//! promotion prefers the others) until they confirm a round in time again (the proxy then
//! holds what it would release until the excluded host is shown unpromotable: see
//! `sync_proxy::Control::unpromotable`); or none confirmed
//! for [`MAX_HOLD`] while this node keeps its quorum — the replicas are stuck, not cut off (a
//! cut-off active loses its quorum and stops well within it), and the active falls back to
//! asynchronous replication, logged, rather than stopping every write. While this node has no
//! quorum no round completes at all, confirmed or not: a replica that confirms may be about
//! to follow the copy the majority promotes. A round whose replicas
//! were all lost with this node's own server (each connection ended on the server's side:
//! it died) is *void*: it completes at once and nothing it covers is ever released.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a round waits for a replica once another replica confirmed it. A healthy
/// replica on a LAN confirms within milliseconds; one that needs longer is loaded or
/// throttled, and waiting for it would stall every write.
pub const SLOW: Duration = Duration::from_millis(250);
/// How long a round waits while no replica confirms and this node keeps its quorum.
pub const MAX_HOLD: Duration = Duration::from_secs(5);
/// How often a round is looked at again while this node has no quorum.
pub const QUORUM_RECHECK: Duration = Duration::from_millis(20);
/// The id prefix of the proxy's own echo requests (never forwarded either way).
pub const SYNC_ID_PREFIX: &str = "ovndb-ha-sync-";
/// Longest message that can be one of the proxy's echo replies.
const MAX_SYNC_MESSAGE: usize = 256;
/// Longest client request the proxy looks into (replicas' requests are small).
const MAX_REQUEST: usize = 64 * 1024;

/// The proxy's echo request for round `round`.
pub fn echo_request(round: u64) -> Vec<u8> {
    format!(r#"{{"id":"{SYNC_ID_PREFIX}{round}","method":"echo","params":[]}}"#).into_bytes()
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
}

/// If `msg` is a reply to one of the proxy's echo requests: its round.
pub fn sync_reply_round(msg: &[u8]) -> Option<u64> {
    if msg.len() > MAX_SYNC_MESSAGE {
        return None;
    }
    let head: Head = serde_json::from_slice(msg).ok()?;
    if head.method.is_some() || head.result.is_none() {
        return None;
    }
    head.id.as_str()?.strip_prefix(SYNC_ID_PREFIX)?.parse().ok()
}

/// If `msg` is a request that starts a monitor (`monitor`, `monitor_cond`,
/// `monitor_cond_since`): its id, whose reply carries the replica's initial copy.
pub fn monitor_request_id(msg: &[u8]) -> Option<serde_json::Value> {
    if msg.len() > MAX_REQUEST {
        return None;
    }
    let head: Head = serde_json::from_slice(msg).ok()?;
    let method = head.method?;
    (method.starts_with("monitor") && !method.ends_with("_change") && !head.id.is_null())
        .then_some(head.id)
}

/// If `msg` is a reply: its id.
pub fn reply_id(msg: &[u8]) -> Option<serde_json::Value> {
    let head: Head = serde_json::from_slice(msg).ok()?;
    (head.method.is_none() && !head.id.is_null()).then_some(head.id)
}

/// What a round has come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet; look again at the deadline (or on the next event).
    Wait(Instant),
    /// Complete: release. `excluded`: replicas that were too slow and are no longer waited
    /// for (empty normally).
    Done { excluded: Vec<u64> },
    /// No replica confirmed within [`MAX_HOLD`] with the quorum held: release anyway,
    /// asynchronously; every replica of the round is excluded.
    Degraded { excluded: Vec<u64> },
    /// Every replica of the round was lost with this node's server (it died: each replica
    /// connection ended on the server's side) before confirming: nothing the round covers
    /// can ever be confirmed, so it completes at once and releases none of it (the clients'
    /// links drop those bytes and close). Waiting instead held every later round — the
    /// restarted server's replies — for [`MAX_HOLD`] (measured: a `kill -9` of the active
    /// server with persistent clients stalled writes for 5 s).
    Void,
}

/// One barrier round over the replica connections (identified by link numbers).
#[derive(Debug, Clone)]
pub struct Round {
    /// The round's number (rounds complete in order).
    pub id: u64,
    started: Instant,
    required: BTreeSet<u64>,
    confirmed: BTreeSet<u64>,
    /// Whether any replica was required at the start (none: the active is the only copy).
    had_replicas: bool,
    /// A required replica left on its own side without confirming.
    replica_left: bool,
    /// A required replica was lost on the server's side without confirming.
    server_lost: bool,
}

/// Which side ended a replica's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// The replica closed it (restart, or it follows another copy now).
    Replica,
    /// This node's server closed it (the server died or stopped).
    Server,
}

impl Round {
    /// A round started at `now`, waiting for `required`.
    pub fn new(id: u64, now: Instant, required: BTreeSet<u64>) -> Self {
        Round {
            id,
            started: now,
            had_replicas: !required.is_empty(),
            required,
            confirmed: BTreeSet::new(),
            replica_left: false,
            server_lost: false,
        }
    }

    /// When the round started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// How many replicas confirmed the round.
    pub fn confirmations(&self) -> usize {
        self.confirmed.len()
    }

    /// Replica `link` confirmed the round.
    pub fn confirm(&mut self, link: u64) {
        if self.required.contains(&link) {
            self.confirmed.insert(link);
        }
    }

    /// Replica `link` disconnected, ended on side `by`: it is no longer waited for.
    /// Leaving is not confirming: a replica leaves when it restarts, or when another copy was
    /// promoted and it follows that one — the round still needs a confirmation from someone.
    /// Unless every replica was lost with the server itself: see [`Verdict::Void`].
    pub fn gone(&mut self, link: u64, by: Left) {
        if !self.confirmed.contains(&link) && self.required.remove(&link) {
            match by {
                Left::Replica => self.replica_left = true,
                Left::Server => self.server_lost = true,
            }
        }
    }

    /// The verdict at `now`; `quorum_lost`: this node has lost its quorum (it is being cut
    /// off: never release without a confirmation then).
    pub fn verdict(&self, now: Instant, quorum_lost: bool) -> Verdict {
        let waiting: Vec<u64> = self.required.difference(&self.confirmed).copied().collect();
        if waiting.is_empty() && self.confirmed.is_empty() && !self.replica_left && self.server_lost
        {
            return Verdict::Void;
        }
        // Without quorum nothing is released, confirmed or not: the confirming replica may be
        // about to follow a copy the majority promoted, which never had what it confirmed
        // (measured: chaos seed 13, a corosync-only partition of the active, a write
        // confirmed by the standby that then followed the new active, lost).
        if quorum_lost {
            return Verdict::Wait(now + QUORUM_RECHECK);
        }
        if waiting.is_empty() && (!self.confirmed.is_empty() || !self.had_replicas) {
            return Verdict::Done {
                excluded: Vec::new(),
            };
        }
        let age = now.saturating_duration_since(self.started);
        if !self.confirmed.is_empty() {
            if age >= SLOW {
                return Verdict::Done { excluded: waiting };
            }
            return Verdict::Wait(self.started + SLOW);
        }
        if age >= MAX_HOLD {
            return Verdict::Degraded { excluded: waiting };
        }
        Verdict::Wait(self.started + MAX_HOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_knows_its_own_echo_replies_and_nothing_else() {
        for (msg, want) in [
            (
                r#"{"id":"ovndb-ha-sync-42","result":[],"error":null}"#,
                Some(42),
            ),
            (
                r#"{"error":null,"result":[],"id":"ovndb-ha-sync-7"}"#,
                Some(7),
            ),
            (
                r#"{"id":"ovndb-ha-sync-7","method":"echo","params":[]}"#,
                None,
            ),
            (r#"{"id":"echo","result":[],"error":null}"#, None),
            (r#"{"id":7,"result":[],"error":null}"#, None),
            (r#"{"id":"ovndb-ha-sync-x","result":[],"error":null}"#, None),
            ("not json", None),
        ] {
            assert_eq!(sync_reply_round(msg.as_bytes()), want, "{msg}");
        }
        assert_eq!(sync_reply_round(&echo_request(9)), None);
        let reply = String::from_utf8(echo_request(9)).unwrap().replace(
            r#""method":"echo","params":[]"#,
            r#""result":[],"error":null"#,
        );
        assert_eq!(sync_reply_round(reply.as_bytes()), Some(9));
    }

    #[test]
    fn monitor_requests_and_their_replies() {
        for (msg, want) in [
            (
                r#"{"id":3,"method":"monitor_cond","params":["OVN_Northbound",null,{}]}"#,
                Some(3),
            ),
            (r#"{"id":4,"method":"monitor","params":[]}"#, Some(4)),
            (
                r#"{"id":5,"method":"monitor_cond_change","params":[]}"#,
                None,
            ),
            (
                r#"{"id":6,"method":"get_schema","params":["OVN_Northbound"]}"#,
                None,
            ),
            (r#"{"id":null,"method":"monitor","params":[]}"#, None),
        ] {
            assert_eq!(
                monitor_request_id(msg.as_bytes()),
                want.map(serde_json::Value::from),
                "{msg}"
            );
        }
        assert_eq!(
            reply_id(br#"{"id":3,"result":{"T":{}},"error":null}"#),
            Some(serde_json::Value::from(3))
        );
        assert_eq!(
            reply_id(br#"{"id":null,"method":"update","params":[]}"#),
            None
        );
    }

    fn round(required: &[u64]) -> (Round, Instant) {
        let t0 = Instant::now();
        (Round::new(1, t0, required.iter().copied().collect()), t0)
    }

    #[test]
    fn verdicts() {
        let ms = Duration::from_millis;
        // (required, confirmed, gone (link, side: 'r'eplica or 's'erver), age, quorum lost,
        // verdict)
        type Row = (
            &'static [u64],
            &'static [u64],
            &'static [(u64, char)],
            u64,
            bool,
            &'static str,
        );
        let rows: [Row; 21] = [
            (&[], &[], &[], 0, false, "done []"),
            (&[1, 2], &[1, 2], &[], 1, false, "done []"),
            (&[1, 2], &[1], &[], 1, false, "wait 250"),
            (&[1, 2], &[1], &[], 250, false, "done [2]"),
            (&[1, 2], &[], &[], 1000, false, "wait 5000"),
            (&[1, 2], &[], &[], 5000, false, "degraded [1, 2]"),
            (&[1, 2], &[], &[], 60_000, true, "wait 60020"),
            (&[1, 2], &[1], &[(2, 'r')], 1, false, "done []"),
            // Every replica left without confirming: no confirmation, so no early release.
            (&[1, 2], &[], &[(1, 'r'), (2, 'r')], 1, false, "wait 5000"),
            (&[1, 2], &[], &[(1, 'r'), (2, 'r')], 5000, true, "wait 5020"),
            // Without quorum, even confirmed rounds and the only copy's wait.
            (&[1, 2], &[1, 2], &[], 1, true, "wait 21"),
            (&[1, 2], &[1], &[], 300, true, "wait 320"),
            (&[], &[], &[], 0, true, "wait 20"),
            (&[1, 2], &[3], &[], 1, false, "wait 5000"),
            (&[1], &[1], &[(1, 'r')], 1, false, "done []"),
            // The server died: every replica connection ended on its side. The round's bytes
            // are the dead server's: void at once (released to nobody), quorum or not.
            (&[1, 2], &[], &[(1, 's'), (2, 's')], 1, false, "void"),
            (&[1, 2], &[], &[(1, 's'), (2, 's')], 1, true, "void"),
            (&[1], &[], &[(1, 's')], 1, false, "void"),
            // One replica still there: wait for it as usual.
            (&[1, 2], &[], &[(1, 's')], 600, false, "wait 5000"),
            // A replica that left on its own side keeps the rule that leaving confirms nothing.
            (&[1, 2], &[], &[(1, 'r'), (2, 's')], 600, false, "wait 5000"),
            // Confirmed, then lost with the server: the confirmation counts.
            (&[1, 2], &[1], &[(1, 's'), (2, 's')], 20, false, "done []"),
        ];
        for (required, confirmed, gone, age, quorum_lost, want) in rows {
            let (mut r, t0) = round(required);
            for l in confirmed {
                r.confirm(*l);
            }
            for (l, side) in gone {
                let by = if *side == 's' {
                    Left::Server
                } else {
                    Left::Replica
                };
                r.gone(*l, by);
            }
            let got = match r.verdict(t0 + ms(age), quorum_lost) {
                Verdict::Wait(at) => format!("wait {}", (at - t0).as_millis()),
                Verdict::Done { excluded } => format!("done {excluded:?}"),
                Verdict::Degraded { excluded } => format!("degraded {excluded:?}"),
                Verdict::Void => "void".to_string(),
            };
            assert_eq!(
                got, want,
                "{required:?} {confirmed:?} {gone:?} {age} {quorum_lost}"
            );
        }
    }
}
