//! The OCF actions. Each one observes both servers (pid files + control sockets), decides,
//! and acts with at most one unixctl round trip per server; processes are spawned only to
//! start servers, prepare database files, or write a changed promotion score.

use crate::action_plan;
use crate::addrs;
use crate::busy;
use crate::env::{Env, ExpectedRole};
use crate::layout::DbLayout;
use crate::log::Logger;
use crate::monitor_plan::{self, Failure, Outcome, Scored};
use crate::notify::Notify;
use crate::ocf::{OcfError, Rc};
use crate::params::{Params, Proto};
use crate::procs;
use crate::schema::{self, Due, Version};
use crate::schema_change;
use crate::score::{Health, Keeper};
use crate::server;
use crate::status::{self, DbState, Pair, SERVER_COMM};
use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use ovsdb_unixctl::{Client, Command, Link};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for a TCP connection to the active before asking it for its schema.
const REACH_LIMIT: Duration = Duration::from_millis(300);

/// Longest wait in `monitor` for a restart in place that the supervisor has marked.
const RESTART_WAIT: Duration = Duration::from_secs(2);

/// Longest wait for a supervisor's restart marker after an unclean death (ten of the crash
/// watcher's 20 ms polls).
const MARKER_GRACE: Duration = Duration::from_millis(200);

/// Whether `pidfile` names a server that is gone (a clean stop removes the pidfile).
fn unclean_death(pidfile: &Path) -> bool {
    procs::read_pidfile(pidfile).is_some_and(|pid| !procs::is_running(pid, SERVER_COMM))
}

/// The marker a supervisor (the pod's entrypoint) keeps next to a pidfile while it restarts a
/// crashed server in place.
fn restart_marker(pidfile: &Path) -> std::path::PathBuf {
    ovn_ha_contract::restarting_marker(pidfile)
}

/// What [`Ctx::ensure_following`] re-pointed: how many databases, and how many of them after
/// converting to the active's schema.
#[derive(Debug, Default, Clone, Copy)]
struct Repointed {
    count: usize,
    for_schema: usize,
}

/// Everything an action needs.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The environment.
    pub env: &'a Env,
    /// The logger.
    pub log: &'a Logger,
    /// Parsed parameters.
    pub params: Params,
    /// NB and SB layouts.
    pub layouts: [DbLayout; 2],
    /// Score cache and writer.
    pub keeper: Keeper,
}

impl<'a> Ctx<'a> {
    /// Builds the context; parameter errors carry OCF_ERR_CONFIGURED.
    pub fn new(env: &'a Env, log: &'a Logger) -> Result<Self, OcfError> {
        Ok(Self::with_params(env, log, Params::from_env(env)?))
    }

    fn with_params(env: &'a Env, log: &'a Logger, params: Params) -> Self {
        let layouts = DbLayout::both(&params);
        let keeper = Keeper::new(&params.state_dir, env.instance(), env.on_node());
        Self {
            env,
            log,
            params,
            layouts,
            keeper,
        }
    }

