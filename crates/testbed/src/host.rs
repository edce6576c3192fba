//! One host of a bed: its name and address, and commands run inside its network and mount
//! namespaces.

use crate::child::HostChild;
use crate::error::{BedError, Result};
use crate::exec::{describe, run};
use crate::plan::HostPlan;
use nix::sched::{CloneFlags, setns};
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

/// A host: a network namespace plus a mount namespace. Cheap to clone; the bed owns the
/// resources.
#[derive(Debug, Clone)]
pub struct Host {
    plan: HostPlan,
}

impl Host {
    pub(crate) fn new(plan: HostPlan) -> Self {
        Host { plan }
    }

    /// The host's name, which is also its network namespace's name (`P-hi`).
    pub fn name(&self) -> &str {
        &self.plan.netns
    }

    /// The host's address on the bed's bridge.
    pub fn addr(&self) -> Ipv4Addr {
        self.plan.addr
    }

    /// 1-based index in the bed.
    pub fn index(&self) -> usize {
        self.plan.index
    }

    /// Names, paths and address of this host.
    pub fn plan(&self) -> &HostPlan {
        &self.plan
    }

    /// Path of the file pinning the host's mount namespace (for `nsenter --mount=`).
    pub fn mount_ns_file(&self) -> &Path {
        &self.plan.mount_ns_file
    }

    /// Path of the host's network namespace (for `nsenter --net=`).
    pub fn net_ns_path(&self) -> String {
        format!("/var/run/netns/{}", self.plan.netns)
    }

    /// A command that runs `program` inside this host's network and mount namespaces
    /// (through `nsenter`, which execs the program, so the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.net_ns_path()))
            .arg(format!("--mount={}", self.plan.mount_ns_file.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Runs `program args...` inside the host to completion; errors unless it exits 0.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        run(self.command(program).args(args))
    }

    /// Starts `cmd` (usually from [`Host::command`]) in a process group of its own and returns
    /// a guard that kills that group by pid when dropped.
    pub fn spawn(&self, mut cmd: Command) -> Result<HostChild> {
        cmd.process_group(0);
        let command = describe(&cmd);
        let child = cmd.spawn().map_err(|source| BedError::Spawn {
            command: command.clone(),
            source,
        })?;
        Ok(HostChild::new(child, command))
    }

    /// Runs `f` on a fresh thread that has joined this host's network namespace (only the
    /// network namespace: file paths stay the machine's). Sockets made there belong to the
    /// host and keep working when handed back to other threads.
    pub fn in_netns<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        let path = self.net_ns_path();
        let file = std::fs::File::open(&path).map_err(|source| BedError::Io {
            path: path.clone().into(),
            source,
        })?;
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| BedError::Io {
                        path: path.clone().into(),
                        source: e.into(),
                    })?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(BedError::Spec(format!(
                        "closure run in {} panicked",
                        self.name()
                    )))
                })
        })
    }

    /// Whether a TCP connection from this host to `addr` succeeds within `timeout`.
    pub fn tcp_connects(&self, addr: std::net::SocketAddr, timeout: std::time::Duration) -> bool {
        self.in_netns(|| std::net::TcpStream::connect_timeout(&addr, timeout).is_ok())
            .unwrap_or(false)
    }

    /// Bind-mounts `source` (a file or directory of the machine) over `target` inside this
    /// host's mount namespace only, e.g. an agent directory over
    /// `/usr/lib/ocf/resource.d/ovn`. `target` must exist and not be a dangling symlink.
    pub fn bind_mount(&self, source: &Path, target: &str) -> Result<()> {
        run(Command::new("nsenter")
            .arg(format!("--mount={}", self.plan.mount_ns_file.display()))
            .args(["--", "mount", "--bind"])
            .arg(source)
            .arg(target))
        .map(|_| ())
    }
}
