//! `cargo xtask bench failover`: how long writes stop when the active database dies, for our
//! stack, OVN's shell agent under the same Pacemaker (original and tuned timings) and OVN's RAFT
//! clustering, on the same kind of test-bed hosts with the same writer
//! (`ovn_ha_local::writer`). Prints a table (median and max of each figure), writes an SVG plot.
//!
//! Per run: a fresh cluster; the writer (`ovn-nbctl ls-add` every 50 ms through the VIP, or
//! through all three remotes for RAFT) and a sampler of the servers' roles start; the fault
//! hits at t = 3 s; the run ends after the stack's recovery allowance (15 s, 40 s for the shell
//! agent's original timings) plus `--stall-window` seconds. Figures: server-side (the sampler
//! first sees the new active, or RAFT leader, serving), client-side longest gap between
//! acknowledged writes, stalls (writes slower than 500 ms) and failures in the stall window
//! after recovery, acknowledged writes lost; and how long a real `ovn-northd` on the machine
//! (through the same remotes, default probes) took to translate into SB a write acknowledged
//! after the fault (`ovn_ha_local::northd`), and when all of a crowd of 50 idle SB subscribers
//! (as ovn-controllers, `ovn_ha_local::sb_crowd`) held that translation. Everything a run creates is removed after it, also
//! on failure. The `soak` scenario is in [`crate::bench_soak`].

use crate::bench_size::{self, Size, Sizing};
use anyhow::{Context, Result, bail};
use ovn_ha_local::cluster::{self, Reporter, Site, UpMount, UpOptions};
use ovn_ha_local::idl_writer::IdlWriter;
use ovn_ha_local::northd::{Northd, SbWatch, first_translated};
use ovn_ha_local::raft::Raft;
use ovn_ha_local::sb_crowd::{SbCrowd, all_had_one};
use ovn_ha_local::writer::{self, Outcome, Writer, WriterSpec};
use ovn_ha_local::{faults, observe};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Our agent and entrypoint: the local cluster of `cargo xtask deploy`.
    Ours,
    /// OVN's shell agent under our entrypoint's corosync + Pacemaker with the original
    /// ovn-kubernetes settings: corosync defaults, monitors 15 s / 60 s, dc-deadtime 20 s.
    Shell,
    /// OVN's shell agent with exactly the timings our entrypoint ships.
    ShellTuned,
    /// OVN's RAFT clustered databases, election timer 1000 ms, client given all remotes.
    Raft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The active (leader) host's link is cut.
    NodeLoss,
    /// `kill -9` of the active (leader) NB server.
    KillServer,
    /// Graceful switchover: SIGTERM to the active pod (Pacemaker stacks only).
    Switchover,
    /// SIGSEGV of the active NB server: a real crash, leaving its pidfile (Pacemaker stacks
    /// only).
    SegvServer,
    /// The active host's corosync traffic (UDP 5405–5406) dropped both ways while clients and
    /// replication still reach it (Pacemaker stacks only).
    CorosyncPartition,
    /// Cold start to the first acknowledged write.
    Bootstrap,
    /// `--soak-minutes` under a CPU burner: unasked membership changes and promotions.
    Soak,
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Ours => "ours",
            Stack::Shell => "shell",
            Stack::ShellTuned => "shell-tuned",
            Stack::Raft => "raft",
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::NodeLoss => "node loss",
            Scenario::KillServer => "kill -9 server",
            Scenario::Switchover => "switchover",
            Scenario::SegvServer => "SIGSEGV server",
            Scenario::CorosyncPartition => "corosync-only partition",
            Scenario::Bootstrap => "cold bootstrap",
            Scenario::Soak => "soak",
        })
    }
}

impl Stack {
    /// Runs under corosync + Pacemaker (ours or the shell agent).
    pub fn is_pacemaker(self) -> bool {
        self != Stack::Raft
    }

