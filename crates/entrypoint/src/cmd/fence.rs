//! The replication fence thread (see `replication_fence` for why): every [`POLL`] it asks the
//! kernel (sock_diag, filtered by port) for the established connections on each database's
//! replication port — its replicas, exactly — and when none of them has acknowledged progress
//! for the stall limit it closes that database's client listeners and sessions through the
//! server's control socket (`ovsdb-server/remove-remote`, every network remote but the
//! replication listener, so the replicas stay connected), opening them again (`add-remote`,
//! retried every poll until it works or the server is gone) when the fence lifts or the
//! watcher stops. From the same samples it tracks each replica's lag (`replica_lag`) and
//! publishes which nodes are caught up as a transient node attribute, through a publisher
//! thread of its own so that `crm_attribute`'s run time never delays a poll. Only the copy at
//! the VIP has replica connections, so the thread acts on nothing elsewhere.

use super::pcmk::{clear_caught_up, cluster_status, set_caught_up};
use super::quorum::QuorumWatch;
use super::tcp_diag::Diag;
use super::vip;
use ovnkube_db_ha::crm_mon::ClusterStatus;
use ovnkube_db_ha::lag_gate::unpromotable_among;
use ovnkube_db_ha::replica_lag::{ATTRIBUTE, CaughtUp, LAG_LIMIT, LagTracker, Stream, drained};
use ovnkube_db_ha::replication_fence::{Change, Fence, Replica};
use ovnkube_db_ha::sync_proxy::Control;
use ovsdb_unixctl::{Client, Command};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the replicas are looked at (a fraction of the stall limit).
const POLL: Duration = Duration::from_millis(20);
/// How often the cluster is looked at while the proxy holds replies for a replica host.
const CONFIRM_POLL: Duration = Duration::from_millis(150);
/// Limit of one control-socket call.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// Database `i` (0 NB, 1 SB): its name in the log and its server's control socket (the
/// agent's default `run_dir`).
fn control(i: usize) -> (&'static str, std::path::PathBuf) {
    let db = ovn_ha_contract::Db::BOTH[i];
    (db.label(), db.ctl(ovn_ha_contract::default_run_dir()))
}

ovnkube_db_ha::log_part!("replication fence");

/// What the supervisor shares with the thread.
#[derive(Debug, Default)]
struct Shared {
    quit: AtomicBool,
    /// A handover asked to stop taking writes until the end.
    drain: AtomicBool,
    /// Set once writes are stopped and every caught-up replica has all of them.
    drained: AtomicBool,
    /// This node's name.
    me: String,
    /// The members (name, ring address).
    members: Mutex<Vec<(String, IpAddr)>>,
    /// Raised by the quorum watcher while this node has no quorum.
    quorum_lost: Arc<AtomicBool>,
    /// The semi-synchronous proxy, which holds the client listeners.
    proxy: Option<Arc<Control>>,
}

/// The running fence thread, and the quorum watcher whose flag it acts on.
pub struct FenceWatch {
    shared: Arc<Shared>,
    quorum: QuorumWatch,
    thread: Option<JoinHandle<()>>,
    /// Tells the proxy when a replica that stopped confirming cannot be promoted any more.
    confirmer: Option<JoinHandle<()>>,
}

