//! A process started inside a host, killed with its process group when the guard is dropped.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Guard of a process started by [`crate::Host::spawn`]. It leads its own process group;
/// dropping the guard sends SIGKILL to that group (by its pid) and reaps the child.
#[derive(Debug)]
pub struct HostChild {
    child: Child,
    command: String,
    status: Option<ExitStatus>,
}

impl HostChild {
    pub(crate) fn new(child: Child, command: String) -> Self {
        HostChild {
            child,
            command,
            status: None,
        }
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn command_line(&self) -> &str {
        &self.command
    }

    /// Mutable access to the child, e.g. to take its stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    fn nix_pid(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().map(Pid::from_raw)
    }

    /// Sends `signal` to the child only (not its group). Does nothing once it has been reaped.
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        match (self.status, self.nix_pid()) {
            (None, Some(pid)) => kill(pid, signal),
            _ => Ok(()),
        }
    }

    /// Returns the exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits at most `limit` for the child to exit, polling every 50 ms.
    pub fn wait_timeout(&mut self, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs the child's whole process group and reaps the child.
    pub fn kill_group(&mut self) {
        if let Some(pid) = self.nix_pid() {
            // The group outlives its leader; kill it even if the leader already exited.
            let _ = killpg(pid, Signal::SIGKILL);
        }
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for HostChild {
    fn drop(&mut self) {
        self.kill_group();
    }
}
