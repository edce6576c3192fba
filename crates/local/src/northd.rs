//! A real `ovn-northd` on the machine, connected through the databases' client remotes (the
//! VIP, or RAFT's members) with its default probes, and a Southbound watcher that notes when
//! each logical switch's datapath (`Datapath_Binding`, `external_ids:name`) first appeared: how
//! long OVN's own translation stays stuck after a fault, as users feel it. The watcher opens a
//! new connection per look (so no stale session of its own hides anything) and asks only for
//! datapaths newer than the last it saw (northd hands out tunnel keys in increasing order).

use crate::ovsdb_rpc;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running `ovn-northd`; stopped (by pid) when dropped.
#[derive(Debug)]
pub struct Northd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Northd {
    /// Starts `ovn-northd` with the NB and SB remotes (`tcp:ADDR:PORT`, comma-separated for
    /// RAFT), its control socket, pid file and log in a directory of its own.
    pub fn start(nb: &str, sb: &str) -> std::io::Result<Northd> {
        let dir = tempfile::tempdir()?;
        let p = |name: &str| dir.path().join(name).display().to_string();
        let child = Command::new("ovn-northd")
            .arg(format!("--ovnnb-db={nb}"))
            .arg(format!("--ovnsb-db={sb}"))
            .arg(format!("--unixctl={}", p("northd.ctl")))
            .arg(format!("--pidfile={}", p("northd.pid")))
            .arg(format!("--log-file={}", p("northd.log")))
            .arg("--no-chdir")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Northd { child, _dir: dir })
    }

    /// Its log (for a report when something went wrong).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("northd.log")).unwrap_or_default()
    }

    /// The directory holding its files.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Northd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Southbound watcher: every [`LOOK_EVERY`] it asks one of `remotes` for the datapaths
/// it has not seen yet, until stopped (or [`WATCH_LIMIT`]).
#[derive(Debug)]
pub struct SbWatch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<HashMap<String, Instant>>,
}

/// Pause between two looks.
pub const LOOK_EVERY: Duration = Duration::from_millis(50);
/// Longest watch.
pub const WATCH_LIMIT: Duration = Duration::from_secs(600);
/// Limit of one look at one remote.
const LOOK_LIMIT: Duration = Duration::from_millis(500);

impl SbWatch {
    /// Starts watching; `remotes` are the SB client addresses (one VIP, or RAFT's members).
    pub fn start(remotes: Vec<SocketAddr>) -> SbWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut seen = HashMap::new();
            let mut newest: i64 = 0;
            let mut next = 0usize;
            let end = Instant::now() + WATCH_LIMIT;
            // Bounded: until stopped or WATCH_LIMIT.
            while !flag.load(Ordering::SeqCst) && Instant::now() < end {
                let at = Instant::now();
                for k in 0..remotes.len() {
                    let i = (next + k) % remotes.len();
                    if let Some(rows) = remotes.get(i).and_then(|a| look(*a, newest)) {
                        next = i;
                        for (name, key) in rows {
                            newest = newest.max(key);
                            seen.entry(name).or_insert(at);
                        }
                        break;
                    }
                }
                std::thread::sleep(LOOK_EVERY.saturating_sub(at.elapsed()));
            }
            seen
        });
        SbWatch { stop, handle }
    }

    /// Stops the watcher: when each datapath name was first seen.
    pub fn stop(self) -> HashMap<String, Instant> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

/// The datapaths with a tunnel key above `above`: (name, key).
fn look(addr: SocketAddr, above: i64) -> Option<Vec<(String, i64)>> {
    let op = json!({
        "op": "select",
        "table": "Datapath_Binding",
        // `>= above + 1`: a condition's value must itself be a valid key (1 and up).
        "where": [["tunnel_key", ">=", above + 1]],
        "columns": ["external_ids", "tunnel_key"],
    });
    let result = ovsdb_rpc::transact_tcp(addr, "OVN_Southbound", &[op], LOOK_LIMIT).ok()?;
    Some(datapaths(&result))
}

/// (name, tunnel key) of each row of a `select` result (pure).
pub fn datapaths(result: &Value) -> Vec<(String, i64)> {
    let rows = result[0]["rows"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .filter_map(|row| {
            let key = row["tunnel_key"].as_i64()?;
            let pairs = row["external_ids"][1].as_array()?;
            let name = pairs
                .iter()
                .find(|p| p[0] == "name")
                .and_then(|p| p[1].as_str())?;
            Some((name.to_string(), key))
        })
        .collect()
}

/// When, after `fault`, ovn-northd had translated a write acknowledged after the fault: the
/// earliest first sight in SB of a name in `acked_after` (pure).
pub fn first_translated(
    acked_after: &[&str],
    seen: &HashMap<String, Instant>,
    fault: Instant,
) -> Option<Duration> {
    acked_after
        .iter()
        .filter_map(|n| seen.get(*n))
        .filter(|at| **at >= fault)
        .map(|at| at.duration_since(fault))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_select() {
        let result = json!([{"rows": [
            {"tunnel_key": 3, "external_ids": ["map", [["logical-switch", "x"], ["name", "bench-3"]]]},
            {"tunnel_key": 4, "external_ids": ["map", []]},
            {"tunnel_key": 5, "external_ids": ["map", [["name", "bench-5"]]]},
        ]}]);
        assert_eq!(
            datapaths(&result),
            [("bench-3".to_string(), 3), ("bench-5".to_string(), 5)]
        );
        assert!(datapaths(&json!([{"error": "x"}])).is_empty());
    }

    #[test]
    fn first_translation_after_the_fault() {
        let fault = Instant::now();
        let at = |ms: u64| fault + Duration::from_millis(ms);
        let seen: HashMap<String, Instant> = [
            ("a".to_string(), at(2_500)),
            ("b".to_string(), at(2_100)),
            ("c".to_string(), at(9_000)),
        ]
        .into();
        assert_eq!(
            first_translated(&["a", "b", "zz"], &seen, fault),
            Some(Duration::from_millis(2_100))
        );
        assert_eq!(first_translated(&["zz"], &seen, fault), None);
    }
}
