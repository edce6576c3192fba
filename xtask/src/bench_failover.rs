//! `cargo xtask bench failover`: how long writes stop when the active database dies, for our
//! stack and OVN's RAFT clustering, on the same kind of test-bed hosts with the same writer
//! (`ovn_ha_local::writer`). Prints a table (median and max of each figure), writes an SVG plot.
//!
//! Per run: a fresh cluster; the writer (`ovn-nbctl ls-add` every 50 ms through the VIP, or
//! through all three remotes for RAFT) and a sampler of the servers' roles start; the fault
//! hits at t = 3 s; the run ends 15 s plus `--stall-window` seconds after the fault. Figures: server-side (the sampler first sees the new active, or RAFT
//! leader, serving), client-side longest gap between acknowledged writes, stalls (writes slower
//! than 500 ms) and failures after recovery, acknowledged writes lost. Everything a run creates
//! is removed after it, also on failure.

use anyhow::{Context, Result, bail};
use ovn_ha_local::cluster::{self, Reporter, Site, UpOptions};
use ovn_ha_local::raft::Raft;
use ovn_ha_local::writer::{self, Outcome, Writer, WriterSpec};
use ovn_ha_local::{faults, observe};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Our agent and entrypoint: the local cluster of `cargo xtask deploy`.
    Ours,
    /// OVN's RAFT clustered databases, election timer 1000 ms, client given all remotes.
    Raft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The active (leader) host's link is cut.
    NodeLoss,
    /// `kill -9` of the active (leader) NB server.
    KillServer,
    /// Graceful switchover: SIGTERM to the active pod (ours only).
    Switchover,
    /// Cold start to the first acknowledged write.
    Bootstrap,
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Ours => "ours",
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
            Scenario::Bootstrap => "cold bootstrap",
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// Stacks to compare.
    #[arg(long, value_delimiter = ',', default_values_t = [Stack::Ours, Stack::Raft])]
    pub stacks: Vec<Stack>,
    /// Runs per stack and scenario.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Scenarios.
    #[arg(long, value_delimiter = ',', default_values = ["node-loss", "kill-server", "switchover", "bootstrap"])]
    pub scenarios: Vec<Scenario>,
    /// Seconds of writing after recovery, in which stalls and failures are counted.
    #[arg(long, default_value_t = 60)]
    pub stall_window: u64,
    /// Where to write the SVG plot.
    #[arg(long, default_value = "docs/failover.svg")]
    pub plot: PathBuf,
}

/// One run's figures.
#[derive(Debug, Clone, Default)]
struct RunResult {
    server_side: Option<Duration>,
    outcome: Option<Outcome>,
    lost: usize,
    bootstrap: Option<Duration>,
}

struct Quiet;

impl Reporter for Quiet {
    fn step(&mut self, _: &str) {}
    fn command(&mut self, _: &str) {}
}

