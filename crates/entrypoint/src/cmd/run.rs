//! `run`: validate everything, write corosync's files (and a first CIB on a fresh node), start
//! and supervise corosync and pacemaker, load the CIB once the partition has quorum, and on
//! SIGTERM hand over (standby) before stopping the daemons.

use super::Failure;
use super::cold_start::Gate;
use super::crash_watch::CrashWatch;
use super::fence::FenceWatch;
use super::membership::{Membership, corosync_conf_text};
use super::pcmk::{CibTarget, cluster_status, corosync_answers, ensure_configuration, set_standby};
use super::pod_watch::{self, WatchReport, WatchTarget};
use super::standby_link::StandbyLinkWatch;
use super::supervise::{
    Daemon, become_subreaper, reap_orphans, stop_children_except, stop_remaining_children,
};
use super::tickle::TickleWatch;
use anyhow::{Context, Result, anyhow, bail};
use ovn_ha_config::db_env as var;
use ovnkube_db_ha::cib::{Cib, DesiredCib, desired_cib};
use ovnkube_db_ha::corosync_conf::{AUTHKEY_PATH, COROSYNC_CONF_PATH};
use ovnkube_db_ha::env_config::{DbHaConfig, check_authkey_len, parse_env};
use ovnkube_db_ha::metrics::{EVENTS, FailoverClock};
use ovnkube_db_ha::peers::{Member, Peer, PeerDiscovery, PeerSource, StaticPeers, members};
use ovnkube_db_ha::pod_peers::peers_from_pods;
use ovnkube_db_ha::realtime;
use ovnkube_db_ha::sync_proxy::SyncProxy;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The CIB Pacemaker reads at its first start on this node.
const CIB_PATH: &str = "/var/lib/pacemaker/cib/cib.xml";
/// Niceness for corosync when real-time scheduling is not available (see `run`).
const COROSYNC_NICE: &str = "-20";
/// How often the supervisor looks at the daemons and the cluster.
const TICK: Duration = Duration::from_millis(500);
/// How long `run` waits, after the first pod list, for a list that shows this node.
const SELF_WAIT: Duration = Duration::from_secs(120);

/// The threads that guard the copy at the VIP between Pacemaker's monitors.
struct Guards {
    crash: CrashWatch,
    /// Dropping it stops the thread and reopens a closed fence.
    fence: FenceWatch,
    /// The cold-start promotion gate (ticked by the supervisor, on its thread only).
    gate: std::cell::RefCell<Gate>,
    /// Tickle ACKs for the old active's clients when this node takes the VIP (`None`: off).
    tickle: Option<TickleWatch>,
    /// Reconnects this standby's servers at once when their replication link ends.
    standby: StandbyLinkWatch,
    /// The semi-synchronous proxy; dropped last, after the fence that uses its control.
    _proxy: Option<SyncProxy>,
}

/// Everything validated before anything is started or written.
struct Prepared {
    config: DbHaConfig,
    members: Vec<Member>,
    authkey: Vec<u8>,
    cib: Cib,
    /// TLS for the proxy's listeners (NB, SB), read before anything starts.
    tls: [Option<std::sync::Arc<rustls::ServerConfig>>; 2],
    /// The pod watcher's reports (API discovery only).
    watch: Option<Receiver<WatchReport>>,
    /// Whether this node holds the promoted copy, for the pod's deletion cost (API discovery
    /// only).
    role: Option<pod_watch::RoleSender>,
}

