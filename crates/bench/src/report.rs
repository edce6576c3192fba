//! The failover bench's figures: one run's result, a row of medians and maxima per stack and
//! scenario, and the Markdown table docs/benchmarks.md quotes.

use crate::size::Sizing;
use crate::stack::{Scenario, Stack};
use crate::timing::{median_max, secs};
use ovn_ha_local::writer::Outcome;
use std::time::Duration;

/// One run's figures.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub server_side: Option<Duration>,
    pub outcome: Option<Outcome>,
    pub lost: usize,
    pub bootstrap: Option<Duration>,
    /// ovn-northd's first translation into SB of a write acknowledged after the fault.
    pub northd: Option<Duration>,
    /// The persistent IDL writer's first acknowledged write after the fault.
    pub idl: Option<Duration>,
    /// When every member of the SB crowd held a datapath of a write acknowledged after the
    /// fault (`None` if one never did).
    pub crowd: Option<Duration>,
    /// What `--size` loading measured.
    pub sizing: Sizing,
    /// The largest sum of the DB hosts' processes' peak resident sizes, MiB (`--size`).
    pub memory_mib: Option<u64>,
    /// Processes the OOM killer ended under the DB pods' rendered memory limit (Pacemaker
    /// stacks on the local cluster; `None` where no pod cgroup was read).
    pub oom_kills: Option<u64>,
    /// The largest DB pod memory cgroup peak, MiB (page cache included).
    pub cgroup_mib: Option<u64>,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub stack: Stack,
    pub scenario: Scenario,
    pub runs: usize,
    /// Runs that failed (no figures).
    pub failed_runs: usize,
    pub server: (Option<Duration>, Option<Duration>),
    pub outage: (Option<Duration>, Option<Duration>),
    pub first: (Option<Duration>, Option<Duration>),
    /// ovn-northd's first translation after the fault.
    pub northd: (Option<Duration>, Option<Duration>),
    /// The persistent IDL writer's first write after the fault.
    pub idl: (Option<Duration>, Option<Duration>),
    /// The SB crowd's slowest member's first datapath of a write after the fault.
    pub crowd: (Option<Duration>, Option<Duration>),
    /// A standby's full SB resync at `--size`.
    pub resync: (Option<Duration>, Option<Duration>),
    /// Memory peak of the busiest DB host, MiB (max over runs).
    pub memory_mib: Option<u64>,
    /// OOM kills under the pods' memory limit, summed over runs.
    pub oom_kills: Option<u64>,
    /// The largest DB pod memory cgroup peak, MiB (max over runs).
    pub cgroup_mib: Option<u64>,
    pub stalls: usize,
    pub failed: usize,
    pub lost: usize,
}

pub fn row(stack: Stack, scenario: Scenario, results: &[RunResult], failed_runs: usize) -> Row {
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
        oom_kills: results
            .iter()
            .filter_map(|r| r.oom_kills)
            .reduce(|a, b| a + b),
        cgroup_mib: results.iter().filter_map(|r| r.cgroup_mib).max(),
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

pub fn table(rows: &[Row], window: Duration, crowd: usize) -> String {
    let mut out = format!(
        "| stack | scenario | runs | server-side s (median / max) | longest write gap s (median / max) | first write after fault s (median / max) | persistent IDL session: first write after fault s (median / max) | ovn-northd: a write after the fault in SB s (median / max) | all {c} idle SB subscribers hold it s (median / max) | standby's full SB resync s (median / max) | DB host memory peak MiB: processes / pod cgroup (OOM kills under the pod limit) | stalls > 0.5 s in {w} s after | failed in {w} s after | acked lost |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        c = crowd,
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
            memory_cell(r.memory_mib, r.cgroup_mib, r.oom_kills),
            r.stalls,
            r.failed,
            r.lost
        ));
    }
    out
}

/// `742 / 1010 (0)`: the processes' peak, the pod cgroup's peak, then the OOM kills in
/// brackets when a pod cgroup was read.
fn memory_cell(mib: Option<u64>, cgroup_mib: Option<u64>, oom_kills: Option<u64>) -> String {
    let text = |m: Option<u64>| m.map_or("–".to_string(), |m| m.to_string());
    match oom_kills {
        Some(n) => format!("{} / {} ({n})", text(mib), text(cgroup_mib)),
        None => text(mib),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_take_medians_and_the_table_prints_them() {
        let d = Duration::from_millis;
        let r = row(
            Stack::Ours,
            Scenario::Bootstrap,
            &[RunResult {
                bootstrap: Some(d(9500)),
                ..RunResult::default()
            }],
            0,
        );
        let t = table(&[r], Duration::from_secs(60), 50);
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
            longest_gap_from: Some(d(1000)),
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
                oom_kills: Some(u64::from(g == 9000)),
                cgroup_mib: Some(g / 10 - 200),
                ..RunResult::default()
            })
            .collect();
        let t = table(
            &[row(Stack::ShellTuned, Scenario::NodeLoss, &runs, 1)],
            Duration::from_secs(10),
            50,
        );
        assert!(
            t.contains(
                "| shell-tuned | node loss | 3 (1 failed) | 3.50 / 8.50 | 4.00 / 9.00 | 3.90 / 8.90 | 4.20 / 9.20 | 5.00 / 10.00 | 5.50 / 10.50 | – / – | – / 700 (1) | 3 | 3 | 0 |"
            ),
            "{t}"
        );
    }
}
