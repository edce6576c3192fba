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
//! on failure. The `soak` scenario is in [`crate::soak`]; the stacks in [`crate::stack`], the
//! figures in [`crate::report`], the plot in [`crate::plot`].

use crate::report::{RunResult, row, table};
use crate::size::{self, Size, Sizing};
use crate::stack::{Quiet, Scenario, Stack, image, site, up_pacemaker};
use crate::timing::{clock, poll, secs};
use anyhow::{Context, Result, bail};
use ovn_ha_local::cluster::{self, Site};
use ovn_ha_local::idl_writer::IdlWriter;
use ovn_ha_local::northd::{Northd, SbWatch, first_translated};
use ovn_ha_local::raft::Raft;
use ovn_ha_local::sb_crowd::{SbCrowd, all_had_one};
use ovn_ha_local::writer::{self, Writer, WriterSpec};
use ovn_ha_local::{faults, observe};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    /// Where to write the SVG plot (docs/ holds the published ones: name one there to replace
    /// it).
    #[arg(long, default_value = "target/failover.svg")]
    pub plot: PathBuf,
    /// Keep every run's logs (entrypoint, ovsdb-server, Pacemaker, corosync) under
    /// `DIR/<stack>-<scenario>-<run>/` before the cluster is removed.
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
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

/// What the persistent clients saw (nothing when they were not run).
#[derive(Default)]
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
        let (idl_records, sessions) = self.idl.stop_with_sessions();
        let fault_on_idl_clock = fault.saturating_duration_since(idl_epoch);
        let after: Vec<String> = sessions
            .iter()
            .filter(|e| e.at >= fault_on_idl_clock)
            .map(|e| {
                format!(
                    "{} ({}) at +{:.2} s, backoff {} ms",
                    if e.connected { "up" } else { "down" },
                    e.state.as_deref().unwrap_or("?"),
                    (e.at - fault_on_idl_clock).as_secs_f64(),
                    e.backoff_ms.map_or("?".into(), |b| b.to_string())
                )
            })
            .collect();
        if !after.is_empty() {
            eprintln!(
                "  persistent IDL session after the fault: {}",
                after.join(", ")
            );
        }
        let idl = writer::analyze_within(
            &idl_records,
            fault_on_idl_clock,
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
    clients: Option<Clients>,
}

