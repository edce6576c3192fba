//! Tickle ACKs for the clients of a lost active (pure half; the thread is `cmd/tickle.rs`).
//!
//! When the active's node dies or is cut off, its clients' sessions to the VIP stay open in
//! their kernels: nothing tells them, and an idle OVSDB client (ovn-northd waiting for NB
//! changes, an ovn-controller waiting for SB ones) notices only at its next inactivity probe,
//! seconds later. The node that takes the VIP can end those sessions at once: it sends each
//! client an ACK from VIP:port with a sequence number the client does not expect; the client's
//! kernel answers with the ACK it expects, which now reaches this node, where no socket has
//! that 4-tuple, and this node's kernel answers that with a reset. The client sees its session
//! reset and reconnects. Sending is left to resource-agents' `tickle_tcp` (in the image).
//!
//! The new active must know the old one's sessions, so the active lists its client sessions
//! (sock_diag, local address the VIP, local port a client port) every [`LIST_EVERY`] and,
//! when the list changes or every [`REPUBLISH`], publishes it to each other member as a
//! private node attribute ([`ATTRIBUTE`], kept in the attribute daemons' memory only, never in
//! the CIB) on that member's node: a node's attributes outlive the loss of another node, the
//! active's own included. A tickle is harmless to a live session (the client's answer is a
//! duplicate ACK there), so a stale list costs nothing but the packets.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
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
/// crossed the clients' ARP update.
pub const ROUNDS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(300),
    Duration::from_millis(1000),
];

/// One client session: the VIP's port it reached, and the client's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Session {
    pub server_port: u16,
    pub client: SocketAddr,
}

/// The published form: `PORT/CLIENT` entries (`6641/10.0.0.5:40122`,
/// `6642/[2001:db8::5]:40122`) joined by commas, at most [`MAX_VALUE`] bytes; also returns
/// how many sessions did not fit.
pub fn encode(sessions: &BTreeSet<Session>) -> (String, usize) {
    let mut out = String::new();
    let mut left_out = 0;
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
    }
    (out, left_out)
}

