//! `cargo xtask test`: the README's test command. Installs the Debian, PyPI and npm packages
//! the tests need (only what is missing; see [`crate::deps`]), then runs `cargo fmt --check`,
//! clippy with warnings denied, builds the image and the same image on the upgrade suite (the
//! end-to-end suite runs them), and runs every test of the workspace.

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
    Exec::new(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]),
    )
    .logged()
    .inherit()?;
    // The workspace, and the renderer as `daemonset.sh` builds it without --ssl (no `pki`).
    for scope in [
        &["--workspace"][..],
        &["--package", "ovn-ha-render", "--no-default-features"],
    ] {
        Exec::new(
            Command::new(&cargo)
                .current_dir(&root)
                .arg("clippy")
                .args(scope)
                .args(["--all-targets", "--", "-D", "warnings"]),
        )
        .logged()
        .inherit()?;
    }
    // The e2e fault suite runs the image under runc: build it (cached layers are reused).
    eprintln!("==> building the image for the end-to-end tests");
    let image = crate::local::default_image_args();
    let code = crate::image::run(&image)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    // The upgrade scenario replaces it, pod by pod, by the same image on a newer Debian (OVN).
    let suite = ovn_ha_local::workspace::UPGRADE_SUITE;
    eprintln!("==> building the {suite} image for the rolling upgrade scenario");
    let mut newer = crate::local::default_image_args();
    newer.suite = Some(suite.to_owned());
    let code = crate::image::run(&newer)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
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
