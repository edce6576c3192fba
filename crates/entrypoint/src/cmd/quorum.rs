//! The quorum watcher thread (see `quorum_watch` for why): it runs `corosync-quorumtool -m`
//! (line-buffered through `stdbuf`), feeds each `Quorate:` line to the pure state, and raises
//! or lowers a shared flag that the replication fence thread acts on within one poll: close
//! the client listeners and release the VIP on a loss, reopen on a regain. When the monitor
//! ends (corosync gone), that counts as a loss; it is started again after [`RETRY`], as long as
//! the watcher runs. Stopping kills the monitor by pid.

use super::owned;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ovnkube_db_ha::quorum_watch::{Quorum, QuorumChange, quorate_line};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pause before starting the monitor again after it ended.
const RETRY: Duration = Duration::from_secs(1);

ovnkube_db_ha::log_part!("quorum watch");

/// The running watcher.
pub struct QuorumWatch {
    quit: Arc<AtomicBool>,
    monitor: Arc<AtomicI32>,
    thread: Option<JoinHandle<()>>,
}

impl QuorumWatch {
    /// Starts watching; `lost` is raised while this node is fenced for lack of quorum.
    pub fn start(lost: Arc<AtomicBool>) -> Self {
        let quit = Arc::new(AtomicBool::new(false));
        let monitor = Arc::new(AtomicI32::new(0));
        let (q, m) = (Arc::clone(&quit), Arc::clone(&monitor));
        let thread = std::thread::Builder::new()
            .name("quorum-watch".into())
            .spawn(move || watch(&lost, &q, &m))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        QuorumWatch {
            quit,
            monitor,
            thread,
        }
    }

    /// Stops the thread (killing the monitor).
    pub fn stop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        let pid = self.monitor.load(Ordering::SeqCst);
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for QuorumWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

fn watch(lost: &AtomicBool, quit: &AtomicBool, monitor: &AtomicI32) {
    let mut quorum = Quorum::default();
    let apply = |change: Option<QuorumChange>| match change {
        Some(QuorumChange::Fence) => {
            lost.store(true, Ordering::SeqCst);
            log("this node lost quorum: fencing itself (no writes, no VIP)");
        }
        Some(QuorumChange::Unfence) => {
            lost.store(false, Ordering::SeqCst);
            log("quorum is back");
        }
        None => {}
    };
    while !quit.load(Ordering::SeqCst) {
        let spawned = owned::spawn(
            Command::new("stdbuf")
                .args(["-oL", "corosync-quorumtool", "-m"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        match spawned {
            Ok(mut child) => {
                monitor.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
                if let Some(out) = child.stdout.take() {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        if let Some(q) = quorate_line(&line) {
                            apply(quorum.step(Some(q)));
                        }
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                owned::release(child.id());
                monitor.store(0, Ordering::SeqCst);
            }
            Err(e) => log(format!("cannot run corosync-quorumtool: {e}")),
        }
        if quit.load(Ordering::SeqCst) {
            break;
        }
        // The monitor ended: corosync is gone (or restarting); no quorum can be vouched for.
        apply(quorum.step(None));
        std::thread::sleep(RETRY);
    }
}
