//! Tickle ACKs for the clients of a lost active (pure half; the thread is `cmd/tickle.rs`).
//!
//! When the active's node dies or is cut off, its clients' sessions to the VIP stay open in
//! their kernels: nothing tells them, and an idle OVSDB client (ovn-northd waiting for NB
//! changes, an ovn-controller waiting for SB ones) notices only at its next inactivity probe,
//! seconds later. The node that takes the VIP can end those sessions at once: it sends each
//! client an ACK from VIP:port with a sequence number the client does not expect; the client's
//! kernel answers with the ACK it expects, which now reaches this node, where no socket has
//! that 4-tuple, and this node's kernel answers that with a reset. The client sees its session
//! reset and reconnects, after its own reconnect backoff (1 s for OVS's IDL). An IDL client
//! whose nudge the old active published (`reconnect_nudge`: the proxy follows each session's
//! `_Server` monitor) is taken over instead, without the backoff: `session_takeover`.
//!
//! The new active must know the old one's sessions, so the active lists its client sessions
//! (sock_diag, local address the VIP, local port a client port) every [`LIST_EVERY`] and,
//! when the list changes or every [`REPUBLISH`], publishes it to each other member as a
//! private node attribute ([`ATTRIBUTE`], kept in the attribute daemons' memory only, never in
//! the CIB) on that member's node: a node's attributes outlive the loss of another node, the
//! active's own included. A tickle is harmless to a live session (the client's answer is a
//! duplicate ACK there), so a stale list costs nothing but the packets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The private node attribute holding the old active's client sessions.
pub const ATTRIBUTE: &str = "ovndb-ha-clients";
/// Longest published value; sessions past it are left out (and counted). About 3,000
/// sessions of IPv4 clients.
pub const MAX_VALUE: usize = 64 * 1024;
/// How often the active lists its client sessions.
pub const LIST_EVERY: Duration = Duration::from_secs(1);
/// An unchanged list is published again this often (a member that restarted or flapped lost
/// what it held).
pub const REPUBLISH: Duration = Duration::from_secs(30);
/// When, after taking the VIP, tickles are sent: at once, and again in case the first ones
/// crossed the clients' ARP update (or a client's kernel limited its answers: one per 0.5 s);
/// the last comes after IPaddr2's gratuitous ARPs (five, 200 ms apart), for a client whose
/// neighbour entry still sent its answers to the old active.
pub const ROUNDS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(300),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// One client session: the VIP's port it reached, and the client's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Session {
    pub server_port: u16,
    pub client: SocketAddr,
}

/// A published list, as [`encode`] made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub value: String,
    /// Sessions that did not fit.
    pub left_out: usize,
    /// Sessions listed whose nudge did not fit (they are reset rather than taken over).
    pub nudges_left_out: usize,
}

/// The published form: `PORT/CLIENT` entries (`6641/10.0.0.5:40122`,
/// `6642/[2001:db8::5]:40122`) joined by commas, then one `n=NUDGE@I.J…` entry per distinct
/// nudge (`reconnect_nudge`; URL-safe base64 without padding) naming the positions of the
/// sessions it belongs to (C IDL clients of one server share theirs), at most [`MAX_VALUE`]
/// bytes in all. Sessions come first, so a full list drops nudges before sessions.
pub fn encode(sessions: &BTreeSet<Session>, nudges: &BTreeMap<Session, Vec<u8>>) -> Encoded {
    let mut out = String::new();
    let mut left_out = 0;
    let mut kept = Vec::new();
    for s in sessions {
        let entry = format!("{}/{}", s.server_port, s.client);
        if out.len() + entry.len() + 1 > MAX_VALUE {
            left_out += 1;
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&entry);
        kept.push(*s);
    }
    let mut by_nudge: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for (i, s) in kept.iter().enumerate() {
        if let Some(n) = nudges.get(s) {
            by_nudge.entry(n.as_slice()).or_default().push(i);
        }
    }
    let mut nudges_left_out = 0;
    for (nudge, positions) in by_nudge {
        let mut entry = format!("n={}@", URL_SAFE_NO_PAD.encode(nudge));
        let list: Vec<String> = positions.iter().map(usize::to_string).collect();
        entry.push_str(&list.join("."));
        if out.len() + entry.len() + 1 > MAX_VALUE {
            nudges_left_out += positions.len();
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&entry);
    }
    Encoded {
        value: out,
        left_out,
        nudges_left_out,
    }
}