fn site() -> Site {
    Site {
        prefix: "bench".into(),
        subnet: 30,
        state_dir: PathBuf::from("/var/lib/ovn-ha-bench"),
    }
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

/// Waits, bounded, for `done`, polling every 100 ms; the elapsed time when it became true.
fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Lets the writer run until 15 s after the fault (every stack here recovers sooner) plus the
/// stall window, then stops it.
fn finish(w: Writer, fault_at: Duration, window: Duration) -> Vec<writer::WriteRecord> {
    let end = fault_at + Duration::from_secs(15) + window;
    while w.now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    w.stop()
}

/// Starts the writer and lets it write steadily for 3 s; returns it with the fault's moment.
fn before_fault(remote: &str) -> (Writer, Duration, Instant) {
    let w = Writer::start(WriterSpec::new(remote, "bench"));
    std::thread::sleep(Duration::from_secs(3));
    let fault_at = w.now();
    (w, fault_at, Instant::now())
}

/// Runs out the window, reconnects a host whose link was cut, and counts what was lost.
fn after_fault(
    w: Writer,
    fault_at: Duration,
    server_side: Option<Duration>,
    remote: &str,
    window: Duration,
    cut: Option<&str>,
) -> Result<RunResult> {
    let records = finish(w, fault_at, window);
    if let Some(host) = cut {
        faults::restore_link(host)?;
    }
    let present = writer::switches(remote, 5).unwrap_or_default();
    Ok(RunResult {
        server_side,
        lost: writer::lost(&records, &present).len(),
        outcome: Some(writer::analyze(
            &records,
            fault_at,
            Duration::from_millis(500),
        )),
        bootstrap: None,
    })
}

fn run_ours(scenario: Scenario, window: Duration) -> Result<RunResult> {
    let site = site();
    cluster::down(&site, &mut Quiet)?;
    let (dir, config) = manifests(&site)?;
    let layout = crate::image::default_output(&crate::cmd::workspace_root());
    let opts = UpOptions {
        manifests: dir.path().to_path_buf(),
        image: format!("{}:latest", layout.display()),
        hosts: 3,
        vip: config.vip.addr,
        wait: Duration::from_secs(120),
    };
    let result = (|| -> Result<RunResult> {
        let report = cluster::up(&site, &opts, &mut Quiet)?;
        if scenario == Scenario::Bootstrap {
            return Ok(RunResult {
                bootstrap: Some(report.bootstrap),
                ..RunResult::default()
            });
        }
        poll(Duration::from_secs(90), || {
            observe::converged(&observe::sample(&site), 3)
        })
        .context("the cluster did not converge")?;
        let views = observe::sample(&site);
        let active = observe::active_host(&views)
            .context("no active copy")?
            .to_string();
        let remote = config.ovn_north();
        let (w, fault_at, fault_instant) = before_fault(&remote);
        match scenario {
            Scenario::NodeLoss => faults::cut_link(&active)?,
            Scenario::KillServer => {
                faults::kill9(&active, "ovsdb-server", "ovnnb_db");
            }
            Scenario::Switchover => faults::signal_container(&active, "TERM")?,
            Scenario::Bootstrap => {}
        }
        // Server side: a reachable copy is active again (another host unless the server was
        // killed, where the same host may recover it).
        let server_side = poll(Duration::from_secs(60), || {
            let views = observe::sample(&site);
            views.iter().any(|v| {
                v.link_up
                    && v.nb == observe::Copy::Active
                    && (scenario == Scenario::KillServer || v.host != active)
            })
        })
        .map(|_| fault_instant.elapsed());
        let cut = (scenario == Scenario::NodeLoss).then_some(active.as_str());
        after_fault(w, fault_at, server_side, &remote, window, cut)
    })();
    cluster::down(&site, &mut Quiet)?;
    result
}

fn run_raft(scenario: Scenario, window: Duration) -> Result<RunResult> {
    ovn_ha_testbed::teardown_by_name("benchr")?;
    let start = Instant::now();
    let mut raft = Raft::up("benchr", 31, 3)?;
    let result = (|| -> Result<RunResult> {
        let remote = raft.remotes();
        let first = poll(Duration::from_secs(60), || {
            writer::write_once(&remote, 1, &["ls-add", "bootstrap"])
        })
        .context("the RAFT cluster took no write")?;
        let _ = first;
        if scenario == Scenario::Bootstrap {
            return Ok(RunResult {
                bootstrap: Some(start.elapsed()),
                ..RunResult::default()
            });
        }
        if scenario == Scenario::Switchover {
            bail!("RAFT has no graceful switchover to compare");
        }
        let leader = raft.leader().context("no RAFT leader")?;
        let leader_host = raft.bed().hosts()[leader].name().to_string();
        let (w, fault_at, fault_instant) = before_fault(&remote);
        match scenario {
            Scenario::NodeLoss => faults::cut_link(&leader_host)?,
            _ => raft.kill(leader),
        }
        let server_side = poll(Duration::from_secs(60), || {
            raft.leader().is_some_and(|l| l != leader)
        })
        .map(|_| fault_instant.elapsed());
        let cut = (scenario == Scenario::NodeLoss).then_some(leader_host.as_str());
        after_fault(w, fault_at, server_side, &remote, window, cut)
    })();
    raft.down()?;
    result
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// Median and max of the values present.
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
    server: (Option<Duration>, Option<Duration>),
    outage: (Option<Duration>, Option<Duration>),
    first: (Option<Duration>, Option<Duration>),
    stalls: usize,
    failed: usize,
    lost: usize,
}

fn row(stack: Stack, scenario: Scenario, results: &[RunResult]) -> Row {
    let pick = |f: &dyn Fn(&RunResult) -> Option<Duration>| {
        median_max(results.iter().filter_map(f).collect())
    };
    Row {
        stack,
        scenario,
        runs: results.len(),
        server: pick(&|r| r.server_side.or(r.bootstrap)),
        outage: pick(&|r| {
            r.outcome
                .as_ref()
                .and_then(|o| o.longest_gap)
                .or(r.bootstrap)
        }),
        first: pick(&|r| r.outcome.as_ref().and_then(|o| o.since_fault)),
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

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| stack | scenario | runs | server-side s (median / max) | longest write gap s (median / max) | first write after fault s (median / max) | stalls > 0.5 s after | failed after | acked lost |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} | {} | {} |\n",
            r.stack,
            r.scenario,
            r.runs,
            secs(r.server.0),
            secs(r.server.1),
            secs(r.outage.0),
            secs(r.outage.1),
            secs(r.first.0),
            secs(r.first.1),
            r.stalls,
            r.failed,
            r.lost
        ));
    }
    out
}