/// Starts the writer (with `ssl`'s options for an `ssl:` remote) and lets it write steadily
/// for 3 s, `clients` running too; returns them with the fault's moment.
fn before_fault(
    (remote, ssl): (&str, &[String]),
    window: Window,
    clients: Option<Clients>,
) -> Running {
    let mut spec = WriterSpec::new(remote, "bench");
    spec.ssl = ssl.to_vec();
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

/// How long the end check may take to read the database.
pub(crate) const END_CHECK_LIMIT: Duration = Duration::from_secs(60);

/// Prints what the entrypoints did with the old active's client sessions (`session takeover`
/// lines of their logs) after a node loss.
fn print_takeovers(site: &Site) {
    for host in cluster::running_hosts(site) {
        let log = site.state_dir.join("logs").join(format!("{host}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("session takeover:")) {
            eprintln!("  {host}: {line}");
        }
    }
}

/// Runs out the window, reconnects a host whose link was cut, and counts what was lost.
fn after_fault(
    run: Running,
    server_side: Option<Duration>,
    (remote, ssl): (&str, &[String]),
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
    let seen = match clients {
        Some(c) => c.finish(&records, fault_at, fault_instant, window.stalls),
        None => ClientFigures::default(),
    };
    if let Some(host) = cut {
        faults::restore_link(host)?;
    }
    // A read that fails is retried, never taken for an empty database: that counted every
    // acknowledged write of a RAFT run as lost (the 130 and 326 "lost" writes).
    let present = writer::switches_within(remote, ssl, END_CHECK_LIMIT).with_context(|| {
        format!("the end check read no switch list through {remote} within {END_CHECK_LIMIT:?}")
    })?;
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

/// How a Pacemaker stack's containers run: image, extra entrypoint environment, real-time
/// budget.
#[derive(Clone, Copy)]
struct Containers<'a> {
    image: &'a str,
    env: &'a [(&'a str, &'a str)],
    realtime: bool,
}

fn run_pacemaker(
    stack: Stack,
    scenario: Scenario,
    stalls: Duration,
    size: Size,
    how: &Containers<'_>,
    keep_logs: Option<&Path>,
) -> Result<RunResult> {
    let Containers {
        image,
        env,
        realtime,
    } = *how;
    let window = Window {
        recovery: stack.recovery_allowance(),
        stalls,
    };
    if stack == Stack::OursTls && size.scale().is_some() {
        bail!("--stacks ours-tls runs at the empty size only (the loader speaks plain TCP)");
    }
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
        let clients = if up.ssl.is_empty() {
            Some(Clients::start(
                &remote,
                &up.config.ovn_south(),
                window,
                size.lead(),
            )?)
        } else {
            None
        };
        let mut sizing = Sizing::default();
        if let Some(scale) = size.scale() {
            let vip = |port| SocketAddr::new(up.config.vip.addr, port);
            sizing = size::load_and_translate(
                scale,
                vip(ovn_ha_config::defaults::NB_PORT),
                vip(ovn_ha_config::defaults::SB_PORT),
            )?;
            sizing.sb_file_mib = size::sb_file_mib(&site.state_dir, &active);
            if stack == Stack::Ours
                && let Some(standby) = views.iter().find(|v| v.host != active)
            {
                sizing.resync = size::resync(scale, &standby.host);
                poll(Duration::from_secs(90), || {
                    observe::converged(&observe::sample(site), 3)
                })
                .context("the cluster did not converge after the resync")?;
            }
        }
        let run = before_fault((&remote, &up.ssl), window, clients);
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
            Scenario::RollingUpgrade => {
                let image = ovn_ha_local::e2e::upgrade_image()?;
                let done = ovn_ha_local::upgrade::rolling(site, &image, &active, &mut Quiet)?;
                eprintln!(
                    "    upgraded {} hosts; every copy served NB {} and SB {} {:.1} s after the last",
                    done.replaced.len(),
                    done.schemas[0],
                    done.schemas[1],
                    done.converted_after.as_secs_f64()
                );
            }
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
        let mut r = after_fault(run, server_side, (&remote, &up.ssl), window, cut)?;
        print_takeovers(site);
        (r.oom_kills, r.cgroup_mib) = size::pod_memory(&cluster::running_hosts(site));
        if size.scale().is_some() {
            sizing.bulk = Some(size::bulk_transaction(&remote));
            r.memory_mib = size::memory_peak_mib(&cluster::running_hosts(site));
        }
        r.sizing = sizing;
        Ok(r)
    })();
    if let Some(dest) = keep_logs {
        match cluster::keep_logs(&site(), dest) {
            Ok(n) => eprintln!("    kept {n} log files in {}", dest.display()),
            Err(e) => eprintln!("    keeping the logs: {e}"),
        }
    }
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
        let clients = Some(Clients::start(
            &remote,
            &raft.sb_remotes(),
            window,
            size.lead(),
        )?);
        let mut sizing = Sizing::default();
        if let Some(scale) = size.scale() {
            // Any member takes a transaction (followers pass it to the leader).
            let first = |remotes: String| -> Result<SocketAddr> {
                remotes
                    .split(',')
                    .find_map(|r| r.strip_prefix("tcp:")?.parse().ok())
                    .context("no RAFT member address")
            };
            sizing =
                size::load_and_translate(scale, first(remote.clone())?, first(raft.sb_remotes())?)?;
        }
        let run = before_fault((&remote, &[]), window, clients);
        match scenario {
            Scenario::NodeLoss => faults::cut_link(&leader_host)?,
            _ => raft.kill(leader),
        }
        let server_side = poll(Duration::from_secs(60), || {
            raft.leader().is_some_and(|l| l != leader)
        })
        .map(|_| run.fault_instant.elapsed());
        let cut = (scenario == Scenario::NodeLoss).then_some(leader_host.as_str());
        let mut r = after_fault(run, server_side, (&remote, &[]), window, cut)?;
        if size.scale().is_some() {
            sizing.bulk = Some(size::bulk_transaction(&remote));
            let hosts: Vec<String> = raft
                .bed()
                .hosts()
                .iter()
                .map(|h| h.name().to_string())
                .collect();
            r.memory_mib = size::memory_peak_mib(&hosts);
        }
        r.sizing = sizing;
        Ok(r)
    })();
    raft.down()?;
    result
}

