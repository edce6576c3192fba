//! The private directories of each host and how they are prepared: which paths get a per-host
//! bind mount or a tmpfs inside the host's mount namespace, and what skeleton (ownership,
//! subdirectories, copied originals) Corosync, Pacemaker and OVN expect in them.

use crate::error::{BedError, Result};
use crate::exec::{run, run_quiet};
use crate::plan::HostPlan;
use std::path::Path;
use std::process::Command;

/// How a private directory starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateDirInit {
    /// An empty directory owned by root.
    Empty,
    /// A copy of the machine's directory (e.g. `/etc/corosync` with `uidgid.d`).
    CopyOriginal,
    /// Pacemaker's state skeleton: `cib`, `pengine`, `blackbox`, `cores` owned
    /// `hacluster:haclient` mode 0750.
    PacemakerState,
    /// A log directory with `pacemaker` (`hacluster:haclient`, 0770), `ovn`, `openvswitch`
    /// and `corosync`.
    Logs,
    /// A fresh tmpfs (for `/run` and `/dev/shm`), not backed by the state directory.
    Tmpfs,
}

/// One path made private inside every host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateDir {
    /// The path as the host's programs see it.
    pub target: &'static str,
    /// How it is initialised.
    pub init: PrivateDirInit,
}

/// Every path a host has to itself. `/run` comes before anything that might live below it.
pub const PRIVATE_DIRS: &[PrivateDir] = &[
    PrivateDir {
        target: "/etc/corosync",
        init: PrivateDirInit::CopyOriginal,
    },
    PrivateDir {
        target: "/var/lib/corosync",
        init: PrivateDirInit::Empty,
    },
    PrivateDir {
        target: "/var/lib/pacemaker",
        init: PrivateDirInit::PacemakerState,
    },
    PrivateDir {
        target: "/var/lib/ovn",
        init: PrivateDirInit::Empty,
    },
    PrivateDir {
        target: "/etc/ovn",
        init: PrivateDirInit::CopyOriginal,
    },
    PrivateDir {
        target: "/var/log",
        init: PrivateDirInit::Logs,
    },
    PrivateDir {
        target: "/run",
        init: PrivateDirInit::Tmpfs,
    },
    PrivateDir {
        target: "/dev/shm",
        init: PrivateDirInit::Tmpfs,
    },
];

/// Directories created on each host's fresh `/run`: (path, owner:group, mode).
const RUN_SKELETON: &[(&str, &str, &str)] = &[
    ("/run/crm", "hacluster:haclient", "0750"),
    ("/run/ovn", "root:root", "0755"),
    ("/run/openvswitch", "root:root", "0755"),
    ("/run/resource-agents", "root:root", "0755"),
    ("/run/lock", "root:root", "1777"),
];

/// `install -d -o OWNER -g GROUP -m MODE path` (in the root namespace, or through `prefix`).
fn make_dir(prefix: &[&str], path: &str, owner_group: &str, mode: &str) -> Result<()> {
    let (owner, group) = owner_group
        .split_once(':')
        .unwrap_or((owner_group, owner_group));
    let mut cmd = if let Some((program, args)) = prefix.split_first() {
        let mut c = Command::new(program);
        c.args(args).arg("install");
        c
    } else {
        Command::new("install")
    };
    cmd.args(["-d", "-o", owner, "-g", group, "-m", mode, path]);
    run(&mut cmd).map(|_| ())
}