/// The sessions of a published value; malformed entries are skipped.
pub fn decode(value: &str) -> Vec<Session> {
    value
        .split(',')
        .filter_map(|entry| {
            let (port, client) = entry.trim().split_once('/')?;
            Some(Session {
                server_port: port.parse().ok()?,
                client: client.parse().ok()?,
            })
        })
        .collect()
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

/// `tickle_tcp`'s input: one `LOCAL REMOTE` line per session, the local side being
/// `vip:server_port` (addresses as `ip:port`; the tool takes the port after the last colon).
pub fn tickle_input(vip: IpAddr, sessions: &[Session]) -> String {
    let mut out = String::new();
    for s in sessions {
        let _ = writeln!(
            out,
            "{vip}:{} {}:{}",
            s.server_port,
            s.client.ip(),
            s.client.port()
        );
    }
    out
}

/// Decides when the active publishes its session list.
#[derive(Debug, Default)]
pub struct Publisher {
    last: Option<(BTreeSet<Session>, Vec<String>, Instant)>,
}

impl Publisher {
    /// Whether to publish `sessions` to `peers` now: the list or the peers changed since the
    /// last publication, or [`REPUBLISH`] passed. Call [`published`](Self::published) after a
    /// publication that worked.
    pub fn due(&self, now: Instant, sessions: &BTreeSet<Session>, peers: &[String]) -> bool {
        match &self.last {
            None => !peers.is_empty(),
            Some((s, p, at)) => {
                !peers.is_empty()
                    && (s != sessions || p != peers || now.duration_since(*at) >= REPUBLISH)
            }
        }
    }

    /// Records a publication.
    pub fn published(&mut self, now: Instant, sessions: BTreeSet<Session>, peers: Vec<String>) {
        self.last = Some((sessions, peers, now));
    }

    /// Forgets the last publication (this node gave up the VIP: the next active publishes).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Decides when the node that took the VIP tickles: at each of [`ROUNDS`] after the VIP
/// arrived, and never again until it is lost and taken again.
#[derive(Debug, Default)]
pub struct Takeover {
    since: Option<Instant>,
    done: usize,
}

impl Takeover {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(port: u16, client: &str) -> Session {
        Session {
            server_port: port,
            client: client.parse().unwrap(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let set: BTreeSet<Session> = [
            s(6641, "10.0.0.5:40122"),
            s(6642, "[2001:db8::5]:40123"),
            s(6642, "10.0.0.6:1"),
        ]
        .into();
        let (value, left_out) = encode(&set);
        assert_eq!(left_out, 0);
        assert_eq!(
            value,
            "6641/10.0.0.5:40122,6642/10.0.0.6:1,6642/[2001:db8::5]:40123"
        );
        let back: BTreeSet<Session> = decode(&value).into_iter().collect();
        assert_eq!(back, set);
    }

    #[test]
    fn decode_skips_what_it_cannot_read() {
        assert_eq!(
            decode("6641/10.0.0.5:1,junk,70000/10.0.0.5:2,6641/10.0.0.5,,6642/10.0.0.7:3"),
            vec![s(6641, "10.0.0.5:1"), s(6642, "10.0.0.7:3")]
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
        let (value, left_out) = encode(&set);
        assert!(value.len() <= MAX_VALUE, "{}", value.len());
        let kept = decode(&value).len();
        assert!(kept > 2_500, "{kept}");
        assert_eq!(kept + left_out, 10_000);
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
    fn tickle_lines() {
        let vip: IpAddr = "198.18.0.100".parse().unwrap();
        assert_eq!(
            tickle_input(vip, &[s(6641, "10.0.0.5:40122"), s(6642, "10.0.0.6:7")]),
            "198.18.0.100:6641 10.0.0.5:40122\n198.18.0.100:6642 10.0.0.6:7\n"
        );
        let vip6: IpAddr = "2001:db8::100".parse().unwrap();
        assert_eq!(
            tickle_input(vip6, &[s(6641, "[2001:db8::5]:9")]),
            "2001:db8::100:6641 2001:db8::5:9\n"
        );
    }

    #[test]
    fn publication_on_change_on_new_peers_and_every_republish() {
        let t0 = Instant::now();
        let peers = vec!["h2".to_string(), "h3".to_string()];
        let one: BTreeSet<Session> = [s(6641, "10.0.0.5:1")].into();
        let mut p = Publisher::default();
        assert!(!p.due(t0, &one, &[]), "nobody to publish to");
        assert!(p.due(t0, &one, &peers), "first list");
        assert!(p.due(t0, &BTreeSet::new(), &peers), "even an empty one");
        p.published(t0, one.clone(), peers.clone());
        let t1 = t0 + Duration::from_secs(1);
        assert!(!p.due(t1, &one, &peers), "unchanged");
        assert!(p.due(t1, &BTreeSet::new(), &peers), "a session ended");
        assert!(p.due(t1, &one, &peers[..1]), "a member left");
        assert!(p.due(t0 + REPUBLISH, &one, &peers), "republished");
        p.reset();
        assert!(p.due(t1, &one, &peers), "after giving up the VIP");
    }

    #[test]
    fn tickles_at_each_round_of_a_takeover_only() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut t = Takeover::default();
        // (time, VIP held, tickle?)
        let table = [
            (0, false, false),
            (100, true, true),
            (150, true, false),
            (399, true, false),
            (400, true, true),
            (1000, true, false),
            (1100, true, true),
            (5000, true, false),
            (6000, false, false),
            (7000, true, true),
        ];
        for (at, held, want) in table {
            assert_eq!(t.step(ms(at), held), want, "at {at} ms, held {held}");
            if at == 100 || at == 7000 {
                assert!(t.first_round());
            }
        }
    }
}