/// The plan: every (stack, scenario) pair the stack has, soak excluded, in order.
/// Where the longest write gap began, in seconds after the fault (negative: before it).
fn gap_start(o: &writer::Outcome) -> Option<f64> {
    let fault_at = o.first_ack_after?.checked_sub(o.since_fault?)?;
    Some(o.longest_gap_from?.as_secs_f64() - fault_at.as_secs_f64())
}

fn plan(stacks: &[Stack], scenarios: &[Scenario]) -> Vec<(Stack, Scenario)> {
    stacks
        .iter()
        .flat_map(|&stack| scenarios.iter().map(move |&s| (stack, s)))
        .filter(|&(stack, s)| s != Scenario::Soak && stack.has(s))
        .collect()
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
    let how = Containers {
        image: &image,
        env: &env,
        realtime,
    };
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
                let keep = args
                    .keep_logs
                    .as_ref()
                    .map(|d| d.join(format!("{stack}-{scenario}-{i}").replace(' ', "-")));
                run_pacemaker(stack, scenario, stalls, args.size, &how, keep.as_deref())
            } else {
                run_raft(scenario, stalls, args.size)
            };
            done += 1;
            match r {
                Ok(r) => {
                    eprintln!(
                        "    server-side {} s, longest gap {} s{}, first write {} s after, {} stalls, {} failed, {} lost",
                        secs(r.server_side.or(r.bootstrap)),
                        secs(r.outcome.as_ref().and_then(|o| o.longest_gap)),
                        r.outcome
                            .as_ref()
                            .and_then(gap_start)
                            .map_or(String::new(), |at| { format!(" (from {at:+.2} s)") }),
                        secs(r.outcome.as_ref().and_then(|o| o.since_fault)),
                        r.outcome.as_ref().map_or(0, |o| o.stalls_after_recovery),
                        r.outcome.as_ref().map_or(0, |o| o.failed_after_recovery),
                        r.lost
                    );
                    if let Some(loaded) = r.sizing.loaded {
                        eprintln!(
                            "    size: NB loaded in {:.1} s, SB derived {} s later ({} logical flows, SB file {} MiB), resync {} s, memory peak {} MiB (pod cgroup {} MiB, {} OOM kills), start-up bulk transaction {}",
                            loaded.as_secs_f64(),
                            secs(r.sizing.translated),
                            r.sizing.logical_flows.map_or("?".into(), |n| n.to_string()),
                            r.sizing.sb_file_mib.map_or("?".into(), |n| n.to_string()),
                            secs(r.sizing.resync),
                            r.memory_mib.map_or("–".into(), |m| m.to_string()),
                            r.cgroup_mib.map_or("?".into(), |n| n.to_string()),
                            r.oom_kills.map_or("?".into(), |n| n.to_string()),
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
        print!("{}", table(&rows, stalls, CROWD));
        let plot_path = if args.plot.is_absolute() {
            args.plot.clone()
        } else {
            ovn_ha_local::workspace::root().join(&args.plot)
        };
        crate::plot::plot(&rows, &plot_path)?;
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
            match crate::soak::run(stack, minutes, &image, realtime) {
                Ok(r) => {
                    eprintln!("    {}", r.summary());
                    results.push(r);
                }
                Err(e) => eprintln!("    soak failed: {e:#}"),
            }
        }
        print!("{}", crate::soak::table(&results));
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
        assert_eq!(
            parse_env_pair("A=b=c"),
            Ok(("A".to_string(), "b=c".to_string()))
        );
        assert!(parse_env_pair("=x").is_err() && parse_env_pair("x").is_err());
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
}
