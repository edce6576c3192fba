//! `cargo xtask chaos --seed S --faults N [--minutes M] [--history PATH]`: a seeded random
//! fault schedule against a local cluster of its own (hosts `chaos-h*`, 198.18.40.0/24), with
//! writers on every side, the 20 ms writability sampler and the checker
//! (`ovn_ha_local::chaos`). Prints progress, the per-kind table and, last,
//! `chaos: faults N, lost L, two-writable samples W, unconverged U`; exits 0 only when L, W
//! and U are 0. On a failure it prints the seed, the faults up to the failing one and the
//! offending operations. Holds the e2e suite's lock while it runs. `--recheck PATH` checks a
//! history file again without running anything.

use anyhow::{Context, Result};
use ovn_ha_local::chaos::{check, history, run, schedule};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// Seed of the schedule: the same seed gives the same faults, durations and gaps.
    #[arg(long, required_unless_present = "recheck")]
    pub seed: Option<u64>,
    /// Number of faults.
    #[arg(long, default_value_t = 10)]
    pub faults: usize,
    /// Start no new fault after this many minutes.
    #[arg(long)]
    pub minutes: Option<u64>,
    /// History file (JSON lines); default target/chaos/seed-<S>.jsonl.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// OCI image layout and tag to run (default: the workspace's `cargo xtask image` output).
    #[arg(long)]
    pub image: Option<String>,
    /// Run nothing: check the history file PATH again and print its table and verdict.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["seed", "faults", "minutes", "history", "image"])]
    pub recheck: Option<PathBuf>,
}

/// Prints the table, the failure report (if any) and the summary line; the exit status.
fn report(v: &check::Verdict) -> ExitCode {
    if v.one_nb_writable <= v.samples / 4 {
        println!(
            "warning: the sampler saw one writable NB copy in only {} of {} samples",
            v.one_nb_writable, v.samples
        );
    }
    if !v.passed() {
        print!("{}", v.failure_report());
    }
    println!("{}", v.summary_line());
    if v.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub fn run(args: &ChaosArgs) -> Result<ExitCode> {
    if let Some(path) = &args.recheck {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let events = history::decode(&text).with_context(|| path.display().to_string())?;
        let v = check::check(&events, &check::Bounds::default());
        print!("{}", v.table());
        return Ok(report(&v));
    }
    let Some(seed) = args.seed else {
        anyhow::bail!("--seed is required");
    };
    let _lock = ovn_ha_local::e2e::lock(|| {
        eprintln!("==> waiting for an e2e test or a bench to finish (lock)")
    })?;
    let history = args.history.clone().unwrap_or_else(|| {
        ovn_ha_local::workspace::root()
            .join("target/chaos")
            .join(format!("seed-{seed}.jsonl"))
    });
    let opts = run::Options {
        seed,
        faults: args.faults,
        minutes: args.minutes,
        history,
        image: ovn_ha_bench::image(args.image.as_deref()),
        site: run::site(),
        schedule: schedule::Bounds::default(),
        check: check::Bounds::default(),
    };
    let outcome = run::run(&opts, &mut |line| eprintln!("==> {line}"))
        .with_context(|| format!("chaos run with seed {seed}"))?;
    let v = &outcome.verdict;
    println!();
    print!("{}", v.table());
    println!(
        "seed {}, {} of {} faults applied{}, {:.1} min; {} operations ({} acknowledged, {} lost within the isolation bound), {} names seen by the reader, {} samples ({} with one NB copy writable); history {}",
        seed,
        outcome.applied,
        outcome.schedule.len(),
        outcome
            .stopped
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        outcome.elapsed.as_secs_f64() / 60.0,
        v.ops,
        v.acked,
        v.isolated_lost.len(),
        v.seen,
        v.samples,
        v.one_nb_writable,
        outcome.history.display()
    );
    Ok(report(v))
}
