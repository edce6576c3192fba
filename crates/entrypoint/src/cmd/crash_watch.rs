//! The crash watcher: a thread that looks at the two database servers every
//! [`POLL`] and, when the active copy's server has died (see `crash_restart` for why and
//! when), starts it again in place or reports the failure to Pacemaker. The supervisor pauses
//! it before any planned stop (handover, shutdown after a daemon died).

use super::guard_thread::{Flags, GuardThread};
use super::owned;
use ovnkube_db_ha::cib::desired::DB_RESOURCE;
use ovnkube_db_ha::crash_restart::{
    Action, RestartBudget, decide, marker_path, restart_argv, servers, state_is_alive,
};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often the servers are looked at.
const POLL: Duration = Duration::from_millis(20);
/// Longest wait for a restarted server's launcher (it returns once the daemon is ready).
const LAUNCH_LIMIT: Duration = Duration::from_secs(10);

ovnkube_db_ha::log_part!("crash watcher");

/// The running watcher.
pub struct CrashWatch(GuardThread);

impl CrashWatch {
    /// Starts watching for `node`, whose VIP is `vip`.
    pub fn start(vip: IpAddr, node: String) -> Self {
        CrashWatch(GuardThread::spawn("crash-watch", log, move |f| {
            watch(vip, &node, f)
        }))
    }

    /// A watcher that never acts (`OVN_DB_HA_CRASH_RESTART=off`): crashes are left to
    /// Pacemaker's monitor.
    pub fn off() -> Self {
        CrashWatch(GuardThread::off())
    }

    /// Stops acting on deaths (a planned stop is coming); idempotent.
    pub fn pause(&self) {
        self.0.pause();
    }
}

/// A server seen alive: its pid and command line.
struct Seen {
    pid: i32,
    argv: Vec<String>,
}

fn read_pid(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| state_is_alive(s.state))
}

fn watch(vip: IpAddr, node: &str, flags: &Flags) {
    let mut seen: [Option<Seen>; 2] = [None, None];
    let mut budget = RestartBudget::default();
    while !flags.quit() {
        for (i, (name, pidfile)) in servers().iter().enumerate() {
            let pid = read_pid(pidfile);
            let known = seen[i].as_ref().map(|s| s.pid);
            match pid {
                Some(p) if alive(p) => {
                    if known != Some(p) {
                        let argv = procfs::process::Process::new(p)
                            .and_then(|p| p.cmdline())
                            .unwrap_or_default();
                        seen[i] = Some(Seen { pid: p, argv });
                    }
                }
                // The pidfile still names the server we saw, and it is gone: it did not stop
                // cleanly (a clean stop removes its pidfile).
                Some(p) if known == Some(p) => {
                    let Some(dead) = seen[i].take() else { continue };
                    if flags.active() {
                        handle_death(name, pidfile, &dead, vip, node, &mut budget);
                    }
                }
                _ => seen[i] = None,
            }
        }
        std::thread::sleep(POLL);
    }
}

fn handle_death(
    name: &str,
    pidfile: &Path,
    dead: &Seen,
    vip: IpAddr,
    node: &str,
    budget: &mut RestartBudget,
) {
    let found = Instant::now();
    let argv = restart_argv(&dead.argv);
    let action = decide(super::vip::held(vip), budget.allows(found), argv.is_some());
    match (action, argv) {
        (Action::Leave, _) => log(format!(
            "the {name} server (pid {}) is gone; this node does not hold the VIP, so its monitor reports it",
            dead.pid
        )),
        (Action::RestartInPlace, Some(argv)) => {
            budget.record(found);
            match restart(pidfile, &argv) {
                Ok(pid) => {
                    ovnkube_db_ha::metrics::EVENTS.restarted_in_place();
                    log(format!(
                        "the active {name} server (pid {}) died; started it again in place as active (pid {pid}) in {} ms",
                        dead.pid,
                        found.elapsed().as_millis()
                    ));
                }
                Err(e) => {
                    log(format!(
                        "the active {name} server (pid {}) died and did not start again: {e}",
                        dead.pid
                    ));
                    report(name, node, "it did not restart in place");
                }
            }
        }
        (Action::ReportToPacemaker(why), _) => report(name, node, &why),
        (Action::RestartInPlace, None) => report(name, node, "no command line to restart"),
    }
}

/// Starts `argv` (a detaching ovsdb-server) with the agent's marker present, waits for its
/// launcher, and returns the new server's pid.
fn restart(pidfile: &Path, argv: &[String]) -> Result<i32, String> {
    let marker = marker_path(pidfile);
    let _ = std::fs::write(&marker, b"");
    let result = (|| {
        let (program, args) = argv.split_first().ok_or("empty command line")?;
        let mut child = owned::spawn(Command::new(program).args(args).stdin(Stdio::null()))
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let deadline = Instant::now() + LAUNCH_LIMIT;
        let launcher = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Err(e) => break format!("not waited for: {e}"),
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    owned::release(child.id());
                    return Err(format!(
                        "its launcher did not return within {LAUNCH_LIMIT:?}"
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        owned::release(child.id());
        // A server started meanwhile by someone else holds the database lock and our
        // launch fails; either way a living server named by the pidfile is what counts.
        match read_pid(pidfile) {
            Some(pid) if alive(pid) => Ok(pid),
            _ => Err(format!(
                "no living server after the launch (launcher: {launcher})"
            )),
        }
    })();
    let _ = std::fs::remove_file(&marker);
    result
}

/// Tells Pacemaker that the resource failed on this node, so it recovers at once instead of at
/// the next monitor.
fn report(name: &str, node: &str, why: &str) {
    log(format!(
        "reporting the {name} server's failure to Pacemaker: {why}"
    ));
    let status = owned::status(
        Command::new("crm_resource")
            .args(["--fail", "--resource", DB_RESOURCE, "--node", node])
            .stdout(Stdio::null()),
    );
    if !status.as_ref().is_ok_and(|s| s.success()) {
        log(format!("crm_resource --fail did not succeed: {status:?}"));
    }
}
