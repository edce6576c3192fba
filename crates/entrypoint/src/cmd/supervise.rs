//! The two supervised daemons, `corosync -f` and `pacemakerd`: started as children, watched,
//! and stopped in order (pacemaker first, then corosync) with bounded waits. When the
//! entrypoint is PID 1 (in a container) it also reaps orphans that get reparented to it.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One supervised child.
#[derive(Debug)]
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    exited: Option<String>,
}

impl Daemon {
    /// Starts `program args` with stdin closed and stdout/stderr inherited (the pod's log).
    pub fn start(
        name: &'static str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().with_context(|| format!("starting {program}"))?;
        eprintln!("ovnkube-db-ha: started {name} (pid {})", child.id());
        Ok(Daemon {
            name,
            child,
            exited: None,
        })
    }

    fn pid(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().map(Pid::from_raw)
    }

    /// `Some(description)` once the daemon has exited.
    pub fn exited(&mut self) -> Option<String> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status.to_string());
            }
        }
        self.exited.clone()
    }

    /// Records an exit seen by the PID-1 reaper.
    fn record(&mut self, how: String) {
        self.exited.get_or_insert(how);
    }

    /// SIGTERM, wait up to `limit`, then SIGKILL; returns how it ended.
    pub fn stop(&mut self, limit: Duration) -> String {
        let pid = self.pid();
        if let (None, Some(pid)) = (self.exited(), pid) {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + limit;
            while self.exited().is_none() && Instant::now() < deadline {
                reap_orphans(&mut []);
                std::thread::sleep(Duration::from_millis(100));
            }
            if self.exited().is_none() {
                eprintln!(
                    "ovnkube-db-ha: {} did not stop within {limit:?}; killing it",
                    self.name
                );
                let _ = kill(pid, Signal::SIGKILL);
                let _ = self.child.wait();
                self.exited = Some("killed".into());
            }
        }
        self.exited.clone().unwrap_or_default()
    }
}

/// When running as PID 1, reaps every exited child, recording exits of `daemons`. Elsewhere
/// does nothing (the daemons are reaped through their `Child` handles).
pub fn reap_orphans(daemons: &mut [&mut Daemon]) {
    if std::process::id() != 1 {
        return;
    }
    for _ in 0..1000 {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                record(daemons, pid, format!("exit status: {code}"))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => record(daemons, pid, format!("signal: {sig}")),
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn record(daemons: &mut [&mut Daemon], pid: Pid, how: String) {
    for d in daemons.iter_mut() {
        if d.pid() == Some(pid) {
            d.record(how.clone());
        }
    }
}
