//! The I/O of a session takeover (`session_takeover` decides): the hold rules through
//! `iptables-restore`, a raw TCP socket bound to the VIP that sends the tickles and nudges,
//! and a packet socket, filtered in the kernel to TCP for the VIP's client ports
//! (`tcp_segment::capture_filter`), that sees the clients' answers before netfilter drops
//! them. Every failure is logged and the takeover goes on with what it has: without rules or
//! sockets it degrades to a plain tickle, never to a delay of the VIP or of a write.

use super::proc::{checked, output};
use ovnkube_db_ha::client_tickle::Session;
use ovnkube_db_ha::session_takeover::{Plan, hold_rules, release_args};
use ovnkube_db_ha::tcp_segment::{Segment, capture_filter, parse};
use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Limit of one iptables run.
const CALL_LIMIT: Duration = Duration::from_secs(5);
/// `ETH_P_ALL`: a packet socket sees packets before netfilter (and the hold rules) drops them.
const ETH_P_ALL: u16 = 0x0003;
/// Tickles per session per round (one may cross the client's ARP update).
const TICKLES: usize = 2;

ovnkube_db_ha::log_part!("session takeover");

/// The hold rules on this node, as this thread last installed them.
#[derive(Debug, Default)]
pub struct Hold {
    /// The jump from `PREROUTING` is in place.
    jump: bool,
    /// The sessions held, if rules are installed.
    held: Option<Vec<Session>>,
    /// The last install failed (logged once per streak).
    failing: bool,
}

impl Hold {
    /// Holds exactly `held` (no rules at all when empty); `true` if the rules are in place.
    pub fn set(&mut self, vip: IpAddr, held: &[Session]) -> bool {
        if held.is_empty() {
            self.release(vip);
            return true;
        }
        if self.held.as_deref() == Some(held) {
            return true;
        }
        let (program, input) = hold_rules(vip, held, !self.jump);
        match checked(program, &["--noflush", "-w"], Some(&input), CALL_LIMIT) {
            Ok(_) => {
                self.jump = true;
                self.held = Some(held.to_vec());
                self.failing = false;
                true
            }
            Err(e) => {
                if !self.failing {
                    log(format!(
                        "cannot hold the sessions (they are reset instead): {e:#}"
                    ));
                }
                self.failing = true;
                false
            }
        }
    }

    /// Whether any rule is installed.
    pub fn is_set(&self) -> bool {
        self.jump || self.held.is_some()
    }

    /// Removes the rules (what is left of the old sessions is reset by this node's kernel
    /// from now on).
    pub fn release(&mut self, vip: IpAddr) {
        if self.is_set() {
            release(vip);
        }
        self.jump = false;
        self.held = None;
    }
}

/// The sessions of `inherited` that a takeover here would hold (the standby's rules).
pub fn to_hold(vip: IpAddr, inherited: Vec<(Session, Option<Vec<u8>>)>) -> Vec<Session> {
    Plan::new(vip, inherited, &BTreeSet::new()).held()
}

/// One takeover in progress.
pub struct Takeover {
    plan: Plan,
    raw: Option<Socket>,
    capture: Option<Socket>,
}

impl Takeover {
    /// Starts taking over `inherited` (the old active's published sessions), leaving alone
    /// the sessions in `local` (this node's own): holds the sessions that have a nudge and
    /// opens the sockets.
    /// `seen` is when this node saw the VIP arrive (for the log); `hold` the rules already in
    /// place, refilled here with the sessions of this list.
    pub fn begin(
        vip: IpAddr,
        ports: [u16; 2],
        inherited: Vec<(Session, Option<Vec<u8>>)>,
        local: &BTreeSet<Session>,
        seen: Instant,
        hold: &mut Hold,
    ) -> Self {
        let plan = Plan::new(vip, inherited, local);
        let held = plan.held();
        let rules = hold.set(vip, &held) && !held.is_empty();
        let capture = if rules {
            open_capture(vip, ports)
                .map_err(|e| log(format!("cannot see the clients' answers: {e}")))
                .ok()
        } else {
            None
        };
        let raw = open_raw(vip)
            .map_err(|e| log(format!("cannot send tickles: {e}")))
            .ok();
        if !plan.is_empty() {
            log(format!(
                "took the VIP: {} client sessions of the old active, {} to take over with a nudge (list read, rules refilled {} ms after the VIP was seen)",
                plan.tickles().len(),
                held.len(),
                seen.elapsed().as_millis()
            ));
        }
        Takeover { plan, raw, capture }
    }