/// Reads and checks the environment and the authkey (every problem is a
/// [`Failure::Config`]), then finds the peers: the static list, or the first pod list from the
/// Kubernetes API that shows this node (see [`discover`]).
fn prepare() -> Result<Prepared, Failure> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = parse_env(&env)
        .map_err(|problems| Failure::Config(problems.iter().map(ToString::to_string).collect()))?;
    let authkey = std::fs::read(&config.authkey_file).map_err(|e| {
        Failure::Config(vec![format!(
            "{}: cannot read {}: {e}",
            var::AUTHKEY_FILE,
            config.authkey_file.display()
        )])
    })?;
    check_authkey_len(authkey.len())
        .map_err(|e| Failure::Config(vec![format!("{}: {e}", var::AUTHKEY_FILE)]))?;
    let tls = tls_configs(&config)?;
    let me = Peer {
        name: config.node_name.clone(),
        addr: config.pod_ip,
    };
    let (peers, watch) = match &config.peers {
        PeerSource::Static(peers) => {
            let peers = StaticPeers(peers.clone())
                .peers()
                .map_err(|e| Failure::Config(vec![format!("{}: {e}", var::PEERS)]))?;
            (peers, None)
        }
        PeerSource::Kubernetes {
            selector,
            namespace,
        } => {
            let target = WatchTarget {
                namespace: namespace.clone(),
                selector: selector.clone(),
                deployment: config.deployment.clone(),
                own_pod: config.pod_name.clone(),
            };
            let (peers, rx, role) = discover(target, &me)?;
            (peers, Some((rx, role)))
        }
    };
    let (watch, role) = watch.unzip();
    let members =
        members(&peers).map_err(|e| Failure::Config(vec![format!("{}: {e}", var::PEERS)]))?;
    let cib = desired_cib(&DesiredCib {
        vip: config.vip,
        nb_port: config.nb_port,
        sb_port: config.sb_port,
        replication_ports: config.replication_ports,
        timings: config.pacemaker,
        client_proxy: config.semi_sync,
        ssl: config.ssl,
    });
    Ok(Prepared {
        config,
        members,
        authkey,
        cib,
        tls,
        watch,
        role,
    })
}

/// With `OVN_SSL_ENABLE=yes` and the proxy on, each database's key, certificate and CA under
/// `/ovn-cert`, read now so that a missing file stops the pod before anything starts. (With
/// the proxy off the servers end `ssl:` sessions themselves: the agent gives them the files.)
fn tls_configs(
    config: &DbHaConfig,
) -> Result<[Option<std::sync::Arc<rustls::ServerConfig>>; 2], Failure> {
    if !(config.ssl && config.semi_sync) {
        return Ok([None, None]);
    }
    let dir = std::path::Path::new(ovnkube_db_ha::tls::CERT_DIR);
    let [nb, sb] = ovn_ha_contract::Db::BOTH.map(|db| {
        ovnkube_db_ha::tls::server_config(&ovnkube_db_ha::tls::TlsFiles::in_dir(dir, db))
            .map_err(|e| format!("{}: {e}", var::SSL_ENABLE))
    });
    match (nb, sb) {
        (Ok(nb), Ok(sb)) => Ok([Some(nb), Some(sb)]),
        (nb, sb) => Err(Failure::Config(
            [nb.err(), sb.err()].into_iter().flatten().collect(),
        )),
    }
}

