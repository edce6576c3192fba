//! The chaos runner (I/O, kept thin): brings up a local cluster of its own ([`site`]), starts
//! writers through the VIP on the machine and inside every host (small writes, now and then a
//! 300 KiB one that overwrites a small ring of ballast switches, so the data stays bounded),
//! a reader that records every name it sees through the VIP, and the 20 ms
//! writability sampler ([`crate::eyes`]), then applies the
//! schedule one fault at a time — check the victim is the active, apply, hold, recover (links
//! restored, rules cleared, exited pods restarted as a kubelet would), wait for stable
//! convergence, pause — records everything as a [`history`](super::history), writes the
//! history file, runs the [checker](super::check) and tears the cluster down by name, also
//! when it fails or panics (a guard). Every loop is bounded in count and time.
//!
//! The caller holds the e2e lock (`/run/lock/ovn-ha-e2e.lock`) so that no other local cluster
//! test runs at the same time.

use super::check::{self, Verdict};
use super::history::{self, Event, HostRoles, Role};
use super::schedule::{self, Fault, FaultKind};
use crate::cluster::{self, LocalError, Reporter, Site, UpOptions};
use crate::eyes::Eyes;
use crate::faults;
use crate::observe::{self, Copy, HostView};
use crate::ovsdb_rpc;
use crate::writer::{Writer, WriterSpec};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Hosts of the chaos cluster.
pub const HOSTS: usize = 3;

/// The longest wait for convergence after a fault's recovery (the checker's bound is
/// [`check::Bounds::converge_ms`]; past this the run stops: the cluster is stuck).
const CONVERGE_WAIT: Duration = Duration::from_secs(90);
/// How long convergence must hold.
const STABLE: Duration = Duration::from_secs(1);
/// The longest wait for a pod to exit after a fault that ends it.
const EXIT_WAIT: Duration = Duration::from_secs(60);
/// A standby's replication flow rate while throttled (the fault suite's lagging standby).
const THROTTLE_RATE: &str = "200kbit";

/// Chaos's own site: hosts `chaos-h1..3` on bridge `chaos-br`, 198.18.40.0/24, so it never
/// clashes with `cargo xtask deploy`'s cluster (subnet 0), the fault suite's (20) or the
/// benchmarks' (30, 31).
pub fn site() -> Site {
    Site::named("chaos", 40)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub faults: usize,
    /// Start no fault after this long (the run still finishes the one under way).
    pub minutes: Option<u64>,
    /// Where the history (JSON lines) is written.
    pub history: PathBuf,
    /// OCI image layout and tag (`DIR:TAG`).
    pub image: String,
    pub site: Site,
    pub schedule: schedule::Bounds,
    pub check: check::Bounds,
}

