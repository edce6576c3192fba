//! What each host of a running local cluster is doing, seen from the machine: its link, and
//! the NB and SB servers' roles asked over their unixctl sockets (reached through the
//! container's root, `/proc/<pid>/root/run/ovn/…`). Used by the fault suite and the benchmark
//! to check that two copies are never writable and reachable together, and that the cluster
//! converges.

use crate::cluster::{Site, running_hosts};
use ovsdb_unixctl::{Client, SyncStatus};
use std::process::Command;
use std::time::Duration;

/// Role of one database copy as sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Active,
    Replicating,
    /// A backup that is not replicating (connecting, failed, not connected).
    Lagging,
    /// No answer: server down, container gone, or socket unreachable.
    Down,
}

/// One host at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    pub host: String,
    pub link_up: bool,
    /// The host holds the VIP on an interface (clients reach the databases only there: the
    /// servers listen on the VIP alone).
    pub holds_vip: bool,
    pub nb: Copy,
    pub sb: Copy,
}

/// Root-side veth of a host (`P-hN` → `P-vN`).
pub fn root_veth(host: &str) -> String {
    match host.rsplit_once("-h") {
        Some((p, n)) => format!("{p}-v{n}"),
        None => host.to_string(),
    }
}

fn link_up(host: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{}/operstate", root_veth(host)))
        .is_ok_and(|s| s.trim() != "down")
}

/// The container's init pid (`runc state`).
pub fn container_pid(host: &str) -> Option<u32> {
    let out = Command::new("runc").args(["state", host]).output().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    if v["status"] != "running" {
        return None;
    }
    v["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
}

/// Classifies a sync-status answer.
pub fn classify(status: &SyncStatus) -> Copy {
    match status.databases.first() {
        Some(db) if db.is_active() => Copy::Active,
        Some(db) if db.is_replicating() => Copy::Replicating,
        Some(_) => Copy::Lagging,
        None => Copy::Down,
    }
}

/// The role of the copy behind control socket `ctl` (e.g. `ovnnb_db.ctl`) in the container of
/// `pid`, asked through its root.
pub fn ask(pid: u32, ctl: &str) -> Copy {
    let path = format!("/proc/{pid}/root/run/ovn/{ctl}");
    Client::connect(&path, Duration::from_millis(300))
        .and_then(|mut c| c.sync_status())
        .map_or(Copy::Down, |s| classify(&s))
}

/// Whether the host's network namespace has `vip` on an interface.
fn holds_vip(host: &str, vip: &str) -> bool {
    Command::new("ip")
        .args(["-n", host, "-o", "addr", "show"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(vip))
        })
}

/// Samples every host of the site.
pub fn sample(site: &Site) -> Vec<HostView> {
    let vip_cidr = site.vip_cidr();
    let vip = vip_cidr.split('/').next().unwrap_or_default();
    running_hosts(site)
        .into_iter()
        .map(|host| {
            let (nb, sb) = match container_pid(&host) {
                Some(pid) => (ask(pid, "ovnnb_db.ctl"), ask(pid, "ovnsb_db.ctl")),
                None => (Copy::Down, Copy::Down),
            };
            HostView {
                link_up: link_up(&host),
                holds_vip: holds_vip(&host, vip),
                host,
                nb,
                sb,
            }
        })
        .collect()
}

/// Hosts whose NB or SB copy is active while clients can reach it (link up, VIP held): more
/// than one is split brain.
pub fn writable_and_reachable(views: &[HostView]) -> Vec<&str> {
    views
        .iter()
        .filter(|v| v.link_up && v.holds_vip && (v.nb == Copy::Active || v.sb == Copy::Active))
        .map(|v| v.host.as_str())
        .collect()
}

/// One host active for both databases, every other replicating both.
pub fn converged(views: &[HostView], hosts: usize) -> bool {
    let active = views
        .iter()
        .filter(|v| v.nb == Copy::Active && v.sb == Copy::Active)
        .count();
    let replicating = views
        .iter()
        .filter(|v| v.nb == Copy::Replicating && v.sb == Copy::Replicating)
        .count();
    views.len() == hosts && active == 1 && replicating == hosts - 1
}

/// The host whose copies are active, if exactly one is.
pub fn active_host(views: &[HostView]) -> Option<&str> {
    let mut active = views.iter().filter(|v| v.nb == Copy::Active);
    match (active.next(), active.next()) {
        (Some(v), None) => Some(v.host.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(host: &str, link_up: bool, nb: Copy, sb: Copy) -> HostView {
        HostView {
            host: host.into(),
            link_up,
            holds_vip: nb == Copy::Active,
            nb,
            sb,
        }
    }

    #[test]
    fn split_brain_and_convergence() {
        let ok = [
            v("p-h1", true, Copy::Active, Copy::Active),
            v("p-h2", true, Copy::Replicating, Copy::Replicating),
            v("p-h3", true, Copy::Replicating, Copy::Replicating),
        ];
        assert!(converged(&ok, 3));
        assert_eq!(writable_and_reachable(&ok), ["p-h1"]);
        assert_eq!(active_host(&ok), Some("p-h1"));
        let cut = [
            v("p-h1", false, Copy::Active, Copy::Active),
            v("p-h2", true, Copy::Active, Copy::Active),
            v("p-h3", true, Copy::Replicating, Copy::Lagging),
        ];
        assert_eq!(writable_and_reachable(&cut), ["p-h2"]);
        let mut no_vip = ok.clone();
        no_vip[1].nb = Copy::Active;
        assert_eq!(
            writable_and_reachable(&no_vip),
            ["p-h1"],
            "an active copy without the VIP is unreachable"
        );
        no_vip[1].holds_vip = true;
        assert_eq!(writable_and_reachable(&no_vip), ["p-h1", "p-h2"]);
        assert!(!converged(&cut, 3));
        assert_eq!(active_host(&cut), None);
        assert_eq!(root_veth("ovnha-h3"), "ovnha-v3");
    }
}
