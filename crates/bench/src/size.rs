//! `cargo xtask bench failover --size production`: the failover bench at an ovn-kubernetes
//! cluster's database size. Before the fault each run loads the Northbound contents of
//! [`Scale::PRODUCTION`] through the stack's NB remote, lets the run's own ovn-northd derive
//! the Southbound database from them, then (our stack) kills a standby's SB server so it
//! resyncs everything from the active. After the fault's measurement it makes a CMS's start-up
//! bulk write at that size (one `ovn-nbctl` transaction of [`BULK_SWITCHES`] switches ×
//! [`BULK_PORTS`] ports: a client busy composing it for seconds must not be dropped by an
//! inactivity probe), and at the end reads every DB host's memory peak.
//! Every wait is bounded; the figures go into the run's result.

use anyhow::{Context, Result};
use ovn_ha_exec::{Exec, ExecError};
use ovn_ha_local::scale::{self, Scale};
use ovn_ha_local::{faults, observe, ovsdb_rpc};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The databases' size in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Size {
    /// Only what the run's clients write.
    #[default]
    Empty,
    /// 100 nodes × 50 pods, 1,000 services (`ovn_ha_local::scale`), SB derived by ovn-northd.
    Production,
    /// 1,000 nodes × 50 pods, 10,000 services.
    #[value(name = "production-10x")]
    Production10x,
}

impl Size {
    /// The contents to load, if any.
    pub fn scale(self) -> Option<Scale> {
        match self {
            Size::Empty => None,
            Size::Production => Some(Scale::PRODUCTION),
            Size::Production10x => Some(Scale::PRODUCTION_10X),
        }
    }

    /// Extra time the run's persistent clients must outlive the sizing before the fault.
    pub fn lead(self) -> Duration {
        match self.scale() {
            None => Duration::ZERO,
            Some(_) => LOAD_LIMIT + TRANSLATE_LIMIT + RESYNC_LIMIT,
        }
    }
}

const LOAD_LIMIT: Duration = Duration::from_secs(600);
const TRANSLATE_LIMIT: Duration = Duration::from_secs(900);
const RESYNC_LIMIT: Duration = Duration::from_secs(300);

/// What the sizing measured.
#[derive(Debug, Clone, Default)]
pub struct Sizing {
    /// Loading the NB contents.
    pub loaded: Option<Duration>,
    /// From the load's end until SB held a port binding of every NB port (ovn-northd's first
    /// full computation).
    pub translated: Option<Duration>,
    /// Logical flows in SB then (`None`: the count did not answer).
    pub logical_flows: Option<usize>,
    /// The active's SB database file after the translation, MiB.
    pub sb_file_mib: Option<u64>,
    /// A standby's SB server killed until it holds every port binding again (restart in
    /// place included).
    pub resync: Option<Duration>,
    /// The start-up bulk transaction: its time, or what failed and after how long.
    pub bulk: Option<Result<Duration, String>>,
}

/// Switches of the start-up bulk transaction (the case measured dropped 6 times of 6 with a
/// 5 s server-side probe: issue 17).
pub const BULK_SWITCHES: usize = 2_000;
/// Ports per switch of the bulk transaction.
pub const BULK_PORTS: usize = 5;
const BULK_LIMIT: Duration = Duration::from_secs(300);

/// The bulk transaction's `ovn-nbctl` arguments after the remote (pure).
fn bulk_args() -> Vec<String> {
    let mut args = Vec::with_capacity(BULK_SWITCHES * (3 + 4 * BULK_PORTS));
    for s in 0..BULK_SWITCHES {
        let name = format!("bulk-{s:04}");
        args.extend(["--".into(), "ls-add".into(), name.clone()]);
        for p in 0..BULK_PORTS {
            args.extend([
                "--".into(),
                "lsp-add".into(),
                name.clone(),
                format!("{name}-p{p}"),
            ]);
        }
    }
    args
}

/// Runs the start-up bulk transaction through `remote` (`ovn-nbctl --db`), bounded by
/// [`BULK_LIMIT`]: its time, or the failure with its time.
pub fn bulk_transaction(remote: &str) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut cmd = std::process::Command::new("ovn-nbctl");
    cmd.arg(format!("--db={remote}"))
        .arg(format!("--timeout={}", BULK_LIMIT.as_secs()))
        .args(bulk_args());
    let result = match Exec::new(&cmd)
        .limit(BULK_LIMIT + Duration::from_secs(10))
        .output()
    {
        Ok(_) => Ok(t0.elapsed()),
        Err(ExecError::TimedOut { .. }) => Err(format!(
            "no answer within {:.0} s",
            BULK_LIMIT.as_secs_f64()
        )),
        Err(ExecError::Failed { stderr, .. }) => Err(format!(
            "failed after {:.1} s: {}",
            t0.elapsed().as_secs_f64(),
            stderr.lines().last().unwrap_or("(no message)")
        )),
        Err(e) => Err(e.to_string()),
    };
    match &result {
        Ok(t) => eprintln!(
            "  size: bulk transaction of {BULK_SWITCHES} switches × {BULK_PORTS} ports: ok in {:.1} s",
            t.as_secs_f64()
        ),
        Err(e) => eprintln!(
            "  size: bulk transaction of {BULK_SWITCHES} switches × {BULK_PORTS} ports: {e}"
        ),
    }
    result
}