/// The sessions of a published value, each with its nudge if one was published;
/// malformed entries are skipped.
pub fn decode(value: &str) -> Vec<(Session, Option<Vec<u8>>)> {
    let mut sessions: Vec<(Session, Option<Vec<u8>>)> = Vec::new();
    let mut nudges = Vec::new();
    for entry in value.split(',').map(str::trim) {
        if let Some(rest) = entry.strip_prefix("n=") {
            if let Some((b64, positions)) = rest.split_once('@')
                && let Ok(bytes) = URL_SAFE_NO_PAD.decode(b64)
            {
                nudges.push((bytes, positions.to_string()));
            }
            continue;
        }
        let parsed = entry.split_once('/').and_then(|(port, client)| {
            Some(Session {
                server_port: port.parse().ok()?,
                client: client.parse().ok()?,
            })
        });
        if let Some(s) = parsed {
            sessions.push((s, None));
        }
    }
    for (bytes, positions) in nudges {
        for p in positions.split('.').filter_map(|p| p.parse::<usize>().ok()) {
            if let Some((_, n)) = sessions.get_mut(p) {
                *n = Some(bytes.clone());
            }
        }
    }
    sessions
}

/// The value in `attrd_updater --query` output (`name="…" host="…" value="…"`); `None` when
/// the attribute is unset or the output is not of that form.
pub fn parse_query(output: &str) -> Option<&str> {
    let line = output.lines().find(|l| l.contains("value=\""))?;
    let start = line.find("value=\"")? + "value=\"".len();
    let rest = line.get(start..)?;
    let value = rest.get(..rest.rfind('"')?)?;
    (!value.is_empty()).then_some(value)
}

/// Decides when the active publishes its session list.
#[derive(Debug, Default)]
pub struct Publisher {
    last: Option<(String, Vec<String>, Instant)>,
}

impl Publisher {
    /// Whether to publish `value` (an [`encode`]d list) to `peers` now: the list or the peers
    /// changed since the last publication, or [`REPUBLISH`] passed. Call
    /// [`published`](Self::published) after a publication that worked.
    pub fn due(&self, now: Instant, value: &str, peers: &[String]) -> bool {
        match &self.last {
            None => !peers.is_empty(),
            Some((v, p, at)) => {
                !peers.is_empty()
                    && (v != value || p != peers || now.duration_since(*at) >= REPUBLISH)
            }
        }
    }

    /// Records a publication.
    pub fn published(&mut self, now: Instant, value: String, peers: Vec<String>) {
        self.last = Some((value, peers, now));
    }

