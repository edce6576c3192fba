//! The replication fence thread (see `replication_fence` for why): every [`POLL`] it reads
//! this node's TCP table, and when no replica has acknowledged a database's stream for the
//! stall limit it closes that database's listeners and client sessions through the server's
//! control socket (`ovsdb-server/remove-remote`), opening them again (`add-remote`) when the
//! fence lifts or the watcher stops. Only the copy at the VIP has replica connections, so the
//! thread acts on nothing elsewhere.

use ovnkube_db_ha::replication_fence::{Change, Fence, parse_proc_net_tcp, replica_connections};
use ovsdb_unixctl::{Client, Command};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the TCP table is read (a fraction of the stall limit).
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
    peers: Arc<Mutex<Vec<IpAddr>>>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FenceWatch {
    /// Starts watching the replica connections to `vip` on `ports` (NB, SB) from `peers`.
    pub fn start(vip: IpAddr, ports: [u16; 2], peers: Vec<IpAddr>) -> Self {
        let peers = Arc::new(Mutex::new(peers));
        let quit = Arc::new(AtomicBool::new(false));
        let (p, q) = (Arc::clone(&peers), Arc::clone(&quit));
        let thread = std::thread::Builder::new()
            .name("replication-fence".into())
            .spawn(move || watch(vip, ports, &p, &q))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        FenceWatch {
            peers,
            quit,
            thread,
        }
    }

    /// Replaces the peer addresses (after a membership change).
    pub fn set_peers(&self, peers: Vec<IpAddr>) {
        if let Ok(mut p) = self.peers.lock() {
            *p = peers;
        }
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

fn tcp_table() -> String {
    let mut text = String::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(path) {
            text.push_str(&t);
        }
    }
    text
}

fn watch(vip: IpAddr, ports: [u16; 2], peers: &Mutex<Vec<IpAddr>>, quit: &AtomicBool) {
    let mut fences = [Fence::default(), Fence::default()];
    let mut removed: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    while !quit.load(Ordering::SeqCst) {
        let rows = parse_proc_net_tcp(&tcp_table());
        let peers_now = peers.lock().map(|p| p.clone()).unwrap_or_default();
        for i in 0..2 {
            let replicas: Vec<(SocketAddr, u32)> =
                replica_connections(&rows, vip, ports[i], &peers_now)
                    .map(|r| (r.remote, r.tx_queue))
                    .collect();
            match fences[i].step(Instant::now(), &replicas) {
                Some(Change::Close(why)) => {
                    let (name, ctl) = CONTROLS[i];
                    match close(ctl) {
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

/// Whether a remote is a network listener (as opposed to the local unix socket).
fn is_network_listener(remote: &str) -> bool {
    !(remote.starts_with("punix:") || remote.starts_with("unix:"))
}

/// Removes every network remote of the server; returns what it removed.
fn close(ctl: &str) -> Result<Vec<String>, String> {
    let mut c = Client::connect(ctl, CALL_LIMIT).map_err(|e| e.to_string())?;
    let list = c.call(&Command::ListRemotes).map_err(|e| e.to_string())?;
    let mut removed = Vec::new();
    for remote in list
        .lines()
        .map(str::trim)
        .filter(|r| is_network_listener(r) && !r.is_empty())
    {
        match c.call(&Command::RemoveRemote(remote)) {
            Ok(_) => removed.push(remote.to_string()),
            Err(e) => log(format!("remove-remote {remote}: {e}")),
        }
    }
    Ok(removed)
}

fn open(i: usize, removed: &mut Vec<String>, why: &str) {
    let (name, ctl) = CONTROLS[i];
    let result = Client::connect(ctl, CALL_LIMIT)
        .map_err(|e| e.to_string())
        .map(|mut c| {
            removed
                .iter()
                .filter_map(|r| {
                    c.call(&Command::AddRemote(r))
                        .err()
                        .map(|e| format!("{r}: {e}"))
                })
                .collect::<Vec<_>>()
        });
    match result {
        Ok(errors) if errors.is_empty() => log(format!("{name}: taking writes again ({why})")),
        Ok(errors) => log(format!(
            "{name}: reopening ({why}) partly failed: {}",
            errors.join("; ")
        )),
        // A server that is gone (stopped after the quorum loss) has nothing to reopen.
        Err(e) => log(format!("{name}: not reopened ({why}): {e}")),
    }
    removed.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners() {
        assert!(is_network_listener("ptcp:6641"));
        assert!(is_network_listener(
            "db:OVN_Northbound,NB_Global,connections"
        ));
        assert!(is_network_listener("pssl:6641:[::]"));
        assert!(!is_network_listener("punix:/var/run/ovn/ovnnb_db.sock"));
    }
}