    /// Environment the entrypoint gets on top of the rendered one: the original
    /// ovn-kubernetes timings for `shell`, nothing (the shipped defaults) otherwise; both shell
    /// stacks switch our crash restart in place off, so a killed server is found by the shell
    /// agent's own monitor, our semi-synchronous proxy off, so the shell agent's servers
    /// listen on the ports themselves, and our client tickles off.
    pub fn extra_env(self) -> Vec<(String, String)> {
        use ovn_ha_config::db_env as var;
        match self {
            Stack::Shell => [
                (var::TOKEN_MS, "3000"),
                (var::TOKEN_COEFFICIENT_MS, "650"),
                (var::PROMOTED_MONITOR_MS, "15000"),
                (var::UNPROMOTED_MONITOR_MS, "60000"),
                (var::DC_DEADTIME_MS, "20000"),
                (var::TRANSITION_DELAY_MS, "0"),
                (var::CRASH_RESTART, "off"),
                (var::SEMI_SYNC, "off"),
                (var::CLIENT_TICKLE, "off"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            Stack::ShellTuned => vec![
                (var::CRASH_RESTART.to_string(), "off".to_string()),
                (var::SEMI_SYNC.to_string(), "off".to_string()),
                (var::CLIENT_TICKLE.to_string(), "off".to_string()),
            ],
            _ => Vec::new(),
        }
    }

    /// Bind mounts: OVN's shell agent (in the image from ovn-common) over our agent's path.
    pub fn extra_mounts(self) -> Vec<UpMount> {
        match self {
            Stack::Shell | Stack::ShellTuned => {
                vec![UpMount::image_file_over(SHELL_AGENT, OUR_AGENT)]
            }
            _ => Vec::new(),
        }
    }

    /// How long after the fault every run of this stack is given to recover before the stall
    /// window starts (the shell agent's original timings: up to a 15 s monitor, 8 s corosync).
    fn recovery_allowance(self) -> Duration {
        match self {
            Stack::Shell => Duration::from_secs(40),
            _ => Duration::from_secs(15),
        }
    }

    /// Whether this stack has the scenario.
    pub fn has(self, scenario: Scenario) -> bool {
        !(self == Stack::Raft
            && matches!(
                scenario,
                Scenario::Switchover
                    | Scenario::Soak
                    | Scenario::SegvServer
                    | Scenario::CorosyncPartition
            ))
    }
}

/// OVN's shell agent inside the image.
pub const SHELL_AGENT: &str = "/usr/share/ovn/scripts/ovndb-servers.ocf";
/// Where the image installs our agent (`ocf:ovn:ovndb-servers`).
pub const OUR_AGENT: &str = "/usr/lib/ocf/resource.d/ovn/ovndb-servers";

#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// Stacks to compare.
    #[arg(long, value_delimiter = ',', default_values_t = [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft])]
    pub stacks: Vec<Stack>,
    /// Runs per stack and scenario (the soak runs once per stack).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Scenarios (`soak` is not in the default list: it takes `--soak-minutes` per stack).
    #[arg(long, value_delimiter = ',', default_values = ["node-loss", "kill-server", "switchover", "bootstrap"])]
    pub scenarios: Vec<Scenario>,
    /// Seconds of writing after recovery, in which stalls and failures are counted.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub stall_window: u64,
    /// Minutes of the soak scenario, per stack.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub soak_minutes: u64,
    /// Where to write the SVG plot.
    #[arg(long, default_value = "docs/failover.svg")]
    pub plot: PathBuf,
    /// OCI image to run, `LAYOUT:TAG` (default: the workspace's `cargo xtask image` output).
    #[arg(long)]
    pub image: Option<String>,
    /// Extra entrypoint environment for every Pacemaker stack, `NAME=VALUE` (repeatable), e.g.
    /// `--env OVN_DB_HA_TRANSITION_DELAY_MS=300` to try a timing before shipping it.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// Database size in every run: `production` loads 100 nodes × 50 pods of ovn-kubernetes
    /// contents before the fault (ovn-northd derives SB) and adds a standby's full resync
    /// (ours) and the DB hosts' memory peak to the figures.
    #[arg(long, value_enum, default_value_t = Size::Empty)]
    pub size: Size,
    /// Run the Pacemaker stacks' containers without a real-time CPU budget (corosync then falls
    /// back to nice -20, as on a cgroup-v1 node nobody gave one): to measure what it is worth.
    #[arg(long)]
    pub no_realtime: bool,
}

/// `NAME=VALUE` for `--env`.
fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// One run's figures.
#[derive(Debug, Clone, Default)]
struct RunResult {
    server_side: Option<Duration>,
    outcome: Option<Outcome>,
    lost: usize,
    bootstrap: Option<Duration>,
    /// ovn-northd's first translation into SB of a write acknowledged after the fault.
    northd: Option<Duration>,
    /// The persistent IDL writer's first acknowledged write after the fault.
    idl: Option<Duration>,
    /// When every member of the SB crowd held a datapath of a write acknowledged after the
    /// fault (`None` if one never did).
    crowd: Option<Duration>,
    /// What `--size` loading measured.
    sizing: Sizing,
    /// The largest sum of the DB hosts' processes' peak resident sizes, MiB (`--size`).
    memory_mib: Option<u64>,
}

/// The persistent clients of one run: a real ovn-northd through the stack's remotes with the
/// SB watcher, the persistent IDL writer, and the crowd of idle SB subscribers.
struct Clients {
    northd: Northd,
    watch: SbWatch,
    idl: IdlWriter,
    crowd: SbCrowd,
}

/// Idle SB subscribers per run, as ovn-controllers of a 50-node cluster.
const CROWD: usize = 50;

/// What the persistent clients saw.
struct ClientFigures {
    northd: Option<Duration>,
    idl: Option<Duration>,
    idl_records: Vec<writer::WriteRecord>,
    crowd: Option<Duration>,
}

impl Clients {
    fn start(nb: &str, sb: &str, window: Window, lead: Duration) -> Result<Clients> {
        let northd = Northd::start(nb, sb).context("starting ovn-northd on the machine")?;
        let addrs = sb
            .split(',')
            .filter_map(|r| r.strip_prefix("tcp:")?.parse().ok())
            .collect();
        let max_time = lead
            + Duration::from_secs(5)
            + window.recovery
            + window.stalls
            + Duration::from_secs(30);
        let idl = IdlWriter::start(
            nb,
            "idl",
            Duration::from_millis(50),
            u32::try_from(max_time.as_millis() / 50).unwrap_or(u32::MAX),
            max_time,
        )
        .with_context(|| {
            format!(
                "starting the persistent IDL writer ({})",
                ovn_ha_local::idl_writer::PYTHON
            )
        })?;
        let crowd = SbCrowd::start(sb, CROWD, max_time).with_context(|| {
            format!(
                "starting the SB subscriber crowd ({})",
                ovn_ha_local::idl_writer::PYTHON
            )
        })?;
        Ok(Clients {
            northd,
            watch: SbWatch::start(addrs),
            idl,
            crowd,
        })
    }