    /// The operation timeout (default 20 s).
    fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.env.timeout_ms().unwrap_or(20_000).max(1000))
    }

    /// Per-call bound on unixctl requests.
    fn call_timeout(&self) -> Duration {
        (self.op_timeout() / 4).clamp(Duration::from_millis(500), Duration::from_secs(5))
    }

    /// Waits (at most [`RESTART_WAIT`]) while a supervisor restarts a crashed server in place:
    /// it marks that with `<pidfile>.restarting`. A server found dead with its pidfile still
    /// there (an unclean death, which the supervisor restarts) may not be marked yet — the
    /// supervisor looks every 20 ms — so then the marker is waited for up to [`MARKER_GRACE`]
    /// first; reporting the death at once would make Pacemaker move a copy that is back a
    /// moment later. Returns whether it waited for a restart.
    fn wait_for_restart_in_place(&self) -> bool {
        let marked = || {
            self.layouts
                .iter()
                .any(|l| restart_marker(&l.pidfile).exists())
        };
        if !marked() {
            if !self.layouts.iter().any(|l| unclean_death(&l.pidfile)) {
                return false;
            }
            let deadline = Instant::now() + MARKER_GRACE;
            while !marked() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !marked() {
                return false;
            }
        }
        let deadline = Instant::now() + RESTART_WAIT;
        while marked() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.log
            .info("waited for a database server being restarted in place");
        true
    }

    fn observe(&self) -> [DbState; 2] {
        status::observe(
            &self.layouts,
            self.call_timeout(),
            self.op_timeout() * 3 / 5,
        )
    }

    /// [`observe`](Self::observe) without waiting longer for a busy server: for a
    /// notification, which every node's part of the transition waits behind.
    fn observe_unwaiting(&self) -> [DbState; 2] {
        status::observe(&self.layouts, self.call_timeout(), self.call_timeout())
    }

    /// The target a backup of `l` must follow: master_ip, unless this host serves it.
    fn desired_target(&self, l: &DbLayout) -> String {
        match addrs::is_local(self.params.master_ip) {
            Ok(false) => l.active_target(self.params.master_ip),
            Ok(true) => {
                self.log.debug(&format!(
                    "master_ip {} is served by this host; {} waits on a placeholder",
                    self.params.master_ip,
                    l.db.schema_name()
                ));
                l.placeholder_target()
            }
            Err(e) => {
                self.log.warn(&format!(
                    "cannot list local addresses ({e}); using a placeholder"
                ));
                l.placeholder_target()
            }
        }
    }

    /// Points every database that is active, failed, or following the wrong target at the
    /// desired target. With `schemas` (a monitor of an unpromoted copy), a database that is
    /// active here because its replication stopped on a schema the active does not share is
    /// first converted to the active's schema ([`crate::schema`]: backups follow); a demote or
    /// a start never asks the active, which may be moving.
    fn ensure_following(&self, states: &[DbState; 2], schemas: bool) -> Result<Repointed> {
        let mut done = Repointed::default();
        for (l, st) in self.layouts.iter().zip(states) {
            let needs = match st {
                DbState::Running { status, .. } => {
                    status.is_active()
                        || status.link() == Some(Link::Failed)
                        || status.target() != Some(l.active_target(self.params.master_ip).as_str())
                }
                _ => false,
            };
            if !needs {
                continue;
            }
            let want = self.desired_target(l);
            if st.target() == Some(want.as_str())
                && !st.is_active()
                && st.link() != Some(Link::Failed)
            {
                continue;
            }
            let converted = schemas && st.is_active() && self.follow_schema(l, &want);
            self.repoint(l, &want)?;
            done.count += 1;
            done.for_schema += usize::from(converted);
        }
        Ok(done)
    }

    /// Makes `l`'s server a backup of `want` and logs it.
    fn repoint(&self, l: &DbLayout, want: &str) -> Result<()> {
        Client::connect(&l.ctl, self.call_timeout())?
            .follow(want)
            .with_context(|| format!("making {} a backup of {want}", l.db.schema_name()))?;
        self.log
            .info(&format!("{} now follows {want}", l.db.schema_name()));
        Ok(())
    }

    /// Converts `l`'s running database, active because its replication stopped on the active's
    /// new schema, to the schema the active at `target` serves, if that differs from its own
    /// (the caller re-points it at once). Returns whether it converted; a failure is logged,
    /// and the database is re-pointed all the same. The entrypoint's standby link converts a
    /// backup the moment its link ends at the active's conversion; this is the fallback.
    fn follow_schema(&self, l: &DbLayout, target: &str) -> bool {
        let Some(addr) = crate::tcp::parse_tcp_target(target) else {
            return false;
        };
        // While the VIP moves nobody answers there, and a schema fetch would hold this action
        // (and every operation Pacemaker queues behind it) for its whole timeout.
        if std::net::TcpStream::connect_timeout(&addr, REACH_LIMIT).is_err() {
            self.log.debug(&format!(
                "{target} does not answer; the schema comparison waits for the next look"
            ));
            return false;
        }
        let name = l.db.schema_name();
        let step = || -> Result<Option<(Version, Version)>> {
            let theirs = schema_change::active_schema(&self.params.ovsdb_client, l, target)?;
            let to = schema::schema_version(&theirs)?;
            let from = schema_change::file_version(l)?;
            if to == from {
                return Ok(None);
            }
            let file = l.db.active_schema(&self.params.run_dir);
            std::fs::write(&file, theirs).with_context(|| format!("writing {}", file.display()))?;
            schema_change::convert_running(&self.params.ovsdb_client, l, &file)?;
            Ok(Some((from, to)))
        };
        match step() {
            Ok(Some((from, to))) => {
                self.log.info(&format!(
                    "{name}: converted from schema {from} to the active's {to}, to replicate it"
                ));
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.log.warn(&format!(
                    "{name}: comparing with the active's schema: {e:#}"
                ));
                false
            }
        }
    }

    /// On the promoted copy: converts each database whose file is behind this image's schema
    /// once every node has published an image with that schema ([`schema::upgrade_due`]).
    /// Failures are logged; the copy keeps serving its schema.
    fn upgrade_schema(&self) {
        for l in &self.layouts {
            let name = l.db.schema_name();
            let step = || -> Result<Due> {
                let (file, image) = (
                    schema_change::file_version(l)?,
                    schema_change::image_version(l)?,
                );
                if file >= image {
                    return Ok(Due::No);
                }
                schema_change::publish(l)?;
                let (nodes, published) = schema_change::cluster_view(l)?;
                let due = schema::upgrade_due(file, image, &nodes, &published);
                if let Due::Now { to } = &due {
                    self.log.info(&format!(
                        "{name}: every node runs an image with schema {to}; converting from {file}"
                    ));
                    schema_change::convert_running(&self.params.ovsdb_client, l, &l.schema)?;
                    self.log.info(&format!("{name}: now on schema {to}"));
                }
                Ok(due)
            };
            match step() {
                Ok(Due::Waiting { nodes }) => self.log.debug(&format!(
                    "{name}: schema change waits for {}",
                    nodes.join(", ")
                )),
                Ok(_) => {}
                Err(e) => self.log.warn(&format!("{name}: schema change: {e:#}")),
            }
        }
    }

    /// Publishes this node's image schema versions (so the promoted copy knows when every
    /// node can follow a conversion); failures are logged.
    fn publish_schemas(&self) {
        for l in &self.layouts {
            if let Err(e) = schema_change::publish(l) {
                self.log.warn(&format!(
                    "{}: publishing the image's schema version: {e:#}",
                    l.db.schema_name()
                ));
            }
        }
    }

    /// Whether the promotion gate (if configured) is closed now.
    fn gated(&self) -> bool {
        self.params.promotion_gate.as_deref().is_some_and(|path| {
            crate::score::gate_closed(std::fs::read_to_string(path).ok().as_deref())
        })
    }

    fn set_probe_interval(&self) -> Result<()> {
        for l in &self.layouts {
            let mut c = Client::connect(&l.ctl, self.call_timeout())?;
            c.set_active_probe_interval(self.params.inactive_probe_interval_to_master)
                .with_context(|| format!("setting the probe interval of {}", l.db.schema_name()))?;
        }
        Ok(())
    }
}