fn count_tcp(addr: SocketAddr, table: &str) -> Option<usize> {
    let op = json!({"op": "select", "table": table, "where": [], "columns": ["_uuid"]});
    let r = ovsdb_rpc::transact_tcp(addr, "OVN_Southbound", &[op], Duration::from_secs(30)).ok()?;
    Some(r[0]["rows"].as_array().map_or(0, Vec::len))
}

/// Loads `s` into NB through `nb`, then waits for ovn-northd (already running) to fill SB
/// through `sb`.
pub fn load_and_translate(s: Scale, nb: SocketAddr, sb: SocketAddr) -> Result<Sizing> {
    let loaded = scale::load(nb, &s, LOAD_LIMIT).with_context(|| {
        format!(
            "loading {} nodes × {} pods into NB",
            s.nodes, s.pods_per_node
        )
    })?;
    eprintln!(
        "  size: {} NB transactions ({} nodes × {} pods) in {:.1} s",
        loaded.transactions,
        s.nodes,
        s.pods_per_node,
        loaded.took.as_secs_f64()
    );
    let want = bindings(&s);
    let translated = crate::timing::poll(TRANSLATE_LIMIT, || {
        count_tcp(sb, "Port_Binding").is_some_and(|n| n >= want)
    });
    let flows = count_tcp(sb, "Logical_Flow");
    eprintln!(
        "  size: ovn-northd's SB ({want} port bindings, {} logical flows) complete {} s after the load",
        flows.map_or("?".into(), |n| n.to_string()),
        crate::timing::secs(translated)
    );
    Ok(Sizing {
        loaded: Some(loaded.took),
        translated,
        logical_flows: flows,
        sb_file_mib: None,
        resync: None,
        bulk: None,
    })
}

/// Port bindings ovn-northd makes of the scale's NB: every switch port and router port (pure).
pub fn bindings(s: &Scale) -> usize {
    s.nodes * (s.pods_per_node + 2) + s.nodes
}

/// Kills `standby`'s SB server (our crash watcher restarts it in place) and waits until it
/// holds every port binding of `s` again.
pub fn resync(s: Scale, standby: &str) -> Option<Duration> {
    let want = bindings(&s);
    if faults::kill9(standby, "ovsdb-server", "ovnsb_db") == 0 {
        eprintln!("  size: no SB server found on {standby}");
        return None;
    }
    let killed = Instant::now();
    let sock = |pid: u32| PathBuf::from(format!("/proc/{pid}/root/run/ovn/ovnsb_db.sock"));
    // Bounded: RESYNC_LIMIT of polls every 200 ms.
    while killed.elapsed() < RESYNC_LIMIT {
        let n = observe::container_pid(standby).and_then(|pid| {
            ovsdb_rpc::count_rows(
                &sock(pid),
                "OVN_Southbound",
                "Port_Binding",
                Duration::from_secs(30),
            )
            .ok()
        });
        if n.is_some_and(|n| n >= want) {
            let took = killed.elapsed();
            eprintln!(
                "  size: {standby}'s SB server killed; its full resync ({want} port bindings) complete {:.1} s later",
                took.as_secs_f64()
            );
            return Some(took);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("  size: {standby}'s SB copy never held all {want} port bindings again");
    None
}

/// The size of `host`'s SB database file in the local cluster under `state_dir`, MiB.
pub fn sb_file_mib(state_dir: &std::path::Path, host: &str) -> Option<u64> {
    let file = state_dir
        .join("hosts")
        .join(host)
        .join("node/var/lib/ovn/ovnsb_db.db");
    Some(std::fs::metadata(file).ok()?.len() / (1024 * 1024))
}

/// The largest, over `hosts`, of the sum of every process's peak resident size, in MiB.
pub fn memory_peak_mib(hosts: &[String]) -> Option<u64> {
    hosts
        .iter()
        .map(|h| faults::memory_peak_kib(h, "") / 1024)
        .max()
}

/// Processes the OOM killer ended in `hosts`' pods since their containers started, under the
/// rendered memory limit, and the largest pod cgroup peak in MiB; `None` when no pod's cgroup
/// could be read.
pub fn pod_memory(hosts: &[String]) -> (Option<u64>, Option<u64>) {
    let pods: Vec<_> = hosts
        .iter()
        .filter_map(|h| ovn_ha_local::pod_memory::of_host(h))
        .collect();
    (
        pods.iter().map(|m| m.oom_kills).reduce(|a, b| a + b),
        pods.iter().filter_map(|m| m.peak).max().map(|b| b >> 20),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_transaction_adds_every_switch_and_port_in_one_call() {
        let a = super::bulk_args();
        let ls = a.iter().filter(|x| *x == "ls-add").count();
        let lsp = a.iter().filter(|x| *x == "lsp-add").count();
        assert_eq!((ls, lsp), (BULK_SWITCHES, BULK_SWITCHES * BULK_PORTS));
        assert_eq!(&a[..3], ["--", "ls-add", "bulk-0000"]);
    }

    #[test]
    fn bindings_count_every_switch_and_router_port() {
        let s = Scale::TINY;
        assert_eq!(bindings(&s), 3 * (4 + 2) + 3);
        assert_eq!(Size::default(), Size::Empty);
        assert_eq!(Size::Empty.lead(), Duration::ZERO);
        assert_eq!(Size::Production10x.scale().map(|s| s.pods()), Some(50_000));
    }
}