    /// Stops them: ovn-northd's first translation of a write acknowledged after the fault
    /// (`fault_at` on the one-shot writer's clock, `fault` the same moment as an instant), and
    /// the IDL writer's first acknowledged write after it.
    fn finish(
        self,
        records: &[writer::WriteRecord],
        fault_at: Duration,
        fault: Instant,
        stalls: Duration,
    ) -> ClientFigures {
        let idl_epoch = self.idl.epoch();
        let idl_records = self.idl.stop();
        let idl = writer::analyze_within(
            &idl_records,
            fault.saturating_duration_since(idl_epoch),
            Duration::from_millis(500),
            stalls,
        )
        .since_fault;
        if idl.is_none() {
            eprintln!(
                "  the persistent IDL writer had no write acknowledged after the fault ({} writes)",
                idl_records.len()
            );
        }
        let seen = self.watch.stop();
        let sightings = self.crowd.stop();
        let after: Vec<&str> = records
            .iter()
            .filter(|r| r.acked && r.ended >= fault_at)
            .map(|r| r.name.as_str())
            .collect();
        let first = first_translated(&after, &seen, fault);
        if first.is_none() {
            let log = self.northd.log();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            eprintln!(
                "  ovn-northd translated none of the {} writes acknowledged after the fault ({} datapaths seen); its log ends:\n    {}",
                after.len(),
                seen.len(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n    ")
            );
        }
        let (crowd, missing) = all_had_one(&after, &sightings, fault);
        if missing > 0 {
            eprintln!(
                "  {missing} of the {} SB subscribers never held a datapath of a write acknowledged after the fault",
                sightings.len()
            );
        }
        ClientFigures {
            northd: first,
            idl,
            idl_records,
            crowd,
        }
    }
}

pub(crate) struct Quiet;

impl Reporter for Quiet {
    fn step(&mut self, _: &str) {}
    fn command(&mut self, _: &str) {}
}

/// The Pacemaker stacks' hosts (subnet 30); every stack uses the same ones, one at a time.
pub(crate) fn site() -> Site {
    Site::named("bench", 30)
}

/// Renders the manifests for the bench site into a temporary directory.
fn manifests(site: &Site) -> Result<(tempfile::TempDir, ovn_ha_config::Config)> {
    let config = ovn_ha_config::RenderInput {
        db_vip: Some(site.vip_cidr()),
        ..Default::default()
    }
    .validate()
    .map_err(|p| anyhow::anyhow!("{p}"))?
    .config;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let mut key = vec![0u8; 256];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let files = ovn_ha_render::render_all(&config, Some(&key))?;
    ovn_ha_render::write_atomically(dir.path(), &files)?;
    Ok((dir, config))
}

/// The image to run: `--image`, or the workspace's default layout.
pub(crate) fn image(arg: Option<&str>) -> String {
    arg.map_or_else(
        || {
            let layout = crate::image::default_output(&crate::cmd::workspace_root());
            format!("{}:latest", layout.display())
        },
        str::to_string,
    )
}

/// A Pacemaker stack that is up: its site, manifests, configuration and bootstrap time.
pub(crate) struct PacemakerUp {
    pub site: Site,
    pub config: ovn_ha_config::Config,
    pub bootstrap: Duration,
    _manifests: tempfile::TempDir,
}

/// Brings a Pacemaker stack up on fresh hosts (removing leftovers first), with `env` on top of
/// the stack's own. On failure the caller still calls [`cluster::down`].
pub(crate) fn up_pacemaker(
    stack: Stack,
    image: &str,
    env: &[(&str, &str)],
    realtime: bool,
) -> Result<PacemakerUp> {
    let site = site();
    cluster::down(&site, &mut Quiet)?;
    let (dir, config) = manifests(&site)?;
    let opts = UpOptions {
        manifests: dir.path().to_path_buf(),
        image: image.to_string(),
        hosts: 3,
        vip: config.vip.addr,
        // The shell stack's first DC election alone waits 20 s.
        wait: Duration::from_secs(180),
        extra_env: stack
            .extra_env()
            .into_iter()
            .chain(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        extra_mounts: stack.extra_mounts(),
        realtime,
    };
    let report = cluster::up(&site, &opts, &mut Quiet)?;
    Ok(PacemakerUp {
        site,
        config,
        bootstrap: report.bootstrap,
        _manifests: dir,
    })
}

/// Waits, bounded, for `done`, polling every 100 ms; the elapsed time when it became true.
pub(crate) fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// How a run after the fault is bounded and judged.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Time given to recover before the stall window.
    recovery: Duration,
    /// The stall window itself.
    stalls: Duration,
}

/// Lets the writer run until the recovery allowance plus the stall window have passed after
/// the fault, then stops it.
fn finish(w: Writer, fault_at: Duration, window: Window) -> Vec<writer::WriteRecord> {
    let end = fault_at + window.recovery + window.stalls;
    while w.now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    w.stop()
}

/// A run's one-shot writer and persistent clients, and the fault's moment (on the writer's
/// clock and as an instant).
struct Running {
    w: Writer,
    fault_at: Duration,
    fault_instant: Instant,
    clients: Clients,
}

/// Starts the writer and lets it write steadily for 3 s, `clients` running too; returns them
/// with the fault's moment.
fn before_fault(remote: &str, window: Window, clients: Clients) -> Running {
    let mut spec = WriterSpec::new(remote, "bench");
    spec.max_time =
        Duration::from_secs(3) + window.recovery + window.stalls + Duration::from_secs(30);
    spec.max_writes = u32::try_from(spec.max_time.as_millis() / 50).unwrap_or(u32::MAX);
    let w = Writer::start(spec);
    std::thread::sleep(Duration::from_secs(3));
    let fault_at = w.now();
    Running {
        w,
        fault_at,
        fault_instant: Instant::now(),
        clients,
    }
}

/// Runs out the window, reconnects a host whose link was cut, and counts what was lost.
fn after_fault(
    run: Running,
    server_side: Option<Duration>,
    remote: &str,
    window: Window,
    cut: Option<&str>,
) -> Result<RunResult> {
    let Running {
        w,
        fault_at,
        fault_instant,
        clients,
    } = run;
    let records = finish(w, fault_at, window);
    let seen = clients.finish(&records, fault_at, fault_instant, window.stalls);
    if let Some(host) = cut {
        faults::restore_link(host)?;
    }
    let present = writer::switches(remote, 5).unwrap_or_default();
    Ok(RunResult {
        northd: seen.northd,
        idl: seen.idl,
        crowd: seen.crowd,
        server_side,
        lost: writer::lost(&records, &present).len()
            + writer::lost(&seen.idl_records, &present).len(),
        outcome: Some(writer::analyze_within(
            &records,
            fault_at,
            Duration::from_millis(500),
            window.stalls,
        )),
        ..RunResult::default()
    })
}

fn run_pacemaker(
    stack: Stack,
    scenario: Scenario,
    stalls: Duration,
    size: Size,
    image: &str,
    env: &[(&str, &str)],
    realtime: bool,
) -> Result<RunResult> {
    let window = Window {
        recovery: stack.recovery_allowance(),
        stalls,
    };
    let result = (|| -> Result<RunResult> {
        let up = up_pacemaker(stack, image, env, realtime)?;
        let site = &up.site;
        if scenario == Scenario::Bootstrap {
            return Ok(RunResult {
                bootstrap: Some(up.bootstrap),
                ..RunResult::default()
            });
        }
        poll(Duration::from_secs(90), || {
            observe::converged(&observe::sample(site), 3)
        })
        .context("the cluster did not converge")?;
        let views = observe::sample(site);
        let active = observe::active_host(&views)
            .context("no active copy")?
            .to_string();
        let remote = up.config.ovn_north();
        let clients = Clients::start(&remote, &up.config.ovn_south(), window, size.lead())?;
        let mut sizing = Sizing::default();
        if let Some(scale) = size.scale() {
            let vip = |port| SocketAddr::new(up.config.vip.addr, port);
            sizing = bench_size::load_and_translate(
                scale,
                vip(ovn_ha_config::defaults::NB_PORT),
                vip(ovn_ha_config::defaults::SB_PORT),
            )?;
            if stack == Stack::Ours
                && let Some(standby) = views.iter().find(|v| v.host != active)
            {
                sizing.resync = bench_size::resync(scale, &standby.host);
                poll(Duration::from_secs(90), || {
                    observe::converged(&observe::sample(site), 3)
                })
                .context("the cluster did not converge after the resync")?;
            }
        }
        let run = before_fault(&remote, window, clients);
        match scenario {
            Scenario::NodeLoss => faults::cut_link(&active)?,
            Scenario::KillServer => {
                // The server itself (its command line names the database; the `--monitor`
                // parent's title no longer does). Every Pacemaker stack runs under our
                // entrypoint; its crash watcher restarts it in place for `ours`, and is off for
                // the shell stacks (see `Stack::extra_env`).
                if faults::kill9(&active, "ovsdb-server", "ovnnb_db") == 0 {
                    run.w.stop();
                    bail!("no NB ovsdb-server process found on {active}");
                }
            }
            Scenario::Switchover => faults::signal_container(&active, "TERM")?,
            Scenario::SegvServer => {
                if faults::signal_processes(&active, "ovsdb-server", "ovnnb_db", "SEGV") == 0 {
                    run.w.stop();
                    bail!("no NB ovsdb-server process found on {active}");
                }
            }
            Scenario::CorosyncPartition => faults::drop_corosync(&active)?,
            Scenario::Bootstrap | Scenario::Soak => {}
        }
        let same_host_may_recover = matches!(scenario, Scenario::KillServer | Scenario::SegvServer);
        // Server side: a reachable copy is active and holds the VIP again (another host
        // unless the server was killed, where the same host may recover it).
        let server_side = poll(window.recovery + Duration::from_secs(20), || {
            let views = observe::sample(site);
            views.iter().any(|v| {
                v.link_up
                    && v.holds_vip
                    && v.nb == observe::Copy::Active
                    && (same_host_may_recover || v.host != active)
            })
        })
        .map(|_| run.fault_instant.elapsed());
        let cut = (scenario == Scenario::NodeLoss).then_some(active.as_str());
        let mut r = after_fault(run, server_side, &remote, window, cut)?;
        if size.scale().is_some() {
            sizing.bulk = Some(bench_size::bulk_transaction(&remote));
            r.memory_mib = bench_size::memory_peak_mib(&cluster::running_hosts(site));
        }
        r.sizing = sizing;
        Ok(r)
    })();
    cluster::down(&site(), &mut Quiet)?;
    result
}

fn run_raft(scenario: Scenario, stalls: Duration, size: Size) -> Result<RunResult> {
    let window = Window {
        recovery: Stack::Raft.recovery_allowance(),
        stalls,
    };
    ovn_ha_testbed::teardown_by_name("benchr")?;
    let start = Instant::now();
    let mut raft = Raft::up("benchr", 31, 3)?;
    let result = (|| -> Result<RunResult> {
        let remote = raft.remotes();
        poll(Duration::from_secs(60), || {
            writer::write_once(&remote, 1, &["ls-add", "bootstrap"])
        })
        .context("the RAFT cluster took no write")?;
        if scenario == Scenario::Bootstrap {
            return Ok(RunResult {
                bootstrap: Some(start.elapsed()),
                ..RunResult::default()
            });
        }
        if matches!(scenario, Scenario::Switchover | Scenario::Soak) {
            bail!("RAFT has no {scenario} here to compare");
        }
        let leader = raft.leader().context("no RAFT leader")?;
        let leader_host = raft.bed().hosts()[leader].name().to_string();
        let clients = Clients::start(&remote, &raft.sb_remotes(), window, size.lead())?;
        let mut sizing = Sizing::default();
        if let Some(scale) = size.scale() {
            // Any member takes a transaction (followers pass it to the leader).
            let first = |remotes: String| -> Result<SocketAddr> {
                remotes
                    .split(',')
                    .find_map(|r| r.strip_prefix("tcp:")?.parse().ok())
                    .context("no RAFT member address")
            };
            sizing = bench_size::load_and_translate(
                scale,
                first(remote.clone())?,
                first(raft.sb_remotes())?,
            )?;
        }
        let run = before_fault(&remote, window, clients);
        match scenario {
            Scenario::NodeLoss => faults::cut_link(&leader_host)?,
            _ => raft.kill(leader),
        }
        let server_side = poll(Duration::from_secs(60), || {
            raft.leader().is_some_and(|l| l != leader)
        })
        .map(|_| run.fault_instant.elapsed());
        let cut = (scenario == Scenario::NodeLoss).then_some(leader_host.as_str());
        let mut r = after_fault(run, server_side, &remote, window, cut)?;
        if size.scale().is_some() {
            sizing.bulk = Some(bench_size::bulk_transaction(&remote));
            let hosts: Vec<String> = raft
                .bed()
                .hosts()
                .iter()
                .map(|h| h.name().to_string())
                .collect();
            r.memory_mib = bench_size::memory_peak_mib(&hosts);
        }
        r.sizing = sizing;
        Ok(r)
    })();
    raft.down()?;
    result
}

pub(crate) fn secs(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// Median (the upper one of an even count) and max of the values present.
fn median_max(mut v: Vec<Duration>) -> (Option<Duration>, Option<Duration>) {
    v.sort();
    (v.get(v.len() / 2).copied(), v.last().copied())
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    stack: Stack,
    scenario: Scenario,
    runs: usize,
    /// Runs that failed (no figures).
    failed_runs: usize,
    server: (Option<Duration>, Option<Duration>),
    outage: (Option<Duration>, Option<Duration>),
    first: (Option<Duration>, Option<Duration>),
    /// ovn-northd's first translation after the fault.
    northd: (Option<Duration>, Option<Duration>),
    /// The persistent IDL writer's first write after the fault.
    idl: (Option<Duration>, Option<Duration>),
    /// The SB crowd's slowest member's first datapath of a write after the fault.
    crowd: (Option<Duration>, Option<Duration>),
    /// A standby's full SB resync at `--size`.
    resync: (Option<Duration>, Option<Duration>),
    /// Memory peak of the busiest DB host, MiB (max over runs).
    memory_mib: Option<u64>,
    stalls: usize,
    failed: usize,
    lost: usize,
}

fn row(stack: Stack, scenario: Scenario, results: &[RunResult], failed_runs: usize) -> Row {
    let pick = |f: &dyn Fn(&RunResult) -> Option<Duration>| {
        median_max(results.iter().filter_map(f).collect())
    };
    Row {
        stack,
        scenario,
        runs: results.len(),
        failed_runs,
        server: pick(&|r| r.server_side.or(r.bootstrap)),
        outage: pick(&|r| {
            r.outcome
                .as_ref()
                .and_then(|o| o.longest_gap)
                .or(r.bootstrap)
        }),
        first: pick(&|r| r.outcome.as_ref().and_then(|o| o.since_fault)),
        northd: pick(&|r| r.northd),
        idl: pick(&|r| r.idl),
        crowd: pick(&|r| r.crowd),
        resync: pick(&|r| r.sizing.resync),
        memory_mib: results.iter().filter_map(|r| r.memory_mib).max(),
        stalls: results
            .iter()
            .filter_map(|r| r.outcome.as_ref())
            .map(|o| o.stalls_after_recovery)
            .sum(),
        failed: results
            .iter()
            .filter_map(|r| r.outcome.as_ref())
            .map(|o| o.failed_after_recovery)
            .sum(),
        lost: results.iter().map(|r| r.lost).sum(),
    }
}

fn table(rows: &[Row], window: Duration) -> String {
    let mut out = format!(
        "| stack | scenario | runs | server-side s (median / max) | longest write gap s (median / max) | first write after fault s (median / max) | persistent IDL session: first write after fault s (median / max) | ovn-northd: a write after the fault in SB s (median / max) | all {c} idle SB subscribers hold it s (median / max) | standby's full SB resync s (median / max) | DB host memory peak MiB | stalls > 0.5 s in {w} s after | failed in {w} s after | acked lost |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        c = CROWD,
        w = window.as_secs()
    );
    for r in rows {
        let runs = if r.failed_runs > 0 {
            format!("{} ({} failed)", r.runs, r.failed_runs)
        } else {
            r.runs.to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} | {} | {} |\n",
            r.stack,
            r.scenario,
            runs,
            secs(r.server.0),
            secs(r.server.1),
            secs(r.outage.0),
            secs(r.outage.1),
            secs(r.first.0),
            secs(r.first.1),
            secs(r.idl.0),
            secs(r.idl.1),
            secs(r.northd.0),
            secs(r.northd.1),
            secs(r.crowd.0),
            secs(r.crowd.1),
            secs(r.resync.0),
            secs(r.resync.1),
            r.memory_mib.map_or("–".into(), |m| m.to_string()),
            r.stalls,
            r.failed,
            r.lost
        ));
    }
    out
}

/// Each stack's colour in the plot.
fn colour(stack: Stack) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match stack {
        Stack::Ours => RGBColor(31, 119, 180),
        Stack::Shell => RGBColor(214, 39, 40),
        Stack::ShellTuned => RGBColor(255, 127, 14),
        Stack::Raft => RGBColor(44, 160, 44),
    }
}