/// Host-specific checks: binaries and schemas installed (5), TLS files present (2).
pub fn check_host(p: &Params) -> Result<(), OcfError> {
    let installed = |param: &str, path: &Path| -> Result<(), OcfError> {
        if path.is_file() {
            Ok(())
        } else {
            Err(OcfError::new(
                Rc::ErrInstalled,
                format!("parameter {param}: {} is not installed", path.display()),
            ))
        }
    };
    installed("ovsdb_server", &p.ovsdb_server)?;
    installed("ovsdb_tool", &p.ovsdb_tool)?;
    installed("db_nb_schema", &p.db_nb_schema)?;
    installed("db_sb_schema", &p.db_sb_schema)?;
    for (db, e) in [("nb", &p.nb), ("sb", &p.sb)] {
        if e.proto != Proto::Ssl {
            continue;
        }
        for (what, path) in [
            ("privkey", &e.privkey),
            ("cert", &e.cert),
            ("cacert", &e.cacert),
        ] {
            if std::fs::File::open(path).is_err() {
                return Err(OcfError::new(
                    Rc::ErrArgs,
                    format!(
                        "parameter ovn_{db}_db_{what}: {} is not readable on this host",
                        path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// validate-all.
pub fn validate(ctx: &Ctx<'_>) -> Result<Rc> {
    check_host(&ctx.params)?;
    Ok(Rc::Success)
}

fn raise_open_files_limit(log: &Logger) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if soft < want
            && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, want, hard)
        {
            log.warn(&format!("cannot raise the open files limit: {e}"));
        }
    }
}

/// Starts both servers as backups from the database files (no server may be running).
fn start_fresh(ctx: &Ctx<'_>) -> Result<()> {
    raise_open_files_limit(ctx.log);
    for l in &ctx.layouts {
        server::prepare_db(&ctx.params.ovsdb_tool, l)
            .with_context(|| format!("preparing {}", l.file.display()))?;
    }
    let mut launchers = Vec::new();
    for l in &ctx.layouts {
        let target = ctx.desired_target(l);
        ctx.log.info(&format!(
            "starting {} as a backup of {target}",
            l.db.schema_name()
        ));
        launchers.push((l, server::spawn(&ctx.params, l, &target)?));
    }
    let mut first_err = None;
    for (l, child) in launchers {
        if let Err(e) = server::wait_launcher(l, child) {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    ctx.set_probe_interval()?;
    Ok(())
}

/// Stops both servers: unixctl `exit`, then SIGTERM, then SIGKILL, each wait bounded.
/// Returns whether any server was running.
fn stop_servers(ctx: &Ctx<'_>) -> Result<bool> {
    let budget = ctx.op_timeout().saturating_sub(Duration::from_secs(1));
    let deadline = Instant::now() + budget;
    let mut victims: Vec<(i32, Option<i32>, &DbLayout)> = Vec::new();
    for l in &ctx.layouts {
        let Some(pid) =
            procs::read_pidfile(&l.pidfile).filter(|p| procs::is_running(*p, SERVER_COMM))
        else {
            continue;
        };
        // With --monitor, the parent is a monitor process that restarts crashed daemons.
        let monitor = procs::ppid(pid).filter(|pp| *pp > 1 && procs::is_running(*pp, SERVER_COMM));
        victims.push((pid, monitor, l));
    }
    for (_, _, l) in &victims {
        match Client::connect(&l.ctl, Duration::from_millis(1000)).and_then(|mut c| c.exit()) {
            Ok(()) => {}
            Err(e) => ctx.log.warn(&format!(
                "unixctl exit of {} failed: {e}",
                l.db.schema_name()
            )),
        }
    }
    let left = |d: Instant| d.saturating_duration_since(Instant::now());
    let phases = [
        (None, Duration::from_secs(5)),
        (Some(Signal::SIGTERM), Duration::from_secs(3)),
        (Some(Signal::SIGKILL), Duration::from_secs(2)),
    ];
    for (sig, wait) in phases {
        let alive: Vec<i32> = victims
            .iter()
            .flat_map(|(p, m, _)| [Some(*p), *m])
            .flatten()
            .filter(|p| procs::is_running(*p, SERVER_COMM))
            .collect();
        if alive.is_empty() {
            break;
        }
        if let Some(sig) = sig {
            ctx.log.warn(&format!("sending {sig} to {alive:?}"));
            for p in &alive {
                procs::signal(*p, sig)?;
            }
        }
        let limit = wait.min(left(deadline));
        for p in &alive {
            procs::wait_gone(*p, SERVER_COMM, limit.min(left(deadline)));
        }
    }
    let survivors: Vec<i32> = victims
        .iter()
        .flat_map(|(p, m, _)| [Some(*p), *m])
        .flatten()
        .filter(|p| procs::is_running(*p, SERVER_COMM))
        .collect();
    if !survivors.is_empty() {
        bail!("ovsdb-server processes {survivors:?} survived SIGKILL");
    }
    for l in &ctx.layouts {
        if procs::read_pidfile(&l.pidfile).is_some_and(|p| !procs::is_running(p, SERVER_COMM)) {
            let _ = std::fs::remove_file(&l.pidfile);
        }
    }
    Ok(!victims.is_empty())
}

fn health_of(states: &[DbState; 2]) -> Health {
    if status::really_replicating(states).iter().all(|r| *r) {
        Health::Healthy
    } else {
        Health::NotReplicating
    }
}

/// start: both servers up as backups replicating from master_ip.
pub fn start(ctx: &Ctx<'_>) -> Result<Rc> {
    check_host(&ctx.params)?;
    let states = ctx.observe();
    match action_plan::start(&status::classify(&states[0], &states[1])) {
        action_plan::Start::Fresh => start_fresh(ctx)?,
        action_plan::Start::Follow { warn_active } => {
            if warn_active {
                ctx.log
                    .warn("servers were already running as active; making them backups");
            }
            ctx.ensure_following(&states, false)?;
        }
        action_plan::Start::Restart => {
            ctx.log.warn("servers were partly running; restarting both");
            stop_servers(ctx)?;
            start_fresh(ctx)?;
        }
    }
    let states = ctx.observe();
    if status::classify(&states[0], &states[1]) != Pair::Backup {
        bail!("after start the servers are not both backups: {states:?}");
    }
    ctx.keeper.forget_score(ctx.log);
    ctx.keeper
        .update(health_of(&states), ctx.gated(), true, ctx.log);
    ctx.publish_schemas();
    Ok(Rc::Success)
}

/// stop: both servers gone, score removed.
pub fn stop(ctx: &Ctx<'_>) -> Result<Rc> {
    // The score goes first: the active holds its replies from the moment this copy's
    // replication ends until it sees this copy unpromotable.
    let scored = ctx.keeper.has_record();
    if scored {
        ctx.keeper.clear(ctx.log);
    }
    let ran = stop_servers(ctx)?;
    // A stop of a stopped copy spawns nothing unless a score may still be set.
    if ran && !scored {
        ctx.keeper.clear(ctx.log);
    }
    Ok(Rc::Success)
}

fn partial_reason(states: &[DbState; 2], layouts: &[DbLayout; 2]) -> String {
    let mut parts = Vec::new();
    for (s, l) in states.iter().zip(layouts) {
        let what = match s {
            DbState::Stopped => "stopped".to_owned(),
            DbState::Running { status, .. } if status.is_active() => "active".to_owned(),
            DbState::Running { .. } => "backup".to_owned(),
            DbState::Unresponsive { error, .. } => format!("unresponsive ({error})"),
        };
        parts.push(format!("{} {what}", l.db.short().to_uppercase()));
    }
    parts.join(", ")
}

/// monitor (probe when the interval is 0).
pub fn monitor(ctx: &Ctx<'_>) -> Result<Rc> {
    let probe = ctx.env.interval_ms() == 0;
    let role = if probe { None } else { ctx.env.expected_role() };
    let mut states = ctx.observe();
    // An unpromoted copy with an active database may be in the middle of the entrypoint's
    // conversion at the active's schema change (made active, converted, reconnected, all under
    // the role lock): look again once that is done, and keep the lock while acting on it.
    let _role = if role == Some(ExpectedRole::Unpromoted) && states.iter().any(DbState::is_active) {
        match crate::role_lock::hold(&ctx.params.run_dir, crate::role_lock::WAIT) {
            Ok(lock) => {
                states = ctx.observe();
                Some(lock)
            }
            Err(e) => {
                ctx.log.warn(&format!("{e:#}"));
                None
            }
        }
    } else {
        None
    };
    let mut pair = status::classify(&states[0], &states[1]);
    if !matches!(pair, Pair::Active | Pair::Backup) && ctx.wait_for_restart_in_place() {
        states = ctx.observe();
        pair = status::classify(&states[0], &states[1]);
    }
    // A busy server is not a failed one, for a while (crate::busy).
    let streak = busy::Streak::at(&ctx.params.run_dir);
    match role {
        Some(expected) if status::only_busy(&states) => {
            let so_far = streak.so_far();
            if busy::tolerated(so_far) {
                ctx.log.warn(&format!(
                    "busy for {:.0} s, not failed until {} s: {}",
                    so_far.as_secs_f64(),
                    busy::BUSY_LIMIT.as_secs(),
                    partial_reason(&states, &ctx.layouts)
                ));
                return Ok(match expected {
                    ExpectedRole::Promoted => Rc::RunningPromoted,
                    ExpectedRole::Unpromoted => Rc::Success,
                });
            }
        }
        _ => streak.end(),
    }
    let failed = |why: String| -> anyhow::Error {
        let rc = if role == Some(ExpectedRole::Promoted) {
            Rc::FailedPromoted
        } else {
            Rc::ErrGeneric
        };
        OcfError::new(rc, why).into()
    };
    let plan = monitor_plan::plan(&pair, role, probe, ctx.gated());
    if plan.warn_not_promoted {
        ctx.log
            .warn("expected promoted, but both databases are backups");
    }
    let why = || partial_reason(&states, &ctx.layouts);
    let repointed = if plan.follow {
        ctx.ensure_following(&states, role == Some(ExpectedRole::Unpromoted))?
    } else {
        Repointed::default()
    };
    // During an upgrade (a database behind this image's schema): this node's image schema is
    // published at every monitor, and the promoted copy converts once every node can follow.
    if !probe && ctx.layouts.iter().any(schema_change::behind_image) {
        if role == Some(ExpectedRole::Promoted) && pair == Pair::Active {
            ctx.upgrade_schema();
        } else {
            ctx.publish_schemas();
        }
    }
    if let Some(s) = plan.score {
        let health = match s.health {
            Scored::Healthy => Health::Healthy,
            Scored::Fault => Health::Fault,
            Scored::Observed => health_of(&states),
        };
        ctx.keeper.update(health, s.gated, s.force, ctx.log);
    }
    let n = repointed.count;
    match plan.outcome {
        Outcome::Report(rc) => Ok(rc),
        Outcome::Fail(Failure::Partial | Failure::Mixed) => Err(failed(why())),
        // Replication stopped on the active's new schema, and this copy follows it now: a
        // step of an upgrade, not a failure.
        Outcome::Fail(Failure::ActiveUnpromoted | Failure::MixedUnpromoted)
            if n > 0 && repointed.for_schema == n =>
        {
            Ok(Rc::Success)
        }
        Outcome::Fail(Failure::ActiveUnpromoted) => Err(failed(format!(
            "both databases were active on an unpromoted copy; re-pointed {n} as backups"
        ))),
        Outcome::Fail(Failure::MixedUnpromoted) => Err(failed(format!(
            "a database was active on an unpromoted copy ({}); re-pointed {n} as backup",
            why()
        ))),
    }
}

/// promote: one `disconnect-active-ovsdb-server` per database (pipelined with a check).
/// Changes no node attribute. Holds the role lock from before it observes until both are
/// active, so no standby-link reconnect can turn a promoted copy back into a backup.
pub fn promote(ctx: &Ctx<'_>) -> Result<Rc> {
    let _role = crate::role_lock::hold(&ctx.params.run_dir, crate::role_lock::WAIT)?;
    let states = ctx.observe();
    match action_plan::promote(&status::classify(&states[0], &states[1])) {
        action_plan::Promote::AlreadyActive => return Ok(Rc::Success),
        action_plan::Promote::NotRunning => {
            return Err(OcfError::new(
                Rc::NotRunning,
                "cannot promote: the servers are not running",
            )
            .into());
        }
        action_plan::Promote::Refuse => {
            bail!("cannot promote: {}", partial_reason(&states, &ctx.layouts));
        }
        action_plan::Promote::Disconnect => {}
    }
    // Send to both servers first, then read both replies.
    let mut inflight = Vec::new();
    for (l, st) in ctx.layouts.iter().zip(&states) {
        if st.is_active() {
            continue;
        }
        let mut c = Client::connect(&l.ctl, ctx.call_timeout())?;
        let a = c.send(&Command::DisconnectActive)?;
        let b = c.send(&Command::SyncStatus)?;
        inflight.push((l, c, a, b));
    }
    for (l, mut c, a, b) in inflight {
        c.receive(a)
            .with_context(|| format!("promoting {}", l.db.schema_name()))?;
        let text = c.receive(b)?;
        if !status::interpret(0, l, &text).is_active() {
            bail!(
                "{} is not active after promotion: {}",
                l.db.schema_name(),
                text.trim()
            );
        }
    }
    ctx.keeper.mark_healthy(ctx.log);
    ctx.log.info("promoted: both databases active");
    spawn_listen_poker(ctx);
    apply_inactivity_probe(ctx);
    Ok(Rc::Success)
}

/// ovsdb-server's own default inactivity probe for command-line remotes (ms).
const DEFAULT_INACTIVITY_PROBE: u64 = 5000;

/// With a non-default `inactive_probe_interval`, records the listening remote as the
/// database's connection with that probe (as OVN's shell agent does after a promotion). The
/// row replicates to the standbys. Skipped for the default, so a default promote spawns
/// nothing. Failures are logged, not fatal.
fn apply_inactivity_probe(ctx: &Ctx<'_>) {
    if ctx.params.inactive_probe_interval == DEFAULT_INACTIVITY_PROBE {
        return;
    }
    // NB and SB at once, each bounded (Pacemaker's promote timeout bounds the whole action).
    std::thread::scope(|scope| {
        for l in &ctx.layouts {
            scope.spawn(move || {
                let mut cmd = std::process::Command::new(server::ctl_program(l));
                cmd.args(server::connection_args(&ctx.params, l));
                match ovn_ha_exec::Exec::new(&cmd).limit(CTL_LIMIT).output() {
                    Ok(_) => ctx.log.info(&format!(
                        "{}: inactivity probe {} ms",
                        l.db.schema_name(),
                        ctx.params.inactive_probe_interval
                    )),
                    Err(e) => ctx.log.warn(&e.to_string()),
                }
            });
        }
    });
}

/// Longest an `ovn-nbctl`/`ovn-sbctl` call of a promotion may take.
const CTL_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// demote: both databases become backups of master_ip (or of a placeholder while this host
/// still serves master_ip). A copy found stopped is started as a backup, so the demote tells
/// the truth without aborting the transition with "not running".
pub fn demote(ctx: &Ctx<'_>) -> Result<Rc> {
    let states = ctx.observe();
    match action_plan::demote(&status::classify(&states[0], &states[1])) {
        action_plan::Demote::StartFresh => {
            ctx.log
                .warn("demote found the servers stopped; starting them as backups");
            start_fresh(ctx)?;
        }
        action_plan::Demote::Restart => {
            ctx.log.warn(&format!(
                "demote found {}; restarting both as backups",
                partial_reason(&states, &ctx.layouts)
            ));
            stop_servers(ctx)?;
            start_fresh(ctx)?;
        }
        action_plan::Demote::MarkHealthyThenFollow => {
            ctx.keeper.mark_healthy(ctx.log);
            ctx.ensure_following(&states, false)?;
        }
        action_plan::Demote::Follow => {
            ctx.ensure_following(&states, false)?;
        }
    }
    let states = ctx.observe();
    if status::classify(&states[0], &states[1]) != Pair::Backup {
        bail!(
            "after demote the servers are not both backups: {}",
            partial_reason(&states, &ctx.layouts)
        );
    }
    Ok(Rc::Success)
}

/// notify: after a promotion elsewhere, every running backup reconnects to master_ip at once.
/// Its connection, even one the kernel still calls established, led to the copy that held the
/// address before: after a graceful move that copy could not send its FIN (the address was
/// already gone from its host), after a node loss nobody can, and a backup sends nothing on
/// its own until its probe (60 s by default), so without this it would miss every write of
/// the new active for up to a minute and could later be promoted without them. The reconnect
/// costs one snapshot of each database, which a backup of a new active needs anyway.
/// Never fails.
pub fn notify(ctx: &Ctx<'_>) -> Result<Rc> {
    let n = Notify::from_env(ctx.env);
    // A busy server is re-pointed by the next monitor instead.
    let states = ctx.observe_unwaiting();
    for i in reconnects_after(&n, ctx.env.on_node(), &states) {
        let l = &ctx.layouts[i];
        let want = ctx.desired_target(l);
        match Client::connect(&l.ctl, ctx.call_timeout()).and_then(|mut c| c.refollow(&want)) {
            Ok(()) => ctx
                .log
                .info(&format!("{} reconnects to {want}", l.db.schema_name())),
            Err(e) => ctx.log.warn(&format!("notify: {e}")),
        }
    }
    Ok(Rc::Success)
}

/// The databases (indexes into the layouts) that must reconnect to master_ip on notification
/// `n` on node `me`: after a promotion elsewhere, every running one that is not active.
fn reconnects_after(n: &Notify, me: Option<&str>, states: &[DbState; 2]) -> Vec<usize> {
    if !n.is_post_promote() || me.is_some_and(|me| n.promotes(me)) {
        return Vec::new();
    }
    states
        .iter()
        .enumerate()
        .filter(|(_, st)| matches!(st, DbState::Running { .. }) && !st.is_active())
        .map(|(i, _)| i)
        .collect()
}

/// After a promotion with `listen_on_master_ip_only`, ovsdb-server retries its failed
/// listener on master_ip only when its main loop wakes up (up to ~2.5 s later). A detached
/// helper (at most one per instance) watches for the address to appear and wakes both
/// servers at once. Best effort; the promote does not wait for it.
fn spawn_listen_poker(ctx: &Ctx<'_>) {
    if !ctx.params.listen_on_master_ip_only || addrs::is_local(ctx.params.master_ip).unwrap_or(true)
    {
        return;
    }
    let pidfile = poker_pidfile(ctx);
    if procs::read_pidfile(&pidfile).is_some_and(|p| procs::is_running(p, POKER_COMM)) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let res = std::process::Command::new(exe)
        .arg(POKE_ACTION)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    match res {
        Ok(child) => {
            let _ = std::fs::create_dir_all(&ctx.params.state_dir);
            let _ = std::fs::write(&pidfile, format!("{}\n", child.id()));
        }
        Err(e) => ctx
            .log
            .warn(&format!("cannot start the listener helper: {e}")),
    }
}

/// `comm` of this agent's processes (15 characters at most).
const POKER_COMM: &str = "ovndb-servers";

fn poker_pidfile(ctx: &Ctx<'_>) -> std::path::PathBuf {
    ctx.params.state_dir.join(format!(
        "{}.waker.pid",
        crate::score::file_stem(ctx.env.instance())
    ))
}

/// Hidden action name of the helper.
pub const POKE_ACTION: &str = "_wake-on-master-ip";

/// The helper: wait (at most 60 s, and only while NB stays active) until master_ip is local,
/// then wake both servers a few times so they bind their listeners on it.
pub fn wake_on_master_ip(ctx: &Ctx<'_>) -> Result<Rc> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let still_active = || {
        Client::connect(&ctx.layouts[0].ctl, Duration::from_millis(500))
            .and_then(|mut c| c.sync_status())
            .is_ok_and(|s| s.all_active())
    };
    let mut n: u32 = 0;
    loop {
        if addrs::is_local(ctx.params.master_ip).unwrap_or(false) {
            break;
        }
        if Instant::now() >= deadline || (n % 25 == 24 && !still_active()) {
            return Ok(Rc::Success);
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..5 {
        for l in &ctx.layouts {
            let _ = Client::connect(&l.ctl, Duration::from_millis(500))
                .and_then(|mut c| c.sync_status());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(poker_pidfile(ctx));
    Ok(Rc::Success)
}

/// A context for stop even when parameters are invalid: stop must be able to clean up.
pub fn ctx_for_stop<'a>(env: &'a Env, log: &'a Logger) -> Result<Ctx<'a>, OcfError> {
    match Params::from_env(env) {
        Ok(p) => Ok(Ctx::with_params(env, log, p)),
        Err(e) => {
            log.warn(&format!("stopping with default addresses: {}", e.reason));
            let mut fixed = env.clone();
            fixed.set("OCF_RESKEY_master_ip", "127.0.0.1");
            fixed.set("OCF_RESKEY_manage_northd", "no");
            let p = Params::from_env(&fixed).map_err(|_| e)?;
            Ok(Ctx::with_params(env, log, p))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code may panic
    use super::*;

    fn st(text: &str, which: usize) -> DbState {
        let p =
            Params::from_env(&Env::from_pairs([("OCF_RESKEY_master_ip", "192.0.2.10")])).unwrap();
        status::interpret(100 + which as i32, &DbLayout::both(&p)[which], text)
    }

    fn notice(kind: &str, op: &str, promote: &str) -> Notify {
        let pairs = [
            ("OCF_RESKEY_CRM_meta_notify_type", kind),
            ("OCF_RESKEY_CRM_meta_notify_operation", op),
            ("OCF_RESKEY_CRM_meta_notify_promote_uname", promote),
        ];
        Notify::from_env(&Env::from_pairs(pairs))
    }

    /// A server dead with its pidfile left: monitor waits for the supervisor's marker that
    /// comes a moment later, then for the restart; with no marker coming it gives up after
    /// the grace; with no unclean death it does not wait at all.
    #[test]
    fn an_unclean_death_waits_for_the_restart_marker() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().to_str().unwrap().to_string();
        let env = Env::from_pairs([
            ("OCF_RESKEY_master_ip", "192.0.2.10"),
            ("OCF_RESKEY_run_dir", run.as_str()),
            ("OCF_RESKEY_state_dir", run.as_str()),
        ]);
        let log = Logger::from_env(&env);
        let ctx = Ctx::new(&env, &log).unwrap();
        assert!(!ctx.wait_for_restart_in_place(), "nothing dead, no marker");
        // A pid that is surely not an ovsdb-server: this test's own.
        let pidfile = ctx.layouts[0].pidfile.clone();
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert!(!ctx.wait_for_restart_in_place(), "no marker comes");
        let marker = restart_marker(&pidfile);
        let m = marker.clone();
        let supervisor = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(40));
            std::fs::write(&m, b"").unwrap();
            std::thread::sleep(Duration::from_millis(40));
            std::fs::remove_file(&m).unwrap();
        });
        assert!(
            ctx.wait_for_restart_in_place(),
            "the marker came within the grace"
        );
        supervisor.join().unwrap();
        assert!(!marker.exists());
    }

    #[test]
    fn who_reconnects_after_a_notification() {
        let repl = |i| st("state: backup\nreplicating: tcp:192.0.2.10:6641\n", i);
        let active = |i| st("state: active\n", i);
        let gone = DbState::Stopped;
        let stuck = DbState::Unresponsive {
            pid: 7,
            error: "no answer".into(),
            busy: false,
        };
        let promote_b = notice("post", "promote", "node-b");
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, &Notify, Option<&str>, [DbState; 2], &[usize])] = &[
            // A backup that still "replicates" reconnects: its connection led to the old active.
            (
                "replicating backups",
                &promote_b,
                Some("node-a"),
                [repl(0), repl(1)],
                &[0, 1],
            ),
            (
                "node unknown",
                &promote_b,
                None,
                [repl(0), repl(1)],
                &[0, 1],
            ),
            (
                "the promoted node itself",
                &promote_b,
                Some("node-b"),
                [repl(0), repl(1)],
                &[],
            ),
            (
                "one server down",
                &promote_b,
                Some("node-a"),
                [gone.clone(), repl(1)],
                &[1],
            ),
            (
                "one unresponsive",
                &promote_b,
                Some("node-a"),
                [repl(0), stuck],
                &[0],
            ),
            (
                "an active one stays",
                &promote_b,
                Some("node-a"),
                [active(0), repl(1)],
                &[1],
            ),
            (
                "pre-promote",
                &notice("pre", "promote", "node-b"),
                Some("node-a"),
                [repl(0), repl(1)],
                &[],
            ),
            (
                "post-demote",
                &notice("post", "demote", " "),
                Some("node-a"),
                [repl(0), repl(1)],
                &[],
            ),
            (
                "post-start",
                &notice("post", "start", " "),
                Some("node-a"),
                [repl(0), repl(1)],
                &[],
            ),
        ];
        for (what, n, me, states, want) in cases {
            assert_eq!(reconnects_after(n, *me, states), want.to_vec(), "{what}");
        }
    }
}