/// Starts the pod watcher and waits for its first pod list that shows this node (bounded:
/// the watcher's start attempts, then [`SELF_WAIT`], logging progress every 10 s). Starts with
/// the peers known then; the supervisor adds the others as their pods appear.
fn discover(
    target: WatchTarget,
    me: &Peer,
) -> Result<(Vec<Peer>, Receiver<WatchReport>, pod_watch::RoleSender), Failure> {
    let (rx, role) = pod_watch::spawn(target).context("starting the pod watcher thread")?;
    let started = Instant::now();
    let mut deadline = started + pod_watch::start_budget();
    let mut listed = false;
    let mut last_problem = String::from("no pod list yet");
    let mut next_note = started;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(anyhow!(
                "after {:?} the pod list still does not show this node: {last_problem}",
                now - started
            )
            .into());
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_secs(10))) {
            Ok(WatchReport::NoConfig(e)) => {
                return Err(Failure::Config(vec![format!(
                    "{}: {e}",
                    var::PEER_SELECTOR
                )]));
            }
            Ok(WatchReport::Unreachable(e)) => return Err(anyhow!(e).into()),
            Ok(WatchReport::Pods(pods)) => {
                if !listed {
                    listed = true;
                    deadline = Instant::now() + SELF_WAIT;
                }
                let found = peers_from_pods(&pods, me)
                    .map_err(|e| e.to_string())
                    .and_then(|d| members(&d.peers).map(|_| d));
                match found {
                    Ok(d) => {
                        for note in &d.skipped {
                            log(format!("peer discovery: {note}"));
                        }
                        log(format!(
                            "peer discovery: starting with {} (from {} pod(s))",
                            d.peers
                                .iter()
                                .map(|p| format!("{}={}", p.name, p.addr))
                                .collect::<Vec<_>>()
                                .join(","),
                            pods.len()
                        ));
                        return Ok((d.peers, rx, role));
                    }
                    Err(e) => last_problem = format!("{e} ({} pod(s) listed)", pods.len()),
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("the pod watcher stopped: {last_problem}").into());
            }
        }
        if listed && Instant::now() >= next_note {
            log(format!(
                "peer discovery: waiting up to {SELF_WAIT:?} for the pod list to show this node: {last_problem}"
            ));
            next_note = Instant::now() + Duration::from_secs(10);
        }
    }
}

fn conf_text(p: &Prepared) -> String {
    corosync_conf_text(&p.members, p.config.timings, p.config.replicas)
}

/// `print corosync-conf|cib`.
pub fn print(cib: bool) -> Result<(), Failure> {
    let p = prepare()?;
    if cib {
        print!("{}", p.cib.document().to_xml());
    } else {
        print!("{}", conf_text(&p));
    }
    Ok(())
}

fn write_file(path: &str, data: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, data).with_context(|| format!("writing {path}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {path}"))
}

/// Looks a name up in `/etc/passwd`- or `/etc/group`-style text: the third field.
fn id_of(table: &str, name: &str) -> Option<u32> {
    table.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name)).then(|| fields.nth(1)?.parse().ok())?
    })
}

/// Uid of `hacluster` and gid of `haclient`, Pacemaker's user and group.
fn hacluster_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    let group = std::fs::read_to_string("/etc/group").context("reading /etc/group")?;
    let uid = id_of(&passwd, "hacluster").ok_or_else(|| anyhow!("no user hacluster"))?;
    let gid = id_of(&group, "haclient").ok_or_else(|| anyhow!("no group haclient"))?;
    Ok((uid, gid))
}

/// On a node that has never run Pacemaker, writes our CIB as its first one, so even the
/// very first DC election uses our shorter `dc-deadtime`. An existing CIB is left alone.
fn seed_cib(cib: &Cib) -> Result<bool> {
    if Path::new(CIB_PATH).exists() {
        return Ok(false);
    }
    let (uid, gid) = hacluster_ids()?;
    write_file(CIB_PATH, cib.document().to_xml().as_bytes(), 0o600)?;
    std::os::unix::fs::chown(CIB_PATH, Some(uid), Some(gid)).context("chown of the CIB")?;
    Ok(true)
}

/// Pacemaker's detail log (the pod's `/var/log` volume): its daemons' info-level messages,
/// where a failover's timeline can be read. Corosync and this entrypoint log to stderr.
const PCMK_LOG_FILE: &str = "/var/log/pacemaker/pacemaker.log";

