//! A short seeded chaos run (`cargo xtask chaos`'s library) in the README's test command: four
//! faults drawn from a fixed seed — seed 2 gives a standby's container killed while the
//! active's SB server is `kill -9`ed, a SIGABRT of the active NB server, the active's container
//! killed, and a standby's SB replication throttled — against the whole stack (the image under
//! runc on three test-bed hosts, corosync, pacemaker, ovsdb-server), with NB writers on the machine
//! and in every host, an SB session and a reader from the machine and the 20 ms writability
//! sampler; the checker must find nothing lost (acknowledged, or once seen by the reader),
//! never two writable copies and every fault converged.
//!
//! It holds the end-to-end suite's lock (`/run/lock/ovn-ha-e2e.lock`) for the whole run, so it
//! never runs a cluster at the same time as `tests/faults.rs` or a benchmark, and removes its
//! cluster (prefix `chaos`) by name even when it fails. Needs root, the packages
//! `cargo xtask test` installs and the image `cargo xtask image` builds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovn_ha_local::chaos::{check, run, schedule};
use ovn_ha_local::e2e;

const SEED: u64 = 2;
const FAULTS: usize = 4;

#[test]
fn a_short_seeded_chaos_run_passes_the_checker() {
    let _lock = e2e::lock(|| eprintln!("  waiting for another end-to-end run (lock)")).unwrap();
    let layout = e2e::image_layout().unwrap();
    let history = tempfile::tempdir().unwrap();
    let opts = run::Options {
        seed: SEED,
        faults: FAULTS,
        minutes: None,
        history: history.path().join("chaos.jsonl"),
        image: format!("{}:latest", layout.display()),
        site: run::site(),
        schedule: schedule::Bounds {
            hold_ms: (1_000, 4_000),
            gap_ms: (1_000, 2_000),
            double_percent: 15,
        },
        check: check::Bounds::default(),
    };
    let outcome = run::run(&opts, &mut |line| eprintln!("  {line}")).unwrap();
    let v = &outcome.verdict;
    eprint!("{}", v.table());
    eprintln!(
        "  {} operations ({} acknowledged), {} names seen by the reader, {} samples ({} with one NB copy writable), {:.0} s",
        v.ops,
        v.acked,
        v.seen,
        v.samples,
        v.one_nb_writable,
        outcome.elapsed.as_secs_f64()
    );
    eprintln!("{}", v.summary_line());
    assert!(v.seen > 0, "the reader saw nothing through the VIP");
    assert_eq!(
        outcome.applied, FAULTS,
        "stopped early: {:?}",
        outcome.stopped
    );
    assert!(v.passed(), "{}", v.failure_report());
    assert!(
        v.one_nb_writable > v.samples / 4,
        "the sampler saw a writable NB copy in only {} of {} samples",
        v.one_nb_writable,
        v.samples
    );
}