fn plot(rows: &[Row], path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let max = rows
        .iter()
        .filter_map(|r| r.outage.1)
        .map(|d| d.as_secs_f64())
        .fold(1.0_f64, f64::max)
        * 1.15;
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Longest write gap after the fault (bar: median, line: max), seconds",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(90)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.stack, r.scenario))
        .collect();
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
        .disable_x_mesh()
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, r) in rows.iter().enumerate() {
        let color = if r.stack == Stack::Ours { BLUE } else { RED };
        if let Some(m) = r.outage.0 {
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, m.as_secs_f64())],
                    color.mix(0.6).filled(),
                )))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(m) = r.outage.1 {
            let x = i as f64;
            chart
                .draw_series(LineSeries::new(
                    [(x + 0.3, m.as_secs_f64()), (x + 0.7, m.as_secs_f64())],
                    color.stroke_width(2),
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

pub fn run(args: &FailoverArgs) -> Result<ExitCode> {
    let window = Duration::from_secs(args.stall_window);
    let mut rows = Vec::new();
    for &stack in &args.stacks {
        for &scenario in &args.scenarios {
            if stack == Stack::Raft && scenario == Scenario::Switchover {
                continue;
            }
            let mut results = Vec::new();
            for i in 1..=args.runs {
                eprintln!("==> {stack} / {scenario}: run {i} of {}", args.runs);
                let r = match stack {
                    Stack::Ours => run_ours(scenario, window),
                    Stack::Raft => run_raft(scenario, window),
                };
                match r {
                    Ok(r) => {
                        eprintln!(
                            "    server-side {} s, longest gap {} s, first write {} s after, {} lost",
                            secs(r.server_side.or(r.bootstrap)),
                            secs(r.outcome.as_ref().and_then(|o| o.longest_gap)),
                            secs(r.outcome.as_ref().and_then(|o| o.since_fault)),
                            r.lost
                        );
                        results.push(r);
                    }
                    Err(e) => eprintln!("    run failed: {e:#}"),
                }
            }
            rows.push(row(stack, scenario, &results));
        }
    }
    print!("{}", table(&rows));
    let plot_path = if args.plot.is_absolute() {
        args.plot.clone()
    } else {
        crate::cmd::workspace_root().join(&args.plot)
    };
    plot(&rows, &plot_path)?;
    eprintln!("plot written to {}", plot_path.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        );
        let t = table(&[r]);
        assert!(
            t.contains("| ours | cold bootstrap | 1 | 9.50 / 9.50 |"),
            "{t}"
        );
    }
}