/// Fills the per-host source directory of `dir` according to its [`PrivateDirInit`].
fn init_source(host: &HostPlan, dir: &PrivateDir) -> Result<()> {
    let source = host.private_source(Path::new(dir.target));
    let src = source.to_string_lossy().into_owned();
    make_dir(&[], &src, "root:root", "0755")?;
    match dir.init {
        PrivateDirInit::Empty | PrivateDirInit::Tmpfs => {}
        PrivateDirInit::CopyOriginal => {
            if Path::new(dir.target).is_dir() {
                run_quiet(
                    "cp",
                    &["-a", &format!("{}/.", dir.target), &format!("{src}/")],
                )?;
            }
        }
        PrivateDirInit::PacemakerState => {
            for sub in ["cib", "pengine", "blackbox", "cores"] {
                make_dir(&[], &format!("{src}/{sub}"), "hacluster:haclient", "0750")?;
            }
        }
        PrivateDirInit::Logs => {
            make_dir(
                &[],
                &format!("{src}/pacemaker"),
                "hacluster:haclient",
                "0770",
            )?;
            for sub in ["ovn", "openvswitch", "corosync"] {
                make_dir(&[], &format!("{src}/{sub}"), "root:root", "0755")?;
            }
        }
    }
    Ok(())
}

/// Creates the host's persistent mount namespace and mounts its private directories in it.
/// The bed's namespace directory must already be a private mount.
pub(crate) fn create_host_mount_ns(host: &HostPlan) -> Result<()> {
    for dir in PRIVATE_DIRS {
        init_source(host, dir)?;
    }
    let file = host.mount_ns_file.to_string_lossy().into_owned();
    std::fs::write(&host.mount_ns_file, b"").map_err(|source| BedError::Io {
        path: host.mount_ns_file.clone(),
        source,
    })?;
    run_quiet(
        "unshare",
        &[
            &format!("--mount={file}"),
            "--propagation",
            "private",
            "true",
        ],
    )?;
    let enter = format!("--mount={file}");
    let prefix = ["nsenter", enter.as_str(), "--"];
    for dir in PRIVATE_DIRS {
        match dir.init {
            PrivateDirInit::Tmpfs => run_quiet(
                "nsenter",
                &[
                    &enter,
                    "--",
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    &tmpfs_options(dir.target),
                    "tmpfs",
                    dir.target,
                ],
            )?,
            _ => {
                let source = host.private_source(Path::new(dir.target));
                run_quiet(
                    "nsenter",
                    &[
                        &enter,
                        "--",
                        "mount",
                        "--bind",
                        &source.to_string_lossy(),
                        dir.target,
                    ],
                )?
            }
        }
    }
    for (path, owner_group, mode) in RUN_SKELETON {
        make_dir(&prefix, path, owner_group, mode)?;
    }
    Ok(())
}

/// Mount options of a private tmpfs: `/dev/shm` must be world-writable (sticky) like the
/// machine's, or libqb IPC between Pacemaker's daemons (running as `hacluster`) fails.
fn tmpfs_options(target: &str) -> String {
    let mode = if target == "/dev/shm" { "1777" } else { "0755" };
    format!("mode={mode},size=256m")
}

/// Makes `dir` a private mount of itself so mount-namespace files can be bound inside it.
pub(crate) fn make_private_ns_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| BedError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let d = dir.to_string_lossy();
    run_quiet("mount", &["--bind", &d, &d])?;
    run_quiet("mount", &["--make-private", &d])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_is_world_writable_and_sticky() {
        assert_eq!(tmpfs_options("/dev/shm"), "mode=1777,size=256m");
        assert_eq!(tmpfs_options("/run"), "mode=0755,size=256m");
    }

    #[test]
    fn every_required_path_is_private_once() {
        let targets: Vec<&str> = PRIVATE_DIRS.iter().map(|d| d.target).collect();
        for needed in [
            "/etc/corosync",
            "/var/lib/corosync",
            "/var/lib/pacemaker",
            "/var/lib/ovn",
            "/etc/ovn",
            "/var/log",
            "/run",
            "/dev/shm",
        ] {
            assert_eq!(
                targets.iter().filter(|t| **t == needed).count(),
                1,
                "{needed}"
            );
        }
        for tmp in ["/run", "/dev/shm"] {
            let dir = PRIVATE_DIRS.iter().find(|d| d.target == tmp).unwrap();
            assert_eq!(dir.init, PrivateDirInit::Tmpfs);
        }
    }
}
