//! The two supervised daemons, `corosync -f` and `pacemakerd`: started as children, watched,
//! and stopped in order (pacemaker first, then corosync) with bounded waits. The entrypoint is
//! a child subreaper (or PID 1 in a container): orphans of its descendants — Pacemaker's
//! subdaemons after a pacemakerd crash, servers the agent detached — are reparented to it,
//! reaped here, and stopped by pid when it exits.

use super::owned;
use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

ovnkube_db_ha::log_part!("ovnkube-db-ha");

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
        log(format!("started {name} (pid {})", child.id()));
        Ok(Daemon {
            name,
            child,
            exited: None,
        })
    }

    pub fn pid(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().map(Pid::from_raw)
    }

    /// `Some(description)` once the daemon has exited.
    pub fn exited(&mut self) -> Option<String> {
        if self.exited.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => self.exited = Some(status.to_string()),
                Ok(None) => {}
                // Reaped by `reap_orphans` before it could be recorded: gone all the same.
                Err(_) => self.exited = Some("exited".into()),
            }
        }
        self.exited.clone()
    }

    /// Records an exit seen by the reaper.
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
                reap_orphans(&mut [&mut *self]);
                std::thread::sleep(Duration::from_millis(100));
            }
            if self.exited().is_none() {
                log(format!(
                    "{} did not stop within {limit:?}; killing it",
                    self.name
                ));
                let _ = kill(pid, Signal::SIGKILL);
                let _ = self.child.wait();
                self.exited = Some("killed".into());
            }
        }
        self.exited.clone().unwrap_or_default()
    }
}

/// Makes this process the reaper of its descendants' orphans (PR_SET_CHILD_SUBREAPER).
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log(format!("cannot become a child subreaper: {e}"));
    }
}

/// Reaps every exited child (adopted orphan or daemon) except the ones a thread spawned and
/// waits for itself (`owned`), recording exits of `daemons`.
pub fn reap_orphans(daemons: &mut [&mut Daemon]) {
    owned::while_locked(|owned| {
        for pid in children_in(|state| state == 'Z') {
            if owned.contains(&pid) {
                continue;
            }
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    record(daemons, pid, format!("exit status: {code}"))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    record(daemons, pid, format!("signal: {sig}"))
                }
                _ => {}
            }
        }
    });
}

fn record(daemons: &mut [&mut Daemon], pid: Pid, how: String) {
    for d in daemons.iter_mut() {
        if d.pid() == Some(pid) {
            d.record(how.clone());
        }
    }
}

/// Pids of this process's living children, from `/proc/*/stat`.
fn children() -> Vec<i32> {
    children_in(|state| state != 'Z')
}

/// Pids of this process's children whose state letter (`/proc/PID/stat`, read with `procfs`)
/// passes `keep`.
fn children_in(keep: impl Fn(char) -> bool) -> Vec<i32> {
    let Ok(me) = i32::try_from(std::process::id()) else {
        return Vec::new();
    };
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.flatten()
        .filter_map(|p| p.stat().ok())
        .filter(|stat| stat.ppid == me && keep(stat.state))
        .map(|stat| stat.pid)
        .collect()
}

/// Stops every remaining child by pid: SIGTERM, up to `limit` for them to go, then SIGKILL.
pub fn stop_remaining_children(limit: Duration) {
    stop_children_except(&[], limit);
}

/// [`stop_remaining_children`], sparing the pids in `keep` (corosync, which must outlive the
/// database servers so that no other copy is promoted while this one still serves).
pub fn stop_children_except(keep: &[i32], limit: Duration) {
    let others = || -> Vec<i32> {
        children()
            .into_iter()
            .filter(|p| !keep.contains(p))
            .collect()
    };
    let pids = others();
    if pids.is_empty() {
        return;
    }
    log(format!("stopping leftover processes {pids:?}"));
    for pid in &pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !others().is_empty() {
        reap_orphans(&mut []);
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in others() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(100));
    reap_orphans(&mut []);
}