    /// Whether there is nothing to do (no session inherited).
    pub fn is_empty(&self) -> bool {
        self.plan.is_empty()
    }

    /// One round of tickles to the sessions that have not answered.
    pub fn round(&self) {
        let Some(raw) = &self.raw else { return };
        for t in self.plan.tickles() {
            for _ in 0..TICKLES {
                send(raw, &t);
            }
        }
    }

    /// Reads the clients' answers for `wait` (or sleeps it without a capture socket) and
    /// sends each answering held session its nudge.
    pub fn listen(&mut self, wait: Duration) {
        let Some(capture) = &self.capture else {
            std::thread::sleep(wait);
            return;
        };
        let until = Instant::now() + wait;
        let mut buf = [0u8; 2048];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let _ = capture.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let n = match (&*capture).read(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    log(format!("reading the clients' answers: {e}"));
                    self.capture = None;
                    std::thread::sleep(left);
                    return;
                }
            };
            let Some(seen) = parse(&buf[..n]) else {
                continue;
            };
            if let (Some(segment), Some(raw)) = (self.plan.on_seen(&seen), &self.raw) {
                send(raw, &segment);
            }
        }
    }

    /// Ends the takeover: removes the hold rules (what is left of the old sessions is reset
    /// by this node's kernel from now on) and logs what became of the sessions.
    pub fn finish(self, vip: IpAddr, hold: &mut Hold) {
        hold.release(vip);
        let (nudged, reset, waiting) = self.plan.counts();
        log(format!(
            "done: {nudged} sessions nudged to reconnect at once, {reset} reset, {waiting} never answered ({})",
            self.plan.describe()
        ));
    }
}

/// Removes the hold rules, wherever a takeover left them (also at start: a pod killed during
/// a takeover leaves them on the node).
pub fn release(vip: IpAddr) {
    for (program, args) in release_args(vip) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = output(program, &args, None, CALL_LIMIT);
    }
}

/// A raw TCP socket whose segments leave from the VIP.
fn open_raw(vip: IpAddr) -> std::io::Result<Socket> {
    let raw = Socket::new(
        Domain::for_address(SocketAddr::new(vip, 0)),
        Type::RAW,
        Some(Protocol::TCP),
    )?;
    raw.bind(&SockAddr::from(SocketAddr::new(vip, 0)))?;
    Ok(raw)
}

/// A packet socket that sees only TCP packets to the VIP's client ports.
fn open_capture(vip: IpAddr, ports: [u16; 2]) -> std::io::Result<Socket> {
    let capture = Socket::new(
        Domain::PACKET,
        Type::DGRAM,
        Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
    )?;
    let filter: Vec<SockFilter> = capture_filter(vip, ports)
        .into_iter()
        .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect();
    capture.attach_filter(&filter)?;
    Ok(capture)
}

/// Sends one segment (a failure is logged once per call; the next round tries again).
fn send(raw: &Socket, segment: &Segment<'_>) {
    let bytes = match segment.encode() {
        Ok(b) => b,
        Err(e) => {
            log(format!("not sending to {}: {e}", segment.dst));
            return;
        }
    };
    // A raw socket's destination port is unused (the kernel reads it from the TCP header).
    let to = SockAddr::from(SocketAddr::new(segment.dst.ip(), 0));
    if let Err(e) = raw.send_to(&bytes, &to) {
        log(format!("sending to {}: {e}", segment.dst));
    }
}