/// Creates the directory of [`PCMK_LOG_FILE`], writable by Pacemaker's daemons.
fn pacemaker_log_dir() -> Result<()> {
    let dir = Path::new(PCMK_LOG_FILE)
        .parent()
        .context("the log file has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (uid, gid) = hacluster_ids()?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).context("chown of the log directory")?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o770))
        .context("setting the mode of the log directory")
}

ovnkube_db_ha::log_part!("ovnkube-db-ha");

/// `run`.
pub fn run() -> Result<(), Failure> {
    let mut p = prepare()?;
    let me = p.config.node_name.clone();
    let mut membership = Membership::new(
        Peer {
            name: me.clone(),
            addr: p.config.pod_ip,
        },
        p.config.replicas,
        p.config.timings,
        COROSYNC_CONF_PATH,
        p.members.clone(),
        p.watch.take(),
    );

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term))
            .context("installing signal handlers")?;
    }

    super::panics::install();
    if let Some(port) = p.config.metrics_port {
        super::metrics_http::start(port)?;
    }
    become_subreaper();
    // A VIP left on this node by a pod that died must not answer next to the real one.
    release_vip(&p);
    write_file(AUTHKEY_PATH, &p.authkey, 0o400)?;
    write_file(COROSYNC_CONF_PATH, conf_text(&p).as_bytes(), 0o644)?;
    // Closed before Pacemaker can start the agent: no copy is promotable until compared.
    let gate = Gate::close_before_start()?;
    // Listening before the VIP can arrive: the servers listen only on their unix sockets.
    let proxy = if p.config.semi_sync {
        Some(
            SyncProxy::start(
                p.config.vip.addr,
                [p.config.nb_port, p.config.sb_port],
                p.config.replication_ports,
                p.tls.clone(),
            )
            .context("starting the semi-synchronous proxy")?,
        )
    } else {
        log(
            "semi-synchronous replication is off (OVN_DB_HA_SEMI_SYNC): replies do not wait for the standbys",
        );
        None
    };
    match seed_cib(&p.cib) {
        Ok(true) => log("wrote the first CIB of this node"),
        Ok(false) => {}
        Err(e) => log(format!("not seeding the CIB: {e:#}")),
    }

    // corosync asks for SCHED_RR itself; in a container without a real-time budget that fails
    // and a saturated node then delays the token. Measured here (6 busy loops on 2 cores, no
    // RT): several token re-forms per 90 s at nice 0, one at nice -20, never a member lost.
    // `nice` (CAP_SYS_NICE) execs corosync, so the pid stays corosync's; without the
    // capability it warns and runs corosync at the default priority.
    let mut corosync = Daemon::start(
        "corosync",
        "nice",
        &["-n", COROSYNC_NICE, "corosync", "-f"],
        &[],
    )?;
    let ready = wait_until(Duration::from_secs(30), &term, || {
        corosync.exited().is_some() || corosync_answers()
    });
    if let Some(how) = corosync.exited() {
        return Err(anyhow!("corosync exited at start ({how})").into());
    }
    if !ready {
        corosync.stop(Duration::from_secs(10));
        if term.load(Ordering::SeqCst) {
            return Ok(());
        }
        return Err(anyhow!("corosync did not answer within 30 s").into());
    }
    warn_without_real_time(&corosync);
    if let Err(e) = pacemaker_log_dir() {
        log(format!("Pacemaker will not log to {PCMK_LOG_FILE}: {e:#}"));
    }
    let mut pacemaker = match Daemon::start(
        "pacemakerd",
        "pacemakerd",
        &[],
        &[
            ("PCMK_logfacility", "none"),
            ("PCMK_logfile", PCMK_LOG_FILE),
        ],
    ) {
        Ok(d) => d,
        Err(e) => {
            corosync.stop(Duration::from_secs(10));
            return Err(e.into());
        }
    };

    let guards = Guards {
        crash: if p.config.crash_restart {
            CrashWatch::start(p.config.vip.addr, me.clone())
        } else {
            log("crash restart in place is off (OVN_DB_HA_CRASH_RESTART)");
            CrashWatch::off()
        },
        fence: FenceWatch::start(
            p.config.replication_ports,
            me.clone(),
            p.config.vip.addr,
            proxy.as_ref().map(SyncProxy::control),
        ),
        tickle: if p.config.client_tickle {
            Some(TickleWatch::start(
                p.config.vip.addr,
                [p.config.nb_port, p.config.sb_port],
                me.clone(),
                proxy.as_ref().map(SyncProxy::control),
            ))
        } else {
            log("client tickles are off (OVN_DB_HA_CLIENT_TICKLE)");
            None
        },
        standby: StandbyLinkWatch::start(p.config.vip.addr, p.config.replication_ports),
        _proxy: proxy,
        gate: std::cell::RefCell::new(gate),
    };
    // A panic anywhere from here on, this thread's included, takes the failure path below.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        supervise(
            &p,
            &me,
            &term,
            &guards,
            &mut membership,
            &mut corosync,
            &mut pacemaker,
        )
    }))
    .unwrap_or_else(|payload| {
        Err(anyhow!(
            "the supervisor panicked: {}; stopping",
            super::panics::message(&*payload)
        ))
    });
    // Every stop from here on is planned: no restarts in place.
    guards.crash.pause();
    guards.standby.pause();
    match outcome {
        Ok(asked) => {
            log(format!(
                "pacemaker: {}",
                pacemaker.stop(pacemaker_stop_budget(p.config.grace, asked.elapsed()))
            ));
            log(format!(
                "corosync: {}",
                corosync.stop(Duration::from_secs(10))
            ));
            stop_remaining_children(Duration::from_secs(5));
            log("stopped cleanly");
            Ok(())
        }
        Err(e) => {
            log(format!(
                "pacemaker: {}",
                pacemaker.stop(Duration::from_secs(20))
            ));
            // Fence ourselves before leaving the membership: while corosync runs the others
            // keep this node as a member and promote nothing, so drop the VIP and stop the
            // database servers first. Leaving first would let a second copy be promoted while
            // this one still answers at the VIP (acknowledged writes lost).
            release_vip(&p);
            let keep: Vec<i32> = corosync.pid().map(|p| p.as_raw()).into_iter().collect();
            stop_children_except(&keep, Duration::from_secs(5));
            log(format!(
                "corosync: {}",
                corosync.stop(Duration::from_secs(10))
            ));
            stop_remaining_children(Duration::from_secs(5));
            Err(e.into())
        }
    }
}

