//! Taking over the old active's client sessions for one message (pure; the I/O is
//! `cmd/takeover.rs`).
//!
//! A tickle (`client_tickle`) resets an IDL client's session, and the client then waits its
//! reconnect backoff (1 s in OVS's IDL) before it dials the VIP again. The crash path has no
//! such wait: the proxy sends the session a nudge (`reconnect_nudge`), the client drops the
//! session itself and reconnects at once. After a node loss the session's other end is gone
//! with the node, so the node that takes the VIP writes the nudge into the session itself:
//!
//! 1. the packets of each session it has a nudge for are dropped on arrival
//!    ([`hold_rules`], iptables' `raw` table), so this node's kernel, which has no socket for
//!    them, does not reset them; the rules are installed ahead, while the node is a standby,
//!    and match only once the VIP is local, since a client's packets can arrive with the
//!    VIP's first gratuitous ARP, before any thread here has noticed it;
//! 2. it sends the client a tickle ([`Plan::tickles`]); the client's kernel answers with the
//!    ACK it expects, which carries the session's sequence numbers (and the old server's last
//!    timestamp);
//! 3. a packet socket sees that answer, and [`Plan::on_seen`] makes the session's next
//!    segment: the nudge, in sequence; the client's IDL reads it, drops the session and
//!    reconnects at once, to this node;
//! 4. the rules are removed ([`release_args`]) after the last round: whatever is left of the
//!    old sessions is then reset by this node's kernel, as with a plain tickle.
//!
//! A standby refreshes its rules from the list every few seconds; the takeover reads the list
//! again and refills them before the first tickle.
//!
//! **Takeover rule (invariant):** only a session of the old active's published list is held or
//! written to, never one this node has a socket for, and only with the nudge that active's
//! proxy built for that session; a session without a nudge is left to the plain tickle. A
//! nudge written into a session whose last message the dead server had not finished makes the
//! client fail to parse it and drop the session, with its usual backoff: no worse than the
//! tickle. TLS sessions get no nudge (their bytes cannot be made without the keys).

use crate::client_tickle::Session;
use crate::tcp_segment::{ACK, PSH, RST, Seen, Segment};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The iptables chain holding the takeover's rules (in the `raw` table).
pub const CHAIN: &str = "OVNDB-HA-TAKEOVER";

/// What became of one inherited session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No answer to the tickles yet.
    Waiting,
    /// Its client answered and was sent the nudge.
    Nudged,
    /// Its client answered; without a nudge this node's kernel reset it.
    Reset,
}

/// One takeover: the inherited sessions and what became of each.
#[derive(Debug, Clone)]
pub struct Plan {
    vip: IpAddr,
    sessions: BTreeMap<Session, (Option<Vec<u8>>, Outcome)>,
}

impl Plan {
    /// The sessions the old active published (`client_tickle::decode`), less any this node
    /// has a socket for (`local`) and any of another address family than the VIP's.
    pub fn new(
        vip: IpAddr,
        inherited: Vec<(Session, Option<Vec<u8>>)>,
        local: &BTreeSet<Session>,
    ) -> Self {
        let sessions = inherited
            .into_iter()
            .filter(|(s, _)| !local.contains(s) && s.client.is_ipv4() == vip.is_ipv4())
            .map(|(s, n)| (s, (n, Outcome::Waiting)))
            .collect();
        Plan { vip, sessions }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The sessions with a nudge: their packets are held (dropped) for the takeover.
    pub fn held(&self) -> Vec<Session> {
        self.sessions
            .iter()
            .filter(|(_, (n, _))| n.is_some())
            .map(|(s, _)| *s)
            .collect()
    }

    /// The tickles of a round: an ACK the client does not expect (sequence and
    /// acknowledgement 0), to each session whose client has not answered yet.
    pub fn tickles(&self) -> Vec<Segment<'static>> {
        self.sessions
            .iter()
            .filter(|(_, (_, o))| *o == Outcome::Waiting)
            .map(|(s, _)| Segment {
                src: SocketAddr::new(self.vip, s.server_port),
                dst: s.client,
                seq: 0,
                ack: 0,
                flags: ACK,
                timestamps: None,
                payload: b"",
            })
            .collect()
    }