#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("rendering the manifests: {0}")]
    Render(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fault #{index} ({kind}) on {host}: {source}")]
    Fault {
        index: usize,
        kind: FaultKind,
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the cluster did not converge within {0} s of coming up")]
    NoBootstrap(u64),
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub schedule: Vec<Fault>,
    /// Faults applied (fewer than scheduled when the time ran out or the cluster got stuck).
    pub applied: usize,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    pub verdict: Verdict,
    pub history: PathBuf,
    pub elapsed: Duration,
}

struct Silent;

impl Reporter for Silent {
    fn step(&mut self, _: &str) {}
    fn command(&mut self, _: &str) {}
}

/// Tears the cluster down by name when dropped (a panic included) unless already done.
struct Teardown {
    site: Site,
    armed: bool,
}

impl Teardown {
    fn finish(mut self) -> Result<(), LocalError> {
        self.armed = false;
        cluster::down(&self.site, &mut Silent)
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = cluster::down(&self.site, &mut Silent)
        {
            eprintln!("chaos: teardown of {}: {e}", self.site.prefix);
        }
    }
}

/// The timeline under way: events with times since `epoch`.
struct Recorder {
    epoch: Instant,
    events: Vec<Event>,
}

impl Recorder {
    fn at(&self) -> u64 {
        ms(self.epoch.elapsed())
    }

    fn note(&mut self, text: String) {
        let at_ms = self.at();
        self.events.push(Event::Note { at_ms, text });
    }

    /// Records a roles sample; its time.
    fn roles(&mut self, views: &[HostView]) -> u64 {
        let role = |c: Copy| match c {
            Copy::Active => Role::Active,
            Copy::Replicating => Role::Replicating,
            Copy::Lagging => Role::Lagging,
            Copy::Down => Role::Down,
        };
        let at_ms = self.at();
        self.events.push(Event::Roles {
            at_ms,
            hosts: views
                .iter()
                .map(|v| HostRoles {
                    host: v.host.clone(),
                    nb: role(v.nb),
                    sb: role(v.sb),
                })
                .collect(),
        });
        at_ms
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A thread that runs until asked to stop (or its owner is dropped) and hands back its events.
struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<Event>>>,
}

impl Background {
    /// Runs `work` with the stop flag on a thread of its own.
    fn spawn(work: impl FnOnce(Arc<AtomicBool>) -> Vec<Event> + Send + 'static) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        Background {
            stop,
            handle: Some(std::thread::spawn(move || work(flag))),
        }
    }

    fn stop(mut self) -> Vec<Event> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The 20 ms writability sampler on a thread of its own; stops when asked, when dropped, or
/// after `limit`.
struct Sampler {
    two: Arc<AtomicUsize>,
    thread: Background,
}

impl Sampler {
    fn start(site: Site, vip: Ipv4Addr, epoch: Instant, limit: Duration) -> Sampler {
        let two = Arc::new(AtomicUsize::new(0));
        let count = two.clone();
        let ports = [
            ovn_ha_config::defaults::NB_PORT,
            ovn_ha_config::defaults::SB_PORT,
        ];
        let thread = Background::spawn(move |flag| {
            let mut eyes = Eyes::default();
            let mut samples = Vec::new();
            let end = Instant::now() + limit;
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let next = Instant::now() + Duration::from_millis(20);
                let at_ms = ms(epoch.elapsed());
                let seen = eyes.look(&site, vip, ports);
                let pick = |f: fn(&crate::eyes::Writable) -> bool| -> Vec<String> {
                    seen.iter()
                        .filter(|w| f(w))
                        .map(|w| w.host.clone())
                        .collect()
                };
                let (nb, sb) = (pick(|w| w.nb), pick(|w| w.sb));
                if nb.len() > 1 || sb.len() > 1 {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                samples.push(Event::Writable { at_ms, nb, sb });
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        Sampler { two, thread }
    }

    fn two_writable(&self) -> usize {
        self.two.load(Ordering::SeqCst)
    }

    fn stop(self) -> Vec<Event> {
        self.thread.stop()
    }
}

/// Pause between two writes of one writer. Each one-shot `ovn-nbctl` downloads every logical
/// switch, so the server's work grows with the rate times the rows written so far (the square
/// of the rate): at 50 ms, after 30 minutes (about 35,000 switches) the active spent its CPU on
/// those downloads and a rejoining copy's resync outgrew the convergence bound.
const WRITE_PAUSE: Duration = Duration::from_millis(200);
/// Every this many writes the machine's writer sends a large transaction, and each host's.
const BIG_EVERY_MACHINE: u32 = 10;
const BIG_EVERY_HOST: u32 = 30;
/// Ballast switches per writer that large writes overwrite in turn: a long run keeps its
/// large payloads on the wire while the database stays a few MB (inserting them made NB grow
/// by hundreds of MB in 20 minutes, until a rejoining copy's resync outgrew the bound).
const BALLAST_RING: u32 = 2;

/// The writers: one on the machine, one inside every host's network namespace.
struct Writers {
    running: Vec<(String, Option<String>, Writer)>,
}

impl Writers {
    fn start(remote: &str, hosts: &[String], limit: Duration) -> Writers {
        let seats = std::iter::once(("machine".to_string(), None, BIG_EVERY_MACHINE)).chain(
            hosts
                .iter()
                .map(|h| (h.clone(), Some(h.clone()), BIG_EVERY_HOST)),
        );
        let running = seats
            .map(|(name, netns, big_every)| {
                let mut spec = WriterSpec::new(remote, &name);
                spec.netns = netns.clone();
                spec.big_every = big_every;
                spec.ballast_ring = Some(BALLAST_RING);
                spec.interval = WRITE_PAUSE;
                spec.timeout_s = 2;
                spec.max_time = limit;
                spec.max_writes = u32::try_from(limit.as_millis() / 40).unwrap_or(u32::MAX);
                (name, netns, Writer::start(spec))
            })
            .collect();
        Writers { running }
    }

    /// Stops them; their operations as events on the recorder's clock.
    fn stop(self, epoch: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        for (writer, host, w) in self.running {
            let offset = w.epoch().saturating_duration_since(epoch);
            for r in w.stop() {
                events.push(Event::Op {
                    writer: writer.clone(),
                    db: schedule::Db::Nb,
                    host: host.clone(),
                    name: r.name,
                    start_ms: ms(offset + r.started),
                    end_ms: ms(offset + r.ended),
                    acked: r.acked,
                });
            }
        }
        events
    }
}

/// The Southbound writer: one persistent OVSDB session to the VIP (as ovn-northd and
/// ovn-controller hold one), reconnected after any failure, inserting an `Address_Set` row
/// `sb-N` every 50 ms; a row is acknowledged when the transaction's reply arrives. Stops when
/// asked, when dropped, or after its time limit.
struct SbWriter {
    thread: Background,
}

impl SbWriter {
    fn start(addr: SocketAddr, epoch: Instant, limit: Duration) -> SbWriter {
        let thread = Background::spawn(move |flag| {
            let timeout = Duration::from_secs(2);
            let end = Instant::now() + limit;
            let mut session: Option<TcpStream> = None;
            let mut ops = Vec::new();
            let mut n = 0u64;
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let name = format!("sb-{n}");
                n += 1;
                let start_ms = ms(epoch.elapsed());
                let row = serde_json::json!({
                    "op": "insert",
                    "table": "Address_Set",
                    "row": {"name": name, "addresses": ["set", []]}
                });
                let stream = match session.take() {
                    Some(s) => Some(s),
                    None => TcpStream::connect_timeout(&addr, timeout).ok().filter(|s| {
                        s.set_read_timeout(Some(timeout)).is_ok()
                            && s.set_write_timeout(Some(timeout)).is_ok()
                    }),
                };
                let acked = match stream {
                    Some(mut s) => {
                        let ok = ovsdb_rpc::transact(&mut s, "OVN_Southbound", &[row]).is_ok();
                        if ok {
                            session = Some(s);
                        }
                        ok
                    }
                    None => false,
                };
                ops.push(Event::Op {
                    writer: "machine-sb".into(),
                    db: schedule::Db::Sb,
                    host: None,
                    name,
                    start_ms,
                    end_ms: ms(epoch.elapsed()),
                    acked,
                });
                std::thread::sleep(Duration::from_millis(50));
            }
            ops
        });
        SbWriter { thread }
    }

    fn stop(self) -> Vec<Event> {
        self.thread.stop()
    }
}

/// The names of the `Address_Set` rows the SB database at `addr` holds (`None`: no answer).
fn sb_names(addr: SocketAddr) -> Option<Vec<String>> {
    names(addr, "OVN_Southbound", "Address_Set")
}

/// The `name` column of every row of `table` in `db` at `addr`, over a new connection
/// (`None`: no answer within 5 s).
fn names(addr: SocketAddr, db: &str, table: &str) -> Option<Vec<String>> {
    let select = serde_json::json!({
        "op": "select", "table": table, "where": [], "columns": ["name"]
    });
    let result = ovsdb_rpc::transact_tcp(addr, db, &[select], Duration::from_secs(5)).ok()?;
    Some(
        result[0]["rows"]
            .as_array()?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect(),
    )
}

/// How often the reader reads everything.
const READ_EVERY: Duration = Duration::from_secs(2);

/// The reader: every [`READ_EVERY`] it reads every NB logical switch and SB address set name
/// through the VIP and records each name the first time it sees it (`Event::Seen`, at the
/// end of the read that showed it), acknowledged by its writer or not: what a client once
/// saw must stay. Stops when asked, when dropped, or after its time limit.
struct Reader {
    thread: Background,
}

impl Reader {
    fn start(nb: SocketAddr, sb: SocketAddr, epoch: Instant, limit: Duration) -> Reader {
        let thread = Background::spawn(move |flag| {
            let end = Instant::now() + limit;
            let mut known = std::collections::HashSet::new();
            let mut events = Vec::new();
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let next = Instant::now() + READ_EVERY;
                for (db, addr, name, table) in [
                    (schedule::Db::Nb, nb, "OVN_Northbound", "Logical_Switch"),
                    (schedule::Db::Sb, sb, "OVN_Southbound", "Address_Set"),
                ] {
                    let Some(list) = names(addr, name, table) else {
                        continue;
                    };
                    let at_ms = ms(epoch.elapsed());
                    for n in list {
                        if known.insert(n.clone()) {
                            events.push(Event::Seen {
                                reader: "machine-reader".into(),
                                db,
                                name: n,
                                at_ms,
                            });
                        }
                    }
                }
                // Bounded: READ_EVERY in 100 ms steps, watching the stop flag.
                while !flag.load(Ordering::SeqCst) && Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            events
        });
        Reader { thread }
    }

    fn stop(self) -> Vec<Event> {
        self.thread.stop()
    }
}

/// A host's address from the test bed's address plan.
fn addr_of(site: &Site, host: &str) -> Option<String> {
    ovn_ha_testbed::BedSpec::new(&site.prefix, site.subnet, HOSTS)
        .ok()?
        .host_plans()
        .into_iter()
        .find(|p| p.netns == host)
        .map(|p| p.addr.to_string())
}

/// Restarts every host whose container is not running, as a kubelet would; the hosts
/// restarted.
fn kubelet(site: &Site, rec: &mut Recorder) -> Result<Vec<String>, LocalError> {
    let mut restarted = Vec::new();
    for host in cluster::running_hosts(site) {
        let status = cluster::container_status(&host);
        if status.as_deref() != Some("running") {
            cluster::restart_host(site, &host, &mut Silent)?;
            rec.note(format!("restarted {host} (container {status:?})"));
            restarted.push(host);
        }
    }
    Ok(restarted)
}

/// Waits (bounded) until the cluster has been converged for [`STABLE`], recording every roles
/// sample and restarting exited pods once a second; the active host then.
fn wait_converged(
    site: &Site,
    rec: &mut Recorder,
    limit: Duration,
) -> Result<Option<String>, LocalError> {
    let start = Instant::now();
    // On the recorder's clock, as the checker sees it.
    let mut since: Option<u64> = None;
    let mut last_kubelet = Instant::now();
    while start.elapsed() < limit {
        let views = observe::sample(site);
        let at = rec.roles(&views);
        if observe::converged(&views, HOSTS) {
            let s = *since.get_or_insert(at);
            if at - s >= ms(STABLE) {
                return Ok(observe::active_host(&views).map(str::to_string));
            }
        } else {
            since = None;
        }
        if last_kubelet.elapsed() >= Duration::from_secs(1) {
            kubelet(site, rec)?;
            last_kubelet = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(None)
}

/// The active host now: up to five samples (a busy server can miss one sample's deadline).
fn active_now(site: &Site, rec: &mut Recorder) -> Option<String> {
    for _ in 0..5 {
        let views = observe::sample(site);
        rec.roles(&views);
        if let Some(a) = observe::active_host(&views) {
            return Some(a.to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Applies `fault` to `victim` (and `standby`); notes a crash that found no process.
fn apply(
    fault: &Fault,
    site: &Site,
    victim: &str,
    standby: &str,
    rec: &mut Recorder,
) -> std::io::Result<()> {
    let crash = |db: schedule::Db, signal: schedule::Crash, rec: &mut Recorder| {
        let n = faults::signal_processes(victim, "ovsdb-server", db.needle(), signal.signal());
        if n != 1 {
            rec.note(format!(
                "fault #{}: {n} {} servers on {victim} got SIG{}",
                fault.index,
                db.needle(),
                signal.signal()
            ));
        }
    };
    let killed = |host: &str, comm: &str, rec: &mut Recorder| {
        let n = faults::kill9(host, comm, comm);
        if n != 1 {
            rec.note(format!(
                "fault #{}: {n} {comm} killed on {host}",
                fault.index
            ));
        }
    };
    match fault.kind {
        FaultKind::LinkCut => faults::cut_link(victim),
        FaultKind::OneWayPartition => {
            let peers: Vec<String> = cluster::running_hosts(site)
                .iter()
                .filter(|h| *h != victim)
                .filter_map(|h| addr_of(site, h))
                .collect();
            faults::drop_inbound(victim, &peers)
        }
        FaultKind::CorosyncPartition => faults::drop_corosync(victim),
        FaultKind::ServerCrash { db, signal } => {
            crash(db, signal, rec);
            Ok(())
        }
        FaultKind::KillCorosync => {
            killed(victim, "corosync", rec);
            Ok(())
        }
        FaultKind::KillPacemakerd => {
            killed(victim, "pacemakerd", rec);
            Ok(())
        }
        FaultKind::ContainerKill => faults::signal_container(victim, "KILL"),
        FaultKind::GracefulStop => faults::signal_container(victim, "TERM"),
        FaultKind::ThrottleStandby { db } => {
            let dst = addr_of(site, standby)
                .ok_or_else(|| std::io::Error::other(format!("no address for {standby}")))?;
            faults::throttle_flow(victim, &dst, db.replication_port(), THROTTLE_RATE)
        }
        FaultKind::StandbyKillAndServerCrash { db, signal } => {
            faults::signal_container(standby, "KILL")?;
            crash(db, signal, rec);
            Ok(())
        }
        FaultKind::StandbyKillAndLinkCut => {
            faults::signal_container(standby, "KILL")?;
            faults::cut_link(victim)
        }
    }
}

/// Undoes `fault`: restores what it changed, waits for the pods it ends to exit, and restarts
/// every exited pod.
fn recover(
    fault: &Fault,
    site: &Site,
    victim: &str,
    standby: &str,
    rec: &mut Recorder,
) -> Result<(), ChaosError> {
    let err = |host: &str| {
        let host = host.to_string();
        move |source| ChaosError::Fault {
            index: fault.index,
            kind: fault.kind,
            host,
            source,
        }
    };
    match fault.kind {
        FaultKind::LinkCut | FaultKind::StandbyKillAndLinkCut => {
            faults::restore_link(victim).map_err(err(victim))?;
        }
        FaultKind::OneWayPartition => faults::clear_inbound(victim).map_err(err(victim))?,
        FaultKind::CorosyncPartition => faults::clear_corosync(victim).map_err(err(victim))?,
        FaultKind::ThrottleStandby { .. } => {
            faults::unthrottle_flow(victim).map_err(err(victim))?;
        }
        _ => {}
    }
    if fault.kind.ends_active_pod() && !cluster::wait_stopped(victim, EXIT_WAIT) {
        rec.note(format!(
            "fault #{}: {victim} did not exit within {} s",
            fault.index,
            EXIT_WAIT.as_secs()
        ));
    }
    if matches!(
        fault.kind,
        FaultKind::StandbyKillAndLinkCut | FaultKind::StandbyKillAndServerCrash { .. }
    ) && !cluster::wait_stopped(standby, EXIT_WAIT)
    {
        rec.note(format!("fault #{}: {standby} did not exit", fault.index));
    }
    kubelet(site, rec)?;
    Ok(())
}

/// Runs the schedule of `opts` against a fresh cluster; `progress` gets one line per step.
pub fn run(opts: &Options, progress: &mut dyn FnMut(&str)) -> Result<Outcome, ChaosError> {
    let started = Instant::now();
    let plan = schedule::schedule(opts.seed, opts.faults, &opts.schedule);
    let site = &opts.site;
    // Leftovers of an earlier, killed run.
    cluster::down(site, &mut Silent)?;
    let manifests = tempfile::tempdir().map_err(|source| ChaosError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let config = crate::e2e::render(site, manifests.path())
        .map_err(|e| ChaosError::Render(e.to_string()))?;
    let remote = config.ovn_north();
    let vip = match config.vip.addr {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(_) => return Err(ChaosError::Config("an IPv4 VIP".into())),
    };
    progress(&format!(
        "chaos: seed {}, {} faults, cluster {}-h1..{HOSTS} on 198.18.{}.0/24",
        opts.seed, opts.faults, site.prefix, site.subnet
    ));
    let teardown = Teardown {
        site: site.clone(),
        armed: true,
    };
    let mut rec = Recorder {
        epoch: Instant::now(),
        events: Vec::new(),
    };
    let up = UpOptions {
        manifests: manifests.path().to_path_buf(),
        image: opts.image.clone(),
        hosts: HOSTS,
        vip: config.vip.addr,
        wait: Duration::from_secs(180),
        extra_env: Vec::new(),
        extra_mounts: Vec::new(),
        realtime: true,
        ssl: Vec::new(),
    };
    let report = cluster::up(site, &up, &mut Silent)?;
    progress(&format!(
        "cluster up: first write {:.1} s after the containers started",
        report.bootstrap.as_secs_f64()
    ));
    let Some(first_active) = wait_converged(site, &mut rec, CONVERGE_WAIT)? else {
        return Err(ChaosError::NoBootstrap(CONVERGE_WAIT.as_secs()));
    };
    let hosts = cluster::running_hosts(site);
    // Long enough for every fault's worst case (hold, exit, convergence, gap), bounded.
    let per_fault = Duration::from_millis(opts.schedule.hold_ms.1 + opts.schedule.gap_ms.1)
        + EXIT_WAIT
        + CONVERGE_WAIT;
    let mut limit =
        per_fault * u32::try_from(opts.faults).unwrap_or(u32::MAX) + Duration::from_secs(120);
    if let Some(m) = opts.minutes {
        limit = limit.min(Duration::from_secs(m * 60) + per_fault + Duration::from_secs(120));
    }
    let sampler = Sampler::start(site.clone(), vip, rec.epoch, limit);
    let writers = Writers::start(&remote, &hosts, limit);
    let sb_addr = SocketAddr::from((vip, ovn_ha_config::defaults::SB_PORT));
    let sb_writer = SbWriter::start(sb_addr, rec.epoch, limit);
    let nb_addr = SocketAddr::from((vip, ovn_ha_config::defaults::NB_PORT));
    let reader = Reader::start(nb_addr, sb_addr, rec.epoch, limit);
    progress(&format!(
        "active {first_active}; NB writers on the machine and in {}, an SB session and a reader from the machine; sampler every 20 ms",
        hosts.join(", ")
    ));
    std::thread::sleep(Duration::from_secs(3));

    let deadline = opts
        .minutes
        .map(|m| Instant::now() + Duration::from_secs(m * 60));
    let mut applied = 0;
    let mut stopped = None;
    let result = (|| -> Result<(), ChaosError> {
        for fault in &plan {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                stopped = Some(format!("time limit reached after {applied} faults"));
                break;
            }
            let victim = match active_now(site, &mut rec) {
                Some(a) => a,
                None => match wait_converged(site, &mut rec, CONVERGE_WAIT)? {
                    Some(a) => a,
                    None => {
                        stopped = Some(format!("no active copy before fault #{}", fault.index));
                        break;
                    }
                },
            };
            let mut standbys: Vec<String> =
                hosts.iter().filter(|h| **h != victim).cloned().collect();
            standbys.sort();
            let standby = standbys
                .get(usize::from(fault.standby) % standbys.len().max(1))
                .cloned()
                .unwrap_or_default();
            let at_ms = rec.at();
            rec.events.push(Event::FaultStart {
                index: fault.index,
                kind: fault.kind,
                victim: victim.clone(),
                standby: fault.kind.uses_standby().then(|| standby.clone()),
                at_ms,
            });
            apply(fault, site, &victim, &standby, &mut rec).map_err(|source| {
                ChaosError::Fault {
                    index: fault.index,
                    kind: fault.kind,
                    host: victim.clone(),
                    source,
                }
            })?;
            applied += 1;
            std::thread::sleep(Duration::from_millis(fault.hold_ms));
            recover(fault, site, &victim, &standby, &mut rec)?;
            let at_ms = rec.at();
            rec.events.push(Event::FaultEnd {
                index: fault.index,
                at_ms,
            });
            let recovered = Instant::now();
            let after = wait_converged(site, &mut rec, CONVERGE_WAIT)?;
            let line = format!(
                "[{}/{} t={:.0}s] {} on {victim}{}, held {:.1} s: {}; two-writable samples so far {}",
                fault.index + 1,
                plan.len(),
                started.elapsed().as_secs_f64(),
                fault.kind.label(),
                if fault.kind.uses_standby() {
                    format!(" (standby {standby})")
                } else {
                    String::new()
                },
                fault.hold_ms as f64 / 1000.0,
                match &after {
                    Some(a) => format!(
                        "converged {:.1} s after recovery, active {a}",
                        recovered.elapsed().saturating_sub(STABLE).as_secs_f64()
                    ),
                    None => format!("NOT converged within {} s", CONVERGE_WAIT.as_secs()),
                },
                sampler.two_writable()
            );
            progress(&line);
            if after.is_none() {
                stopped = Some(format!("stuck after fault #{}", fault.index));
                break;
            }
            std::thread::sleep(Duration::from_millis(fault.gap_ms));
        }
        Ok(())
    })();
    if let Some(s) = &stopped {
        rec.note(s.clone());
        progress(&format!("stopped: {s}"));
    }
    // Let the last writes land, then stop everyone and read what the VIP holds.
    std::thread::sleep(Duration::from_secs(2));
    let mut ops = writers.stop(rec.epoch);
    ops.extend(sb_writer.stop());
    ops.extend(reader.stop());
    let samples = sampler.stop();
    let mut present = None;
    for _ in 0..30 {
        present = names(nb_addr, "OVN_Northbound", "Logical_Switch")
            .zip(sb_names(sb_addr))
            .map(|(mut nb, sb)| {
                nb.extend(sb);
                nb
            });
        if present.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut events = vec![Event::Run {
        seed: opts.seed,
        faults: applied,
        hosts: hosts.clone(),
    }];
    events.append(&mut rec.events);
    events.extend(samples);
    events.extend(ops);
    if let Some(names) = present {
        events.push(Event::Present {
            at_ms: ms(rec.epoch.elapsed()),
            names,
        });
    }
    write_history(&opts.history, &events)?;
    result?;
    let verdict = check::check(&events, &opts.check);
    teardown.finish()?;
    Ok(Outcome {
        schedule: plan,
        applied,
        stopped,
        verdict,
        history: opts.history.clone(),
        elapsed: started.elapsed(),
    })
}

fn write_history(path: &Path, events: &[Event]) -> Result<(), ChaosError> {
    let io = |source| ChaosError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, history::encode(events)).map_err(io)
}
