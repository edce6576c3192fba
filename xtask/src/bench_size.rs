//! `cargo xtask bench failover --size production`: the failover bench at an ovn-kubernetes
//! cluster's database size. Before the fault each run loads the Northbound contents of
//! [`Scale::PRODUCTION`] through the stack's NB remote, lets the run's own ovn-northd derive
//! the Southbound database from them, then (our stack) kills a standby's SB server so it
//! resyncs everything from the active, and at the end reads every DB host's memory peak.
//! Every wait is bounded; the figures go into the run's result.

use anyhow::{Context, Result};
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
    pub logical_flows: usize,
    /// A standby's SB server killed until it holds every port binding again (restart in
    /// place included).
    pub resync: Option<Duration>,
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
    let translated = crate::bench_failover::poll(TRANSLATE_LIMIT, || {
        count_tcp(sb, "Port_Binding").is_some_and(|n| n >= want)
    });
    let flows = count_tcp(sb, "Logical_Flow").unwrap_or(0);
    eprintln!(
        "  size: ovn-northd's SB ({want} port bindings, {flows} logical flows) complete {} s after the load",
        crate::bench_failover::secs(translated)
    );
    Ok(Sizing {
        loaded: Some(loaded.took),
        translated,
        logical_flows: flows,
        resync: None,
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

/// The largest, over `hosts`, of the sum of every process's peak resident size, in MiB.
pub fn memory_peak_mib(hosts: &[String]) -> Option<u64> {
    hosts
        .iter()
        .map(|h| faults::memory_peak_kib(h, "") / 1024)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_count_every_switch_and_router_port() {
        let s = Scale::TINY;
        assert_eq!(bindings(&s), 3 * (4 + 2) + 3);
        assert_eq!(Size::default(), Size::Empty);
        assert_eq!(Size::Empty.lead(), Duration::ZERO);
        assert_eq!(Size::Production10x.scale().map(|s| s.pods()), Some(50_000));
    }
}