    /// A packet seen arriving: if it is the first answer of a waiting session's client, the
    /// segment to send it (its nudge as the session's next bytes; `None` without a nudge,
    /// then this node's kernel resets the session).
    pub fn on_seen(&mut self, seen: &Seen) -> Option<Segment<'_>> {
        // A reset means the client's kernel has no such session any more (nothing to take
        // over); anything else from the client carries the session's numbers.
        if seen.dst.ip() != self.vip || seen.flags & RST != 0 || seen.flags & ACK == 0 {
            return None;
        }
        let session = Session {
            server_port: seen.dst.port(),
            client: seen.src,
        };
        let (nudge, outcome) = self.sessions.get_mut(&session)?;
        if *outcome != Outcome::Waiting {
            return None;
        }
        let Some(nudge) = nudge.as_deref() else {
            *outcome = Outcome::Reset;
            return None;
        };
        *outcome = Outcome::Nudged;
        Some(Segment {
            src: seen.dst,
            dst: seen.src,
            // The client's acknowledgement is the next byte it expects from the server.
            seq: seen.ack,
            ack: seen.seq.wrapping_add(seen.payload_len as u32),
            flags: PSH | ACK,
            // The client's TSecr is the old server's last timestamp: ours follows it, so
            // the client's PAWS check accepts the segment.
            timestamps: seen.timestamps.map(|(val, ecr)| (ecr.wrapping_add(1), val)),
            payload: nudge,
        })
    }

    /// How many sessions are in each state: (nudged, reset, waiting).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |want| self.sessions.values().filter(|(_, o)| *o == want).count();
        (
            count(Outcome::Nudged),
            count(Outcome::Reset),
            count(Outcome::Waiting),
        )
    }

    /// Each session, for the log: `client→port outcome`, with `+nudge` where it had one.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (s, (nudge, outcome)) in &self.sessions {
            let what = match outcome {
                Outcome::Waiting => "never answered",
                Outcome::Nudged => "nudged",
                Outcome::Reset => "reset",
            };
            let sep = if out.is_empty() { "" } else { ", " };
            let plus = if nudge.is_some() { " +nudge" } else { "" };
            let _ = write!(out, "{sep}{}→{} {what}{plus}", s.client, s.server_port);
        }
        out
    }
}

/// The `iptables-restore --noflush` input (and which program: `iptables-restore` or
/// `ip6tables-restore`) that drops every packet of `held` sessions to the VIP on arrival:
/// the chain [`CHAIN`] in the `raw` table, emptied and filled, and with `jump` the jump to it,
/// first in `PREROUTING`. The jump matches only while the VIP is a local address (`addrtype`),
/// so the rules can wait on a standby, inert, and hold from the instant the VIP arrives.
pub fn hold_rules(vip: IpAddr, held: &[Session], jump: bool) -> (&'static str, String) {
    let (program, host) = match vip {
        IpAddr::V4(_) => ("iptables-restore", 32),
        IpAddr::V6(_) => ("ip6tables-restore", 128),
    };
    let mut input = format!("*raw\n:{CHAIN} - [0:0]\n");
    if jump {
        let _ = writeln!(
            input,
            "-I PREROUTING 1 -d {vip}/{host} -p tcp -m addrtype --dst-type LOCAL -j {CHAIN}"
        );
    }
    for s in held {
        let _ = writeln!(
            input,
            "-A {CHAIN} -s {}/{host} -p tcp -m tcp --sport {} --dport {} -j DROP",
            s.client.ip(),
            s.client.port(),
            s.server_port
        );
    }
    input.push_str("COMMIT\n");
    (program, input)
}