fn plot(rows: &[Row], path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let e = |e: &dyn fmt::Display| anyhow::anyhow!("plot {}: {e}", path.display());
    let n = rows.len().max(1);
    let width = u32::try_from(n).unwrap_or(64).clamp(6, 64) * 95 + 80;
    let root = SVGBackend::new(path, (width, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let max = rows
        .iter()
        .flat_map(|r| [r.outage.1, r.crowd.0])
        .flatten()
        .map(|d| d.as_secs_f64())
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Longest write gap after the fault (bar: median, line: max); dot: all idle SB subscribers have a change made after it (median), seconds",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_labels(0)
        .disable_x_mesh()
        .y_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    // Two label lines under each bar: the stack, then the scenario.
    let label_style = ("sans-serif", 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, r) in rows.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        for (line, text) in [r.stack.to_string(), r.scenario.to_string()]
            .iter()
            .enumerate()
        {
            let y = py + 8 + 15 * i32::try_from(line).unwrap_or(0);
            root.draw(&Text::new(text.as_str(), (px, y), label_style.clone()))
                .map_err(|x| e(&x))?;
        }
    }
    let mut seen: Vec<Stack> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let c = colour(r.stack);
        let x = i as f64;
        if let Some(m) = r.outage.0 {
            let series = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, m.as_secs_f64())],
                    c.mix(0.7).filled(),
                )))
                .map_err(|x| e(&x))?;
            if !seen.contains(&r.stack) {
                seen.push(r.stack);
                series.label(r.stack.to_string()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                });
            }
        }
        if let Some(m) = r.outage.1 {
            chart
                .draw_series(LineSeries::new(
                    [(x + 0.3, m.as_secs_f64()), (x + 0.7, m.as_secs_f64())],
                    c.stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
        if let Some(m) = r.crowd.0 {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x + 0.5, m.as_secs_f64()),
                    4,
                    BLACK.filled(),
                )))
                .map_err(|x| e(&x))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// The plan: every (stack, scenario) pair the stack has, soak excluded, in order.
