//! The replication fence thread (see `replication_fence` for why): every [`POLL`] it asks the
//! kernel (sock_diag, filtered by port) for the established connections on each database's
//! replication port — its replicas, exactly — and when none of them has acknowledged progress
//! for the stall limit it closes that database's client listeners and sessions through the
//! server's control socket (`ovsdb-server/remove-remote`, every network remote but the
//! replication listener, so the replicas stay connected), opening them again (`add-remote`,
//! retried every poll until it works or the server is gone) when the fence lifts or the
//! watcher stops. Only the copy at the VIP has replica connections, so the thread acts on
//! nothing elsewhere.

use super::tcp_diag::Diag;
use ovnkube_db_ha::replication_fence::{Change, Fence, Replica};
use ovsdb_unixctl::{Client, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the replicas are looked at (a fraction of the stall limit).
const POLL: Duration = Duration::from_millis(20);
/// Limit of one control-socket call.
const CALL_LIMIT: Duration = Duration::from_secs(2);
/// The two databases: name, control socket (the agent's default `run_dir`).
const CONTROLS: [(&str, &str); 2] = [
    ("NB", "/var/run/ovn/ovnnb_db.ctl"),
    ("SB", "/var/run/ovn/ovnsb_db.ctl"),
];

fn log(msg: impl AsRef<str>) {
    eprintln!("ovnkube-db-ha: replication fence: {}", msg.as_ref());
}

/// The running fence thread.
pub struct FenceWatch {
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FenceWatch {
    /// Starts watching the replica connections on the replication ports (NB, SB).
    pub fn start(replication_ports: [u16; 2]) -> Self {
        let quit = Arc::new(AtomicBool::new(false));
        let q = Arc::clone(&quit);
        let thread = std::thread::Builder::new()
            .name("replication-fence".into())
            .spawn(move || watch(replication_ports, &q))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        FenceWatch { quit, thread }
    }

    /// Stops the thread, opening any closed fence first.
    pub fn stop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FenceWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The replicas on `port` now; `None` (logged once per kind of failure) if the kernel could
/// not be asked.
fn replicas(diag: &mut Option<Diag>, port: u16, failing: &mut bool) -> Option<Vec<Replica>> {
    let result = match diag {
        Some(d) => d.established_from_port(port),
        None => Diag::open().and_then(|d| diag.insert(d).established_from_port(port)),
    };
    match result {
        Ok(conns) => {
            *failing = false;
            Some(
                conns
                    .into_iter()
                    .filter_map(|c| {
                        let info = c.info?;
                        Some(Replica {
                            remote: c.remote,
                            unacked: info.unacked,
                            bytes_acked: info.bytes_acked?,
                        })
                    })
                    .collect(),
            )
        }
        Err(e) => {
            if !*failing {
                log(format!("cannot list the replicas on port {port}: {e}"));
            }
            *failing = true;
            *diag = None;
            None
        }
    }
}

fn watch(ports: [u16; 2], quit: &AtomicBool) {
    let mut diag: Option<Diag> = None;
    let mut failing = false;
    let mut fences = [Fence::default(), Fence::default()];
    let mut removed: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    while !quit.load(Ordering::SeqCst) {
        for i in 0..2 {
            if !removed[i].is_empty() && !fences[i].is_closed() {
                // An earlier reopen failed in part: try again.
                open(i, &mut removed[i], "retrying");
            }
            let Some(replicas) = replicas(&mut diag, ports[i], &mut failing) else {
                continue;
            };
            match fences[i].step(Instant::now(), &replicas) {
                Some(Change::Close(why)) => {
                    let (name, ctl) = CONTROLS[i];
                    match close(ctl, ports[i]) {
                        Ok(r) => {
                            log(format!(
                                "{name}: not taking writes: {why}; closed {}",
                                r.join(", ")
                            ));
                            removed[i] = r;
                        }
                        Err(e) => log(format!("{name}: could not close ({why}): {e}")),
                    }
                }
                Some(Change::Open(why)) => open(i, &mut removed[i], &why),
                None => {}
            }
        }
        std::thread::sleep(POLL);
    }
    for (i, r) in removed.iter_mut().enumerate() {
        if !r.is_empty() {
            open(i, r, "the watcher stops");
        }
    }
}

/// Whether a remote lets clients write over the network: not the local unix socket, not the
/// replication listener on `replication_port` (`ptcp:PORT[:ADDR]` or `pssl:…`).
fn is_client_listener(remote: &str, replication_port: u16) -> bool {
    if remote.is_empty() || remote.starts_with("punix:") || remote.starts_with("unix:") {
        return false;
    }
    let port = remote
        .strip_prefix("ptcp:")
        .or_else(|| remote.strip_prefix("pssl:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|p| p.parse::<u16>().ok());
    port != Some(replication_port)
}

/// Removes every client remote of the server; returns what it removed.
fn close(ctl: &str, replication_port: u16) -> Result<Vec<String>, String> {
    let mut c = Client::connect(ctl, CALL_LIMIT).map_err(|e| e.to_string())?;
    let list = c.call(&Command::ListRemotes).map_err(|e| e.to_string())?;
    let mut removed = Vec::new();
    for remote in list
        .lines()
        .map(str::trim)
        .filter(|r| is_client_listener(r, replication_port))
    {
        match c.call(&Command::RemoveRemote(remote)) {
            Ok(_) => removed.push(remote.to_string()),
            Err(e) => log(format!("remove-remote {remote}: {e}")),
        }
    }
    Ok(removed)
}

/// Adds the removed remotes back; keeps those that failed for the next poll. A server that is
/// gone (stopped after the quorum loss) has nothing to reopen.
fn open(i: usize, removed: &mut Vec<String>, why: &str) {
    let (name, ctl) = CONTROLS[i];
    let retry = why == "retrying";
    let mut c = match Client::connect(ctl, CALL_LIMIT) {
        Ok(c) => c,
        Err(e) => {
            log(format!("{name}: not reopened ({why}): {e}"));
            removed.clear();
            return;
        }
    };
    let mut errors = Vec::new();
    removed.retain(|r| match c.call(&Command::AddRemote(r)) {
        Ok(_) => false,
        Err(e) => {
            errors.push(format!("{r}: {e}"));
            true
        }
    });
    if errors.is_empty() {
        log(format!("{name}: taking writes again ({why})"));
    } else if !retry {
        log(format!(
            "{name}: reopening ({why}) partly failed, retrying every {POLL:?}: {}",
            errors.join("; ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_listeners() {
        for (remote, client) in [
            ("ptcp:6641", true),
            ("ptcp:6641:198.18.0.100", true),
            ("db:OVN_Northbound,NB_Global,connections", true),
            ("pssl:6641:[::]", true),
            ("ptcp:6643:198.18.0.100", false),
            ("pssl:6643:[2001:db8::1]", false),
            ("ptcp:6643", false),
            ("punix:/var/run/ovn/ovnnb_db.sock", false),
            ("", false),
        ] {
            assert_eq!(is_client_listener(remote, 6643), client, "{remote}");
        }
    }
}
