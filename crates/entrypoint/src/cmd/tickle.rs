//! The client-tickle thread (see `client_tickle` for why): every [`STEP`] it checks whether
//! this node holds the VIP (`getifaddrs`, no process started). While it does, it lists its
//! client sessions every `LIST_EVERY` through sock_diag and publishes them, with the nudges
//! the proxy keeps for them, to the other members with `attrd_updater --private`; when it has
//! just taken the VIP, it reads the list the old active left on this node and takes those
//! sessions over (`cmd/takeover.rs`): tickles at each of the takeover's rounds, nudges to the
//! clients that answer, the hold rules removed at the end. Every failure is logged and the
//! thread goes on; nothing here delays the VIP or the writes.

use super::proc::{checked, output};
use super::takeover::{self, Hold, Takeover};
use super::tcp_diag::Diag;
use ovnkube_db_ha::client_tickle::{
    ATTRIBUTE, Encoded, LIST_EVERY, Publisher, Rounds, Session, decode, encode, parse_query,
};
use ovnkube_db_ha::sync_proxy::Control;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The old active's sessions, each with its nudge if it has one.
type Inherited = Vec<(Session, Option<Vec<u8>>)>;

/// How often the thread looks at the VIP.
const STEP: Duration = Duration::from_millis(50);
/// How often a standby reads the published list to hold its sessions ahead of a takeover.
const PREPARE_EVERY: Duration = Duration::from_secs(2);
/// Limit of one `attrd_updater` run.
const CALL_LIMIT: Duration = Duration::from_secs(5);

ovnkube_db_ha::log_part!("client tickle");

/// What the supervisor shares with the thread.
#[derive(Debug, Default)]
struct Shared {
    quit: AtomicBool,
    /// The other members' node names.
    peers: Mutex<Vec<String>>,
}

/// The running thread.
pub struct TickleWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TickleWatch {
    /// Starts the thread for `vip` and the client ports `ports`; `me` is this node's name;
    /// `proxy` holds the sessions' nudges (none without the proxy: sessions are only reset).
    pub fn start(vip: IpAddr, ports: [u16; 2], me: String, proxy: Option<Arc<Control>>) -> Self {
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("client-tickle".into())
            .spawn(move || run(&s, vip, ports, &me, proxy.as_deref()))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        TickleWatch { shared, thread }
    }

    /// Replaces the member list (names; this node's own is left out by the caller or here).
    pub fn set_members(&self, me: &str, members: &[(String, IpAddr)]) {
        if let Ok(mut p) = self.shared.peers.lock() {
            *p = members
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| n != me)
                .collect();
        }
    }

    /// Stops the thread.
    pub fn stop(&mut self) {
        self.shared.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TickleWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether an interface here holds `vip` (`getifaddrs`: one netlink dump, no process; a bind
/// test would be fooled by `ip_nonlocal_bind`).
pub(super) fn held(vip: IpAddr) -> bool {
    nix::ifaddrs::getifaddrs().is_ok_and(|mut addrs| {
        addrs.any(|a| {
            a.address.as_ref().is_some_and(|s| {
                s.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip())) == Some(vip)
                    || s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())) == Some(vip)
            })
        })
    })
}

