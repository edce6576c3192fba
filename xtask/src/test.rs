//! `cargo xtask test`: the README's test command. Installs the Debian, PyPI and npm packages
//! the tests need (only what is missing; see [`crate::deps`]), then runs `cargo fmt --check`,
//! clippy with warnings denied and builds every test while it builds the image and the same
//! image on the upgrade suite (the end-to-end suite runs them), then runs every test of the
//! workspace.

use crate::deps;
use anyhow::Result;
use ovn_ha_exec::Exec;
use std::process::{Command, ExitCode};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Do not install packages; assume they are present.
    #[arg(long)]
    pub skip_install: bool,
    /// Extra arguments for `cargo test` (e.g. a test name filter).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

pub fn run(args: &TestArgs) -> Result<ExitCode> {
    if !args.skip_install {
        deps::install(deps::Needs::Test)?;
    }
    let root = ovn_ha_local::workspace::root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The e2e fault suite runs the image under runc, and its upgrade scenario replaces it, pod
    // by pod, by the same image on a newer Debian (OVN). Both build (cached layers are reused)
    // while the checks and the test build run: their static build has a target directory of
    // its own and their bases are mostly downloads and dpkg, so the two cores stay busy.
    let suite = ovn_ha_local::workspace::UPGRADE_SUITE;
    let mut newer = crate::local::default_image_args();
    newer.suite = Some(suite.to_owned());
    let images = [crate::local::default_image_args(), newer];
    std::thread::scope(|s| -> Result<()> {
        let built = s.spawn(|| {
            eprintln!("==> building the image and the {suite} image for the end-to-end tests");
            crate::image::build_all(&images)
        });
        let checked = checks_and_test_build(&cargo, &root);
        let built = built
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the image builds panicked")));
        checked.and(built)
    })?;
    // A test missing a prerequisite fails unless OVN_HA_ALLOW_SKIP=1; skips are counted here.
    let skip_log = root.join("target/skipped-tests.txt");
    let _ = std::fs::remove_file(&skip_log);
    Exec::new(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["test", "--workspace"])
            .args(&args.cargo_test_args)
            .env("OVN_HA_SKIP_LOG", &skip_log),
    )
    .logged()
    .inherit()?;
    let skipped = std::fs::read_to_string(&skip_log).unwrap_or_default();
    let n = skipped.lines().count();
    if n > 0 {
        eprintln!("{n} test(s) skipped for missing prerequisites (OVN_HA_ALLOW_SKIP=1):");
        for l in skipped.lines() {
            eprintln!("  {l}");
        }
    }
    eprintln!("all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// `cargo fmt --check`, clippy with warnings denied, and the build of every test.
fn checks_and_test_build(cargo: &str, root: &std::path::Path) -> Result<()> {
    let run = |args: &[&str]| -> Result<()> {
        Exec::new(Command::new(cargo).current_dir(root).args(args))
            .logged()
            .inherit()?;
        Ok(())
    };
    run(&["fmt", "--all", "--check"])?;
    // The workspace, and the renderer as `daemonset.sh` builds it without --ssl (no `pki`).
    for scope in [
        &["--workspace"][..],
        &["--package", "ovn-ha-render", "--no-default-features"],
    ] {
        let mut args = vec!["clippy"];
        args.extend_from_slice(scope);
        args.extend_from_slice(&["--all-targets", "--", "-D", "warnings"]);
        run(&args)?;
    }
    run(&["test", "--workspace", "--no-run"])
}