fn plan(stacks: &[Stack], scenarios: &[Scenario]) -> Vec<(Stack, Scenario)> {
    stacks
        .iter()
        .flat_map(|&stack| scenarios.iter().map(move |&s| (stack, s)))
        .filter(|&(stack, s)| s != Scenario::Soak && stack.has(s))
        .collect()
}

/// `1m05s`.
pub(crate) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Held for the whole bench: the e2e fault suite and other benches take the same lock, so
/// their clusters never run beside ours.
fn serial_lock() -> Result<nix::fcntl::Flock<std::fs::File>> {
    Ok(ovn_ha_local::e2e::lock(|| {
        eprintln!("==> waiting for an e2e test or another bench to finish (lock)")
    })?)
}

pub fn run(args: &FailoverArgs) -> Result<ExitCode> {
    let _lock = serial_lock()?;
    let image = image(args.image.as_deref());
    let stalls = Duration::from_secs(args.stall_window);
    let env: Vec<(&str, &str)> = args
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !env.is_empty() {
        eprintln!("==> extra entrypoint environment for the Pacemaker stacks: {env:?}");
    }
    let realtime = !args.no_realtime;
    if !realtime {
        eprintln!("==> containers without a real-time CPU budget (corosync at nice -20)");
    }
    let plan = plan(&args.stacks, &args.scenarios);
    let total = plan.len() * args.runs as usize;
    let started = Instant::now();
    let mut done = 0usize;
    let mut rows = Vec::new();
    for &(stack, scenario) in &plan {
        let mut results = Vec::new();
        let mut failed_runs = 0;
        for i in 1..=args.runs {
            let eta = (done > 0).then(|| {
                started
                    .elapsed()
                    .mul_f64((total - done) as f64 / done as f64)
            });
            eprintln!(
                "==> [{}/{total}] {stack} / {scenario}: run {i} of {} (elapsed {}{})",
                done + 1,
                args.runs,
                clock(started.elapsed()),
                eta.map(|d| format!(", about {} left", clock(d)))
                    .unwrap_or_default()
            );
            let r = if stack.is_pacemaker() {
                run_pacemaker(stack, scenario, stalls, args.size, &image, &env, realtime)
            } else {
                run_raft(scenario, stalls, args.size)
            };
            done += 1;
            match r {
                Ok(r) => {
                    eprintln!(
                        "    server-side {} s, longest gap {} s, first write {} s after, {} stalls, {} failed, {} lost",
                        secs(r.server_side.or(r.bootstrap)),
                        secs(r.outcome.as_ref().and_then(|o| o.longest_gap)),
                        secs(r.outcome.as_ref().and_then(|o| o.since_fault)),
                        r.outcome.as_ref().map_or(0, |o| o.stalls_after_recovery),
                        r.outcome.as_ref().map_or(0, |o| o.failed_after_recovery),
                        r.lost
                    );
                    if let Some(loaded) = r.sizing.loaded {
                        eprintln!(
                            "    size: NB loaded in {:.1} s, SB derived {} s later ({} logical flows), resync {} s, memory peak {} MiB, start-up bulk transaction {}",
                            loaded.as_secs_f64(),
                            secs(r.sizing.translated),
                            r.sizing.logical_flows,
                            secs(r.sizing.resync),
                            r.memory_mib.map_or("–".into(), |m| m.to_string()),
                            match &r.sizing.bulk {
                                Some(Ok(t)) => format!("ok in {:.1} s", t.as_secs_f64()),
                                Some(Err(e)) => e.clone(),
                                None => "–".into(),
                            }
                        );
                    }
                    results.push(r);
                }
                Err(e) => {
                    failed_runs += 1;
                    eprintln!("    run failed: {e:#}");
                }
            }
        }
        rows.push(row(stack, scenario, &results, failed_runs));
    }
    if !rows.is_empty() {
        print!("{}", table(&rows, stalls));
        let plot_path = if args.plot.is_absolute() {
            args.plot.clone()
        } else {
            crate::cmd::workspace_root().join(&args.plot)
        };
        plot(&rows, &plot_path)?;
        eprintln!("plot written to {}", plot_path.display());
    }
    if args.scenarios.contains(&Scenario::Soak) {
        let minutes = Duration::from_secs(args.soak_minutes * 60);
        let soaks: Vec<_> = args
            .stacks
            .iter()
            .copied()
            .filter(|s| {
                let has = s.has(Scenario::Soak);
                if !has {
                    eprintln!("==> {s}: no soak (RAFT has no Pacemaker membership to count)");
                }
                has
            })
            .collect();
        let mut results = Vec::new();
        for (i, &stack) in soaks.iter().enumerate() {
            eprintln!(
                "==> soak [{}/{}] {stack}: {} min under a CPU burner (elapsed {})",
                i + 1,
                soaks.len(),
                args.soak_minutes,
                clock(started.elapsed())
            );
            match crate::bench_soak::run(stack, minutes, &image, realtime) {
                Ok(r) => {
                    eprintln!("    {}", r.summary());
                    results.push(r);
                }
                Err(e) => eprintln!("    soak failed: {e:#}"),
            }
        }
        print!("{}", crate::bench_soak::table(&results));
    }
    eprintln!("bench done in {}", clock(started.elapsed()));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: FailoverArgs,
    }

    #[test]
    fn medians_and_table() {
        let d = Duration::from_millis;
        assert_eq!(median_max(vec![d(3), d(1), d(2)]), (Some(d(2)), Some(d(3))));
        assert_eq!(median_max(vec![]), (None, None));
        let r = row(
            Stack::Ours,
            Scenario::Bootstrap,
            &[RunResult {
                bootstrap: Some(d(9500)),
                ..RunResult::default()
            }],
            0,
        );
        let t = table(&[r], Duration::from_secs(60));
        assert!(
            t.contains("| ours | cold bootstrap | 1 | 9.50 / 9.50 |"),
            "{t}"
        );
        assert!(t.contains("stalls > 0.5 s in 60 s after"), "{t}");
        let outcome = |gap: u64, stalls: usize| Outcome {
            writes: 10,
            acked: 9,
            last_ack_before: Some(d(1000)),
            first_ack_after: Some(d(1000 + gap)),
            outage: Some(d(gap)),
            since_fault: Some(d(gap - 100)),
            longest_gap: Some(d(gap)),
            failed_after_recovery: 1,
            stalls_after_recovery: stalls,
        };
        let runs: Vec<RunResult> = [(3000, 2), (9000, 0), (4000, 1)]
            .into_iter()
            .map(|(g, s)| RunResult {
                server_side: Some(d(g - 500)),
                outcome: Some(outcome(g, s)),
                lost: 0,
                bootstrap: None,
                northd: Some(d(g + 1000)),
                idl: Some(d(g + 200)),
                crowd: Some(d(g + 1500)),
                ..RunResult::default()
            })
            .collect();
        let t = table(
            &[row(Stack::ShellTuned, Scenario::NodeLoss, &runs, 1)],
            Duration::from_secs(10),
        );
        assert!(
            t.contains(
                "| shell-tuned | node loss | 3 (1 failed) | 3.50 / 8.50 | 4.00 / 9.00 | 3.90 / 8.90 | 4.20 / 9.20 | 5.00 / 10.00 | 5.50 / 10.50 | – / – | – | 3 | 3 | 0 |"
            ),
            "{t}"
        );
    }

    #[test]
    fn plot_has_every_stack_in_its_colour_and_labels() {
        let d = Duration::from_millis;
        let rows: Vec<Row> = [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft]
            .into_iter()
            .map(|stack| {
                let r = RunResult {
                    bootstrap: Some(d(2000)),
                    ..RunResult::default()
                };
                row(stack, Scenario::Bootstrap, &[r], 0)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        plot(&rows, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for stack in [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft] {
            let c = colour(stack);
            let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            assert!(svg.contains(&hex), "{stack}: {hex}");
            assert!(svg.contains(&format!(">\n{stack}\n<")), "{stack} label");
        }
        assert_eq!(svg.matches("cold bootstrap").count(), 4);
    }

    #[test]
    fn arguments_and_plan() {
        let a = Cli::try_parse_from(["x"]).unwrap().args;
        assert_eq!(
            a.stacks,
            [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft]
        );
        assert_eq!((a.runs, a.stall_window, a.soak_minutes), (5, 60, 30));
        assert!(!a.scenarios.contains(&Scenario::Soak));
        let a = Cli::try_parse_from([
            "x",
            "--stacks",
            "shell,shell-tuned",
            "--scenarios",
            "node-loss,soak,switchover",
            "--soak-minutes",
            "2",
            "--stall-window",
            "10",
            "--runs",
            "1",
        ])
        .unwrap()
        .args;
        assert_eq!(a.stacks, [Stack::Shell, Stack::ShellTuned]);
        assert_eq!((a.runs, a.stall_window, a.soak_minutes), (1, 10, 2));
        assert!(Cli::try_parse_from(["x", "--runs", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--stacks", "pcs"]).is_err());
        let p = plan(
            &[Stack::Ours, Stack::Raft],
            &[Scenario::Switchover, Scenario::Soak, Scenario::NodeLoss],
        );
        assert_eq!(
            p,
            [
                (Stack::Ours, Scenario::Switchover),
                (Stack::Ours, Scenario::NodeLoss),
                (Stack::Raft, Scenario::NodeLoss)
            ]
        );
    }

    #[test]
    fn stacks_differ_only_in_agent_and_timings() {
        assert!(Stack::Ours.extra_env().is_empty() && Stack::Ours.extra_mounts().is_empty());
        // Both shell stacks only switch our crash restart in place, our proxy and our client
        // tickles off; `shell` adds timings.
        let off = ("OVN_DB_HA_CRASH_RESTART".to_string(), "off".to_string());
        let async_ = ("OVN_DB_HA_SEMI_SYNC".to_string(), "off".to_string());
        let no_tickle = ("OVN_DB_HA_CLIENT_TICKLE".to_string(), "off".to_string());
        assert_eq!(
            Stack::ShellTuned.extra_env(),
            [off.clone(), async_.clone(), no_tickle.clone()]
        );
        for e in [&async_, &off, &no_tickle] {
            assert!(Stack::Shell.extra_env().contains(e));
        }
        assert_eq!(
            parse_env_pair("A=b=c"),
            Ok(("A".to_string(), "b=c".to_string()))
        );
        assert!(parse_env_pair("=x").is_err() && parse_env_pair("x").is_err());
        assert_eq!(
            Stack::ShellTuned.extra_mounts(),
            Stack::Shell.extra_mounts()
        );
        let m = &Stack::Shell.extra_mounts()[0];
        assert_eq!(m.destination, OUR_AGENT);
        assert!(m.read_only);
        let env = Stack::Shell.extra_env();
        assert!(env.contains(&("OVN_DB_HA_PROMOTED_MONITOR_MS".into(), "15000".into())));
        assert!(env.contains(&("OVN_DB_HA_TOKEN_COEFFICIENT_MS".into(), "650".into())));
        assert_eq!(clock(Duration::from_secs(65)), "1m05s");
        let colours: Vec<_> = [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft]
            .map(colour)
            .to_vec();
        for (i, c) in colours.iter().enumerate() {
            assert!(!colours[i + 1..].contains(c), "distinct colours");
        }
    }
}