fn run(shared: &Shared, vip: IpAddr, ports: [u16; 2], me: &str, proxy: Option<&Control>) {
    // Rules a killed predecessor left behind would hold sessions for good.
    takeover::release(vip);
    let mut diag: Option<Diag> = None;
    let mut publisher = Publisher::default();
    let mut rounds = Rounds::default();
    let mut listed_at: Option<Instant> = None;
    let mut current: Option<Takeover> = None;
    let mut hold = Hold::default();
    let mut prepared_at: Option<Instant> = None;
    // The list as last read while a standby: the takeover's fallback when its own read fails
    // (the attribute daemons are busy with the lost member just then).
    let mut prepared: Inherited = Vec::new();
    let mut failing = false;
    while !shared.quit.load(Ordering::SeqCst) {
        let now = Instant::now();
        let is_held = held(vip);
        if rounds.step(now, is_held) {
            if rounds.first_round() {
                let local = sessions(&mut diag, vip, ports).unwrap_or_default();
                // An empty list is the old active's word (its clients left in a handover).
                let list = match read_list(me) {
                    Ok(list) => list,
                    Err(e) => {
                        log(format!("reading {ATTRIBUTE} at the takeover: {e}"));
                        if !prepared.is_empty() {
                            log(format!(
                                "taking over the {} sessions of the list read as a standby",
                                prepared.len()
                            ));
                        }
                        std::mem::take(&mut prepared)
                    }
                };
                let t = Takeover::begin(vip, ports, list, &local, now, &mut hold);
                current = (!t.is_empty()).then_some(t);
            }
            if let Some(t) = &current {
                t.round();
            }
        }
        if current.is_some()
            && (!is_held || rounds.over(now))
            && let Some(t) = current.take()
        {
            t.finish(vip, &mut hold);
        }
        if is_held {
            // Rules left from the standby's days with nothing to take over.
            if current.is_none() && hold.is_set() {
                hold.release(vip);
            }
            prepared_at = None;
            prepared.clear();
        } else if prepared_at.is_none_or(|at| now.duration_since(at) >= PREPARE_EVERY) {
            // Inert until the VIP is here, then holding from its first packet.
            prepared_at = Some(now);
            if let Ok(list) = read_list(me) {
                prepared = list;
            }
            hold.set(vip, &takeover::to_hold(vip, prepared.clone()));
        }
        if !is_held {
            publisher.reset();
            listed_at = None;
        } else if current.is_none()
            && listed_at.is_none_or(|at| now.duration_since(at) >= LIST_EVERY)
        {
            // Not during a takeover: its answers are read between these calls.
            listed_at = Some(now);
            match sessions(&mut diag, vip, ports) {
                Ok(list) => {
                    failing = false;
                    let peers = shared.peers.lock().map(|p| p.clone()).unwrap_or_default();
                    let nudges = proxy.map(Control::nudges).unwrap_or_default();
                    let encoded = encode(&list, &nudges);
                    if publisher.due(now, &encoded.value, &peers) && publish(&encoded, &peers) {
                        publisher.published(now, encoded.value, peers);
                    }
                }
                Err(e) => {
                    if !failing {
                        log(format!("cannot list the client sessions: {e}"));
                    }
                    failing = true;
                    diag = None;
                }
            }
        }
        match &mut current {
            Some(t) => t.listen(STEP),
            None => std::thread::sleep(STEP),
        }
    }
    if let Some(t) = current.take() {
        t.finish(vip, &mut hold);
    }
    hold.release(vip);
}

/// This node's client sessions on the VIP's client ports.
fn sessions(
    diag: &mut Option<Diag>,
    vip: IpAddr,
    ports: [u16; 2],
) -> std::io::Result<BTreeSet<Session>> {
    let mut out = BTreeSet::new();
    for port in ports {
        let d = match diag {
            Some(d) => d,
            None => diag.insert(Diag::open()?),
        };
        for c in d.established_from_port(port)? {
            if c.local.ip() == vip {
                out.insert(Session {
                    server_port: port,
                    client: c.remote,
                });
            }
        }
    }
    Ok(out)
}

/// Publishes `encoded` on every peer's node; `true` if every write worked.
fn publish(encoded: &Encoded, peers: &[String]) -> bool {
    let value = &encoded.value;
    if encoded.left_out > 0 {
        log(format!(
            "{} client sessions do not fit the attribute and will not be tickled",
            encoded.left_out
        ));
    }
    if encoded.nudges_left_out > 0 {
        log(format!(
            "the nudges of {} client sessions do not fit the attribute: they will be reset, not taken over",
            encoded.nudges_left_out
        ));
    }
    let mut ok = true;
    for peer in peers {
        let args = [
            "--private",
            "--node",
            peer,
            "--name",
            ATTRIBUTE,
            "--update",
            value,
        ];
        if let Err(e) = checked("attrd_updater", &args, None, CALL_LIMIT) {
            log(format!("publishing the client sessions on {peer}: {e:#}"));
            ok = false;
        }
    }
    ok
}

/// The sessions the old active published on this node, each with its nudge if it has one
/// (empty if unset); why not, if the attribute daemon could not be asked.
fn read_list(me: &str) -> Result<Inherited, String> {
    let args = ["--query", "--node", me, "--name", ATTRIBUTE];
    match output("attrd_updater", &args, None, CALL_LIMIT) {
        Ok(out) if out.status.success() => Ok(decode(
            parse_query(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default(),
        )),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("does not exist") => {
            Ok(Vec::new())
        }
        Ok(out) => Err(format!(
            "attrd_updater --query: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}