    /// Forgets the last publication (this node gave up the VIP: the next active publishes).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Decides when the node that took the VIP tickles: at each of [`ROUNDS`] after the VIP
/// arrived, and never again until it is lost and taken again.
#[derive(Debug, Default)]
pub struct Rounds {
    since: Option<Instant>,
    done: usize,
}

impl Rounds {
    /// Whether to tickle now, given whether this node holds the VIP.
    pub fn step(&mut self, now: Instant, held: bool) -> bool {
        if !held {
            self.since = None;
            self.done = 0;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        match ROUNDS.get(self.done) {
            Some(offset) if now.duration_since(since) >= *offset => {
                self.done += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether this is the first round of the current takeover (so the list is read).
    pub fn first_round(&self) -> bool {
        self.done == 1
    }

    /// Whether the current takeover is over: every round done and [`ANSWER_WAIT`] passed
    /// since the last (sessions still held are then left to this node's kernel, which resets
    /// them at their next packet). `false` when there is none.
    pub fn over(&self, now: Instant) -> bool {
        let last = ROUNDS[ROUNDS.len() - 1];
        self.done == ROUNDS.len()
            && self
                .since
                .is_some_and(|since| now.duration_since(since) >= last + ANSWER_WAIT)
    }
}

/// How long after the last round of tickles the answers are still awaited.
pub const ANSWER_WAIT: Duration = Duration::from_millis(500);

/// A session from its port and client address (tests).
#[cfg(test)]
pub(crate) fn s(port: u16, client: &str) -> Session {
    Session {
        server_port: port,
        client: client.parse().unwrap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let set: BTreeSet<Session> = [
            s(6641, "10.0.0.5:40122"),
            s(6642, "[2001:db8::5]:40123"),
            s(6642, "10.0.0.6:1"),
        ]
        .into();
        let e = encode(&set, &BTreeMap::new());
        assert_eq!((e.left_out, e.nudges_left_out), (0, 0));
        assert_eq!(
            e.value,
            "6641/10.0.0.5:40122,6642/10.0.0.6:1,6642/[2001:db8::5]:40123"
        );
        let back: BTreeSet<Session> = decode(&e.value).into_iter().map(|(s, _)| s).collect();
        assert_eq!(back, set);
    }

    #[test]
    fn nudges_are_published_once_each_with_the_positions_of_their_sessions() {
        let (a, b, c) = (
            s(6641, "10.0.0.5:40122"),
            s(6642, "10.0.0.6:1"),
            s(6642, "10.0.0.7:2"),
        );
        let set: BTreeSet<Session> = [a, b, c].into();
        let shared =
            br#"{"id":null,"method":"update2","params":[["monid","_Server"],{}]}"#.to_vec();
        let nudges: BTreeMap<Session, Vec<u8>> = [(b, shared.clone()), (c, shared.clone())].into();
        let e = encode(&set, &nudges);
        assert_eq!(e.value.matches("n=").count(), 1, "{}", e.value);
        assert!(e.value.ends_with("@1.2"), "{}", e.value);
        let entry = e.value.split(',').next_back().unwrap();
        assert!(!entry.contains(['+', '/']), "URL-safe base64: {entry}");
        assert_eq!(
            decode(&e.value),
            vec![(a, None), (b, Some(shared.clone())), (c, Some(shared))]
        );
    }

    #[test]
    fn an_older_reader_still_finds_every_session() {
        // The entrypoint of the previous release split entries on '/' and parsed both halves:
        // a nudge entry must fail that parse, never look like a session.
        let set: BTreeSet<Session> = [s(6641, "10.0.0.5:40122")].into();
        let nudges = [(s(6641, "10.0.0.5:40122"), vec![0xff; 300])].into();
        let e = encode(&set, &nudges);
        let old: Vec<&str> = e
            .value
            .split(',')
            .filter(|entry| {
                entry.split_once('/').is_some_and(|(p, c)| {
                    p.parse::<u16>().is_ok() && c.parse::<SocketAddr>().is_ok()
                })
            })
            .collect();
        assert_eq!(old, vec!["6641/10.0.0.5:40122"]);
    }

    #[test]
    fn decode_skips_what_it_cannot_read() {
        assert_eq!(
            decode(
                "6641/10.0.0.5:1,junk,70000/10.0.0.5:2,6641/10.0.0.5,,6642/10.0.0.7:3,n=!!@0,n=e30@9.x.1"
            ),
            vec![
                (s(6641, "10.0.0.5:1"), None),
                (s(6642, "10.0.0.7:3"), Some(b"{}".to_vec()))
            ]
        );
        assert!(decode("").is_empty());
    }

    #[test]
    fn encode_stops_at_the_limit_and_counts_the_rest() {
        let set: BTreeSet<Session> = (0..10_000u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
                s(6642, &format!("{ip}:{}", 30_000 + (i % 30_000)))
            })
            .collect();
        let nudges = set
            .iter()
            .map(|s| (*s, s.client.to_string().into_bytes()))
            .collect();
        let e = encode(&set, &nudges);
        assert!(e.value.len() <= MAX_VALUE, "{}", e.value.len());
        let kept = decode(&e.value);
        assert!(kept.len() > 2_500, "{}", kept.len());
        assert_eq!(kept.len() + e.left_out, 10_000);
        // The sessions filled the value: their nudges were the ones left out.
        assert_eq!(e.nudges_left_out, kept.len());
        assert!(kept.iter().all(|(_, n)| n.is_none()));
    }

    #[test]
    fn query_output() {
        for (out, want) in [
            (
                "name=\"ovndb-ha-clients\" host=\"h2\" value=\"6641/10.0.0.5:1\"\n",
                Some("6641/10.0.0.5:1"),
            ),
            ("name=\"ovndb-ha-clients\" host=\"h2\" value=\"\"\n", None),
            ("", None),
            (
                "Could not query value of ovndb-ha-clients: attribute does not exist\n",
                None,
            ),
        ] {
            assert_eq!(parse_query(out), want, "{out}");
        }
    }

    #[test]
    fn publication_on_change_on_new_peers_and_every_republish() {
        let t0 = Instant::now();
        let peers = vec!["h2".to_string(), "h3".to_string()];
        let one = "6641/10.0.0.5:1";
        let mut p = Publisher::default();
        assert!(!p.due(t0, one, &[]), "nobody to publish to");
        assert!(p.due(t0, one, &peers), "first list");
        assert!(p.due(t0, "", &peers), "even an empty one");
        p.published(t0, one.to_string(), peers.clone());
        let t1 = t0 + Duration::from_secs(1);
        assert!(!p.due(t1, one, &peers), "unchanged");
        assert!(p.due(t1, "", &peers), "a session ended");
        assert!(
            p.due(t1, "6641/10.0.0.5:1,n=e30@0", &peers),
            "a nudge arrived"
        );
        assert!(p.due(t1, one, &peers[..1]), "a member left");
        assert!(p.due(t0 + REPUBLISH, one, &peers), "republished");
        p.reset();
        assert!(p.due(t1, one, &peers), "after giving up the VIP");
    }

    #[test]
    fn tickles_at_each_round_of_a_takeover_only() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut t = Rounds::default();
        // (time, VIP held, tickle?)
        let table = [
            (0, false, false),
            (100, true, true),
            (150, true, false),
            (399, true, false),
            (400, true, true),
            (1000, true, false),
            (1100, true, true),
            (2099, true, false),
            (2100, true, true),
            (5000, true, false),
            (6000, false, false),
            (7000, true, true),
        ];
        for (at, held, want) in table {
            assert_eq!(t.step(ms(at), held), want, "at {at} ms, held {held}");
            if at == 100 || at == 7000 {
                assert!(t.first_round());
            }
            let over = (2100..6000).contains(&at) && at >= 100 + 2000 + 500;
            assert_eq!(t.over(ms(at)), over, "over at {at} ms");
        }
    }
}