/// Releases the VIP from this node (see [`super::vip::release`]).
fn release_vip(p: &Prepared) {
    super::vip::release(p.config.vip.addr, log);
}

/// Time pacemaker gets to stop (it stops any resource still here first): what is left of the
/// grace period less a little for corosync, but at least 5 s.
fn pacemaker_stop_budget(grace: Duration, spent: Duration) -> Duration {
    grace
        .saturating_sub(spent)
        .saturating_sub(Duration::from_secs(3))
        .max(Duration::from_secs(5))
}

/// Polls `done` every 200 ms until it returns true, `limit` passes, or a stop was asked.
fn wait_until(limit: Duration, term: &AtomicBool, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !term.load(Ordering::SeqCst) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The feature sets, if the end of Pacemaker's log shows its controller refused to join a DC
/// with a newer one.
fn refused_by_newer_dc() -> Option<(String, String)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(PCMK_LOG_FILE).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)))
        .ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    ovnkube_db_ha::pacemaker_refusal::older_than_dc(&String::from_utf8_lossy(&tail))
}

/// Watches both daemons; configures the cluster once it has quorum; returns when the stop was
/// requested (after the handover, or its timeout), or Err if a daemon died.
fn supervise(
    p: &Prepared,
    me: &str,
    term: &AtomicBool,
    guards: &Guards,
    membership: &mut Membership,
    corosync: &mut Daemon,
    pacemaker: &mut Daemon,
) -> Result<Instant> {
    let mut configured = false;
    let mut last_note: Option<Instant> = None;
    let mut looks: u64 = 0;
    let mut failovers = FailoverClock::default();
    loop {
        if let Some(what) = super::panics::first() {
            bail!("{what}; stopping");
        }
        reap_orphans(&mut [&mut *corosync, &mut *pacemaker]);
        for d in [&mut *corosync, &mut *pacemaker] {
            if let Some(how) = d.exited() {
                if let Some((local, dc)) = refused_by_newer_dc() {
                    log(ovnkube_db_ha::pacemaker_refusal::advice(&local, &dc));
                }
                bail!("{} exited unexpectedly ({how}); stopping", d.name);
            }
        }
        if term.load(Ordering::SeqCst) {
            log("stop requested: handing over");
            guards.crash.pause();
            guards.standby.pause();
            let asked = Instant::now();
            super::handover::hand_over(p.config.grace, me, &guards.fence, corosync, pacemaker);
            return Ok(asked);
        }
        membership.tick();
        let members = membership.members();
        if let Some(t) = &guards.tickle {
            t.set_members(me, &members);
        }
        guards.fence.set_members(members);
        let mut gate = guards.gate.borrow_mut();
        // Before the cold-start gate opens, every tick; after it, the lagging-copy gate looks
        // every other tick (about once a second: one `crm_mon` call).
        looks += 1;
        if configured
            && (!gate.is_open() || looks.is_multiple_of(2))
            && let Ok(s) = cluster_status()
        {
            guards.fence.observe(&s);
            if let Some(role) = &p.role {
                let here = s.promoted.iter().any(|n| n == me);
                role.send_if_modified(|r| (*r != Some(here)).then(|| *r = Some(here)).is_some());
            }
            if let Some(took) = failovers.look(&s.promoted, Instant::now()) {
                EVENTS.failover(took);
                log(format!(
                    "the promoted copy moved to {} ({:.1} s since the old one was last seen)",
                    s.promoted.join(", "),
                    took.as_secs_f64()
                ));
            }
            if gate.is_open() {
                gate.lag_tick(me, &s);
            } else {
                gate.tick(me, membership.expected(), &s);
            }
        }
        drop(gate);
        if !configured {
            match cluster_status() {
                Ok(s) if s.dc.is_some() && s.node_online(me) => {
                    match ensure_configuration(&p.cib, &CibTarget::live()).and_then(|changed| {
                        set_standby(me, false)?;
                        Ok(changed)
                    }) {
                        Ok(changed) => {
                            configured = true;
                            log(if changed {
                                "quorum reached; loaded the configuration into the CIB"
                            } else {
                                "quorum reached; the CIB already holds the configuration"
                            });
                        }
                        Err(e) => log(format!("configuring the CIB failed, will retry: {e:#}")),
                    }
                }
                Ok(_) | Err(_) => {
                    if last_note.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        log("waiting for quorum and a DC");
                        last_note = Some(Instant::now());
                    }
                }
            }
        }
        std::thread::sleep(TICK);
    }
}