impl FenceWatch {
    /// Starts watching the replica connections on the replication ports (NB, SB) and this
    /// node's quorum; `me` is this node's name, `vip` the address to release on a quorum loss,
    /// `proxy` the semi-synchronous proxy's control (its client listeners close with the
    /// fence, its slow replicas are not caught up, it shares the quorum flag).
    pub fn start(
        replication_ports: [u16; 2],
        me: String,
        vip: IpAddr,
        proxy: Option<Arc<Control>>,
    ) -> Self {
        let shared = Arc::new(Shared {
            quorum_lost: proxy
                .as_ref()
                .map(|p| Arc::clone(&p.quorum_lost))
                .unwrap_or_default(),
            proxy,
            me: me.clone(),
            ..Shared::default()
        });
        let quorum = QuorumWatch::start(Arc::clone(&shared.quorum_lost));
        let confirmer = shared.proxy.as_ref().and_then(|control| {
            let (s, c) = (Arc::clone(&shared), Arc::clone(control));
            std::thread::Builder::new()
                .name("unpromotable-watch".into())
                .spawn(move || watch_unpromotable(&s, &c))
                .map_err(|e| log(format!("cannot start the unpromotable watch: {e}")))
                .ok()
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("replication-fence".into())
            .spawn(move || Watcher::new(replication_ports, me, vip, s.proxy.clone()).run(&s))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        FenceWatch {
            shared,
            quorum,
            thread,
            confirmer,
        }
    }

    /// Replaces the member list (after a membership change).
    pub fn set_members(&self, members: Vec<(String, IpAddr)>) {
        if let Some(p) = &self.shared.proxy {
            p.set_peers(
                members
                    .iter()
                    .filter(|(n, _)| *n != self.shared.me)
                    .map(|(_, ip)| *ip)
                    .collect(),
            );
        }
        if let Ok(mut m) = self.shared.members.lock() {
            *m = members;
        }
    }

    /// Hands the proxy one look at the cluster (the main loop's): which other members cannot
    /// be promoted now.
    pub fn observe(&self, status: &ClusterStatus) {
        if let Some(p) = &self.shared.proxy {
            judge_peers(&self.shared, p, status);
        }
    }

    /// For a handover: stop taking writes (client listeners closed until the thread stops).
    pub fn drain(&self) {
        self.shared.drain.store(true, Ordering::SeqCst);
    }

    /// Whether, since [`drain`](Self::drain), every caught-up replica acknowledged every write.
    pub fn drained(&self) -> bool {
        self.shared.drained.load(Ordering::SeqCst)
    }

    /// Stops the threads, opening any closed fence first.
    pub fn stop(&mut self) {
        self.quorum.stop();
        self.shared.quit.store(true, Ordering::SeqCst);
        for t in [self.thread.take(), self.confirmer.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

impl Drop for FenceWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The replicas on `port` now (for the fence, and for the lag tracker); `None` (logged once
/// per kind of failure) if the kernel could not be asked.
fn replicas(
    diag: &mut Option<Diag>,
    port: u16,
    failing: &mut bool,
) -> Option<(Vec<Replica>, Vec<Stream>)> {
    let result = match diag {
        Some(d) => d.established_from_port(port),
        None => Diag::open().and_then(|d| diag.insert(d).established_from_port(port)),
    };
    match result {
        Ok(conns) => {
            *failing = false;
            Some(
                conns
                    .into_iter()
                    .filter_map(|c| {
                        let info = c.info?;
                        let acked = info.bytes_acked?;
                        Some((
                            Replica {
                                remote: c.remote,
                                unacked: info.unacked,
                                bytes_acked: acked,
                                rto: Duration::from_micros(u64::from(info.rto_us)),
                                lagging: false,
                            },
                            Stream {
                                remote: c.remote,
                                written: acked + u64::from(c.wqueue),
                                acked,
                            },
                        ))
                    })
                    .unzip(),
            )
        }
        Err(e) => {
            if !*failing {
                log(format!("cannot list the replicas on port {port}: {e}"));
            }
            *failing = true;
            *diag = None;
            None
        }
    }
}

/// The thread's state.
struct Watcher {
    ports: [u16; 2],
    me: String,
    vip: IpAddr,
    diag: Option<Diag>,
    failing: bool,
    fences: [Fence; 2],
    trackers: [LagTracker; 2],
    caught_up: CaughtUp,
    publish: Option<Sender<Marks>>,
    /// Client remotes removed per database (by the fence or the drain).
    removed: [Vec<String>; 2],
    /// Per database: closed for the drain.
    drain_closed: [bool; 2],
    /// Closed (and the VIP released) for lack of quorum.
    quorum_closed: bool,
    proxy: Option<Arc<Control>>,
}

impl Watcher {
    fn new(ports: [u16; 2], me: String, vip: IpAddr, proxy: Option<Arc<Control>>) -> Self {
        Watcher {
            ports,
            me,
            vip,
            diag: None,
            failing: false,
            fences: Default::default(),
            trackers: Default::default(),
            caught_up: CaughtUp::default(),
            publish: publisher(),
            removed: Default::default(),
            drain_closed: [false; 2],
            quorum_closed: false,
            proxy,
        }
    }

    fn run(mut self, shared: &Shared) {
        while !shared.quit.load(Ordering::SeqCst) {
            self.poll(shared);
            std::thread::sleep(POLL);
        }
        for (i, r) in self.removed.iter_mut().enumerate() {
            if !r.is_empty() {
                open(i, r, "the watcher stops", self.proxy.as_deref());
            }
        }
    }

    fn poll(&mut self, shared: &Shared) {
        let draining = shared.drain.load(Ordering::SeqCst);
        let no_quorum = shared.quorum_lost.load(Ordering::SeqCst);
        if no_quorum && !self.quorum_closed {
            self.quorum_closed = true;
            // Both proxies first: a slow control-socket call for one database must not keep
            // the other's clients writing (measured: SB open 380 ms longer than NB).
            if let Some(p) = &self.proxy {
                p.close(0);
                p.close(1);
            }
            for i in 0..2 {
                self.close(i, "this node lost quorum");
            }
            vip::release(self.vip, log);
            // This copy's own mark is stale now: its attribute daemon would hand it back to the
            // majority when the partition heals (a node's own values win attrd's sync;
            // measured: the old active promoted again, the new active's writes lost). The
            // active marks itself lagging. A standby clears its mark instead: an unset own
            // value wins the sync as well, so it takes back neither a stale "caught up" (it may
            // have missed writes while cut off) nor a false "lagging", which made the other
            // standby's gate see no caught-up peer and promote its lagging copy (measured:
            // 50–53 acknowledged writes per writer lost when a caught-up standby's corosync
            // flapped as the active was cut off). The others' memories keep its last mark.
            // Marks of other nodes are left alone: the new active owns them. Nothing more is
            // published until quorum returns.
            if let Some(tx) = &self.publish {
                let own = self.caught_up.publishing().then_some(false);
                let _ = tx.send(vec![(self.me.clone(), own)]);
            }
            self.caught_up = CaughtUp::default();
        } else if !no_quorum && self.quorum_closed {
            self.quorum_closed = false;
            if !draining {
                for i in 0..2 {
                    if !self.fences[i].is_closed() {
                        open(
                            i,
                            &mut self.removed[i],
                            "quorum is back",
                            self.proxy.as_deref(),
                        );
                    }
                }
            }
        }
        let holding = draining || self.quorum_closed;
        let mut lags = Vec::with_capacity(2);
        let mut all_streams = Vec::with_capacity(2);
        for i in 0..2 {
            if draining && !self.drain_closed[i] {
                self.close(i, "a handover stops writes here");
                self.drain_closed[i] = true;
            } else if !holding && !self.removed[i].is_empty() && !self.fences[i].is_closed() {
                // An earlier reopen failed in part: try again.
                open(i, &mut self.removed[i], "retrying", self.proxy.as_deref());
            }
            let Some((replicas, streams)) =
                replicas(&mut self.diag, self.ports[i], &mut self.failing)
            else {
                continue;
            };
            let mut lag = self.trackers[i].step(Instant::now(), &streams);
            // A replica the proxy's rounds stopped waiting for lacks acknowledged writes,
            // whatever its TCP acknowledgements say.
            if let Some(p) = &self.proxy {
                let excluded = p.excluded();
                for (remote, l) in lag.iter_mut() {
                    if excluded.contains(remote) {
                        *l = (*l).max(LAG_LIMIT);
                    }
                }
            }
            let replicas: Vec<Replica> = replicas
                .into_iter()
                .map(|r| Replica {
                    lagging: lag.get(&r.remote).is_some_and(|l| *l >= LAG_LIMIT),
                    ..r
                })
                .collect();
            lags.push(lag);
            all_streams.push(streams);
            match self.fences[i].step(Instant::now(), &replicas) {
                Some(Change::Close(why)) => self.close(i, &why),
                Some(Change::Open(why)) if !holding => {
                    open(i, &mut self.removed[i], &why, self.proxy.as_deref());
                }
                _ => {}
            }
        }
        if lags.len() < 2 {
            return;
        }
        let members = shared.members.lock().map(|m| m.clone()).unwrap_or_default();
        // Only a copy with quorum speaks for the cluster, and only while it is the active:
        // from a handover's drain on, the marks stay as the drain found them. The copy is
        // demoted while it still runs (`handover::move_promotion_away`), and the replicas then
        // leave it for the new active: marking them lagging for that closed the new
        // active's promotion gate and moved the copy a second time (measured: 5 s of replies
        // without a confirmation).
        let changes = if self.quorum_closed || draining {
            Vec::new()
        } else {
            self.caught_up
                .step(Instant::now(), &self.me, &members, &lags)
        };
        if !changes.is_empty()
            && let Some(tx) = &self.publish
        {
            let _ = tx.send(changes.into_iter().map(|(n, v)| (n, Some(v))).collect());
        }
        if draining && !shared.drained.load(Ordering::SeqCst) {
            let candidates = self.caught_up.caught_up_peers(&self.me);
            if drained(&candidates, &members, &all_streams) {
                log(format!(
                    "writes stopped for the handover; {} acknowledged every write",
                    candidates.join(", ")
                ));
                shared.drained.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Removes the client remotes of database `i`, remembering them for the reopen.
    fn close(&mut self, i: usize, why: &str) {
        ovnkube_db_ha::metrics::EVENTS.fence_closed();
        let (name, ctl) = control(i);
        if let Some(p) = &self.proxy {
            p.close(i);
        }
        match close(&ctl, self.ports[i]) {
            Ok(r) => {
                log(format!(
                    "{name}: not taking writes: {why}; closed {}",
                    r.join(", ")
                ));
                self.removed[i].extend(r);
            }
            Err(e) => log(format!("{name}: could not close ({why}): {e}")),
        }
    }
}

/// While the proxy holds replies for hosts (replicas that stopped confirming, members with no
/// replica link), looks at the cluster at once and then every [`CONFIRM_POLL`], and tells the
/// proxy which members cannot be promoted now (`judge_peers`).
fn watch_unpromotable(shared: &Shared, control: &Control) {
    let mut failing = false;
    while !shared.quit.load(Ordering::SeqCst) {
        if control.awaiting().is_empty() {
            control.wait_look_wanted(CONFIRM_POLL);
            continue;
        }
        match cluster_status() {
            Ok(status) => {
                failing = false;
                judge_peers(shared, control, &status);
            }
            Err(e) if !failing => {
                failing = true;
                log(format!("cannot look at the cluster: {e:#} (retrying)"));
            }
            Err(_) => {}
        }
        control.wait_look_wanted(CONFIRM_POLL);
    }
}

/// From one look, tells the proxy of every other member whether it can be promoted now
/// (`lag_gate::unpromotable_among`: offline — and not in corosync's membership, so not merely
/// joining the DC again —, in standby, or its gate closed); a host the rounds wait
/// on that is no member at all cannot be promoted by this cluster either. Releases are logged.
fn judge_peers(shared: &Shared, control: &Control, status: &ClusterStatus) {
    let members = shared.members.lock().map(|m| m.clone()).unwrap_or_default();
    let awaiting = control.awaiting();
    // Asked only when crm_mon shows another member offline: joining or gone?
    let offline = members
        .iter()
        .any(|(n, _)| *n != shared.me && !status.nodes.iter().any(|s| s.name == *n && s.online));
    let corosync = offline.then(corosync_members).flatten();
    for (name, host) in members.iter().filter(|(n, _)| *n != shared.me) {
        match unpromotable_among(status, corosync.as_ref(), name) {
            Some(why) => {
                if awaiting.contains(host) {
                    log(format!(
                        "{host}: {name} {why}: replies held for it are released"
                    ));
                }
                control.unpromotable(*host);
            }
            None => control.promotable(*host),
        }
    }
    for host in awaiting
        .iter()
        .filter(|h| !members.iter().any(|(_, ip)| ip == *h))
    {
        log(format!(
            "{host}: is not a cluster member: replies held for it are released"
        ));
        control.unpromotable(*host);
    }
}

/// The node names in corosync's membership now (`corosync-quorumtool -l`), if it answers.
fn corosync_members() -> Option<std::collections::BTreeSet<String>> {
    let text = super::proc::checked(
        "corosync-quorumtool",
        &["-l"],
        None,
        std::time::Duration::from_secs(2),
    )
    .ok()?;
    let names = ovnkube_db_ha::quorum_watch::member_names(&text);
    (!names.is_empty()).then_some(names)
}

/// Starts the thread that writes the caught-up attribute; `None` (logged) if it cannot start.
/// The thread ends when the sender is dropped.
fn publisher() -> Option<Sender<Marks>> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("caught-up-publisher".into())
        .spawn(move || publish(&rx))
        .map_err(|e| log(format!("cannot start the caught-up publisher: {e}")))
        .ok()
        .map(|_| tx)
}

/// Marks to write: per node, caught up or not, or `None` to clear the mark.
type Marks = Vec<(String, Option<bool>)>;

/// One mark as the log shows it: `1`, `0`, or `unset`.
fn mark_text(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "1",
        Some(false) => "0",
        None => "unset",
    }
}

/// Writes each node's mark (`None`: clears it), the latest per node, logging changes.
fn publish(rx: &Receiver<Marks>) {
    // What was last set, to log changes only (the active republishes every mark every 2 s).
    let mut set: Marks = Vec::new();
    while let Ok(first) = rx.recv() {
        // Only the latest value per node matters; this node's own comes first.
        let mut latest: Marks = Vec::new();
        for (node, v) in first.into_iter().chain(rx.try_iter().flatten()) {
            match latest.iter_mut().find(|(n, _)| *n == node) {
                Some(slot) => slot.1 = v,
                None => latest.push((node, v)),
            }
        }
        for (node, v) in latest {
            let written = match v {
                Some(b) => set_caught_up(&node, b),
                None => clear_caught_up(&node),
            };
            match written {
                Ok(()) => {
                    let before = set.iter_mut().find(|(n, _)| *n == node);
                    match before {
                        Some(slot) if slot.1 == v => {}
                        Some(slot) => {
                            slot.1 = v;
                            log(format!("{ATTRIBUTE}={} on {node}", mark_text(v)));
                        }
                        None => {
                            log(format!("{ATTRIBUTE}={} on {node}", mark_text(v)));
                            set.push((node, v));
                        }
                    }
                }
                Err(e) => log(format!("{e:#}")),
            }
        }
    }
}

/// Whether a remote lets clients write over the network: not the local unix socket, not the
/// replication listener on `replication_port` (`ptcp:PORT[:ADDR]` or `pssl:…`).
fn is_client_listener(remote: &str, replication_port: u16) -> bool {
    if remote.is_empty() || remote.starts_with("punix:") || remote.starts_with("unix:") {
        return false;
    }
    let port = remote
        .strip_prefix("ptcp:")
        .or_else(|| remote.strip_prefix("pssl:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|p| p.parse::<u16>().ok());
    port != Some(replication_port)
}

/// Removes every client remote of the server; returns what it removed.
fn close(ctl: &std::path::Path, replication_port: u16) -> Result<Vec<String>, String> {
    let mut c = Client::connect(ctl, CALL_LIMIT).map_err(|e| e.to_string())?;
    let list = c.call(&Command::ListRemotes).map_err(|e| e.to_string())?;
    let mut removed = Vec::new();
    for remote in list
        .lines()
        .map(str::trim)
        .filter(|r| is_client_listener(r, replication_port))
    {
        match c.call(&Command::RemoveRemote(remote)) {
            Ok(_) => removed.push(remote.to_string()),
            Err(e) => log(format!("remove-remote {remote}: {e}")),
        }
    }
    Ok(removed)
}

/// Adds the removed remotes back; keeps those that failed for the next poll. A server that is
/// gone (stopped after the quorum loss) has nothing to reopen.
fn open(i: usize, removed: &mut Vec<String>, why: &str, proxy: Option<&Control>) {
    let (name, ctl) = control(i);
    if let Some(p) = proxy {
        p.open(i);
    }
    let retry = why == "retrying";
    let mut c = match Client::connect(&ctl, CALL_LIMIT) {
        Ok(c) => c,
        Err(e) => {
            log(format!("{name}: not reopened ({why}): {e}"));
            removed.clear();
            return;
        }
    };
    let mut errors = Vec::new();
    removed.retain(|r| match c.call(&Command::AddRemote(r)) {
        Ok(_) => false,
        Err(e) => {
            errors.push(format!("{r}: {e}"));
            true
        }
    });
    if errors.is_empty() {
        log(format!("{name}: taking writes again ({why})"));
    } else if !retry {
        log(format!(
            "{name}: reopening ({why}) partly failed, retrying every {POLL:?}: {}",
            errors.join("; ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_listeners() {
        for (remote, client) in [
            ("ptcp:6641", true),
            ("ptcp:6641:198.18.0.100", true),
            ("db:OVN_Northbound,NB_Global,connections", true),
            ("pssl:6641:[::]", true),
            ("ptcp:6643:198.18.0.100", false),
            ("pssl:6643:[2001:db8::1]", false),
            ("ptcp:6643", false),
            ("punix:/var/run/ovn/ovnnb_db.sock", false),
            ("", false),
        ] {
            assert_eq!(is_client_listener(remote, 6643), client, "{remote}");
        }
    }
}