/// The commands (program, arguments) that remove the takeover's rules, in order; each may
/// fail when there is nothing to remove. `-w` waits for the xtables lock.
pub fn release_args(vip: IpAddr) -> Vec<(&'static str, Vec<String>)> {
    let (program, host) = match vip {
        IpAddr::V4(_) => ("iptables", 32),
        IpAddr::V6(_) => ("ip6tables", 128),
    };
    let args = |rest: &str| -> Vec<String> {
        ["-w", "-t", "raw"]
            .into_iter()
            .map(str::to_string)
            .chain(rest.split(' ').map(str::to_string))
            .collect()
    };
    vec![
        (
            program,
            args(&format!(
                "-D PREROUTING -d {vip}/{host} -p tcp -m addrtype --dst-type LOCAL -j {CHAIN}"
            )),
        ),
        (program, args(&format!("-F {CHAIN}"))),
        (program, args(&format!("-X {CHAIN}"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_tickle::s;

    fn answer(from: &str, to: &str, seq: u32, ack: u32, ts: Option<(u32, u32)>) -> Seen {
        Seen {
            src: from.parse().unwrap(),
            dst: to.parse().unwrap(),
            seq,
            ack,
            flags: ACK,
            timestamps: ts,
            payload_len: 0,
        }
    }

    fn plan() -> Plan {
        let vip = "10.0.0.100".parse().unwrap();
        Plan::new(
            vip,
            vec![
                (s(6641, "10.0.0.5:40122"), Some(b"NUDGE".to_vec())),
                (s(6642, "10.0.0.6:1"), None),
                (s(6642, "10.0.0.7:2"), Some(b"N2".to_vec())),
                (s(6642, "[2001:db8::5]:3"), Some(b"N3".to_vec())),
            ],
            &[s(6642, "10.0.0.7:2")].into(),
        )
    }

    #[test]
    fn local_sessions_and_the_other_family_are_left_alone() {
        let p = plan();
        assert_eq!(p.held(), vec![s(6641, "10.0.0.5:40122")]);
        let tickled: Vec<SocketAddr> = p.tickles().iter().map(|t| t.dst).collect();
        assert_eq!(
            tickled,
            vec![
                "10.0.0.5:40122".parse::<SocketAddr>().unwrap(),
                "10.0.0.6:1".parse().unwrap()
            ]
        );
        assert!(
            p.tickles()
                .iter()
                .all(|t| t.flags == ACK && t.seq == 0 && t.src.ip().to_string() == "10.0.0.100")
        );
    }

    #[test]
    fn an_answer_gets_the_nudge_in_sequence_once() {
        let mut p = plan();
        let a = answer(
            "10.0.0.5:40122",
            "10.0.0.100:6641",
            1000,
            7000,
            Some((55, 99)),
        );
        let seg = p.on_seen(&a).expect("the nudge");
        assert_eq!(
            (seg.src, seg.dst),
            (a.dst, a.src),
            "from the VIP to the client"
        );
        assert_eq!((seg.seq, seg.ack), (7000, 1000));
        assert_eq!(seg.flags, PSH | ACK);
        assert_eq!(seg.timestamps, Some((100, 55)));
        assert_eq!(seg.payload, b"NUDGE");
        assert!(p.on_seen(&a).is_none(), "once");
        assert_eq!(p.counts(), (1, 0, 1));
        assert_eq!(p.tickles().len(), 1, "no more tickles to it");
    }

    #[test]
    fn a_retransmission_is_acknowledged_and_wrapping_is_fine() {
        let mut p = plan();
        let mut a = answer("10.0.0.5:40122", "10.0.0.100:6641", u32::MAX - 1, 5, None);
        a.payload_len = 10;
        a.flags = PSH | ACK;
        let seg = p.on_seen(&a).unwrap();
        assert_eq!((seg.seq, seg.ack, seg.timestamps), (5, 8, None));
    }

    #[test]
    fn answers_without_a_nudge_or_from_strangers_send_nothing() {
        let mut p = plan();
        let no_nudge = answer("10.0.0.6:1", "10.0.0.100:6642", 1, 2, None);
        assert!(p.on_seen(&no_nudge).is_none());
        assert_eq!(p.counts(), (0, 1, 1));
        assert_eq!(
            p.describe(),
            "10.0.0.5:40122→6641 never answered +nudge, 10.0.0.6:1→6642 reset"
        );
        for stranger in [
            answer("10.0.0.5:40122", "10.0.0.100:6642", 1, 2, None), // other port
            answer("10.0.0.5:40123", "10.0.0.100:6641", 1, 2, None), // other client port
            answer("10.0.0.5:40122", "10.0.0.101:6641", 1, 2, None), // not the VIP
            answer("10.0.0.7:2", "10.0.0.100:6642", 1, 2, None),     // local session
        ] {
            assert!(p.on_seen(&stranger).is_none(), "{stranger:?}");
        }
        let mut rst = answer("10.0.0.5:40122", "10.0.0.100:6641", 1, 2, None);
        rst.flags = RST | ACK;
        assert!(
            p.on_seen(&rst).is_none(),
            "the client has no such session any more"
        );
        assert_eq!(p.counts(), (0, 1, 1));
    }

    #[test]
    fn rules_drop_only_the_held_sessions_and_come_off_again() {
        let vip: IpAddr = "10.0.0.100".parse().unwrap();
        let held = [s(6641, "10.0.0.5:40122"), s(6642, "10.0.0.6:1")];
        let (prog, input) = hold_rules(vip, &held, true);
        assert_eq!(prog, "iptables-restore");
        assert_eq!(
            input,
            "*raw\n:OVNDB-HA-TAKEOVER - [0:0]\n\
             -I PREROUTING 1 -d 10.0.0.100/32 -p tcp -m addrtype --dst-type LOCAL -j OVNDB-HA-TAKEOVER\n\
             -A OVNDB-HA-TAKEOVER -s 10.0.0.5/32 -p tcp -m tcp --sport 40122 --dport 6641 -j DROP\n\
             -A OVNDB-HA-TAKEOVER -s 10.0.0.6/32 -p tcp -m tcp --sport 1 --dport 6642 -j DROP\n\
             COMMIT\n"
        );
        let (_, refill) = hold_rules(vip, &held[..1], false);
        assert!(!refill.contains("PREROUTING"), "one jump only: {refill}");
        assert!(
            refill.contains(":OVNDB-HA-TAKEOVER - [0:0]"),
            "emptied first: {refill}"
        );
        let (prog6, input6) = hold_rules(
            "2001:db8::64".parse().unwrap(),
            &[s(6641, "[2001:db8::5]:9")],
            true,
        );
        assert_eq!(prog6, "ip6tables-restore");
        assert!(input6.contains("-d 2001:db8::64/128 -p tcp"), "{input6}");
        assert!(input6.contains("-s 2001:db8::5/128 -p tcp"), "{input6}");
        let release = release_args(vip);
        assert_eq!(release.len(), 3);
        assert!(
            release
                .iter()
                .all(|(p, a)| *p == "iptables" && a.iter().any(|x| x == CHAIN))
        );
        // The jump is deleted by the spec it was inserted with.
        let jump = "-d 10.0.0.100/32 -p tcp -m addrtype --dst-type LOCAL -j OVNDB-HA-TAKEOVER";
        assert!(input.contains(jump) && release[0].1.join(" ").ends_with(jump));
        assert_eq!(release_args("::1".parse().unwrap())[0].0, "ip6tables");
    }
}