/// Logs once when corosync did not get the real-time priority it asked for.
fn warn_without_real_time(corosync: &Daemon) {
    let Some(pid) = corosync.pid() else { return };
    let Ok(stat) = procfs::process::Process::new(pid.as_raw()).and_then(|p| p.stat()) else {
        return;
    };
    if let Some(w) = stat
        .policy
        .map(realtime::policy)
        .and_then(realtime::warning)
    {
        log(w);
    }
}

#[cfg(test)]
mod tests {
    use super::id_of;

    #[test]
    fn pacemaker_gets_the_rest_of_the_grace_period() {
        use super::pacemaker_stop_budget;
        use std::time::Duration;
        let s = Duration::from_secs;
        assert_eq!(pacemaker_stop_budget(s(30), s(4)), s(23));
        assert_eq!(pacemaker_stop_budget(s(30), s(29)), s(5));
        assert_eq!(pacemaker_stop_budget(s(10), s(60)), s(5));
    }

    #[test]
    fn looks_up_ids() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nhacluster:x:102:105::/var/lib/pacemaker:/usr/sbin/nologin\n";
        assert_eq!(id_of(passwd, "hacluster"), Some(102));
        assert_eq!(id_of(passwd, "root"), Some(0));
        assert_eq!(id_of(passwd, "nobody"), None);
        assert_eq!(id_of("haclient:x:105:\n", "haclient"), Some(105));
    }
}
