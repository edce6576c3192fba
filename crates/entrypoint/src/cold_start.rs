//! Which copy may be promoted at a cold start — the pure part of "the newest file wins".
//!
//! While a copy is active its replicas' positions are measured exactly (`replica_lag`), but
//! when the whole cluster starts from its files there is no active and nothing to measure: any
//! copy could be promoted, and the others would then resync from it, overwriting newer files.
//! So every entrypoint reads its own copy's data position before it starts anything — the
//! time its database files were last written, which on a backup is when it last applied a
//! replicated transaction and on the active when it last committed one — closes its promotion
//! gate (the agent's `promotion_gate`: a closed gate makes the copy's promotion score
//! −INFINITY), publishes the position as the transient node attribute [`ATTRIBUTE`], and opens
//! the gate only when [`decide`] says so:
//! - as soon as any copy is promoted (this is not a cold start: the cluster is running, and
//!   this copy must stay a candidate for the next failover);
//! - once the positions of every configured node are known (or, after [`COMPARE_WAIT`], of a
//!   quorum of them) and no known copy is newer than this one;
//! - after [`STUCK_LIMIT`] without any promotion, whatever the positions (a newest copy that
//!   cannot be promoted must not keep the cluster down for good; logged as such).
//!
//! Positions are wall-clock times from different hosts: the comparison assumes the nodes'
//! clocks agree (NTP, as Kubernetes needs anyway) to better than the time between the last
//! writes of the copies compared.

use ovn_ha_contract::Db;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The gate file the entrypoint writes (`closed` / `open`) and the agent reads (its
/// `promotion_gate` parameter); on the pod's `/run` tmpfs, written before Pacemaker starts.
pub const GATE_FILE: &str = "/run/ovnkube-db-ha/promotion-gate";
/// The database files whose modification time is the position (the agent's defaults).
pub const DB_FILES: [&str; 2] = [Db::Nb.default_file(), Db::Sb.default_file()];
/// Node attribute: this copy's data position, milliseconds since the Unix epoch (0: no file).
pub const ATTRIBUTE: &str = "ovndb-ha-position";
/// How long to wait for the positions of every configured node before settling for a quorum.
pub const COMPARE_WAIT: Duration = Duration::from_secs(20);
/// How long without any promoted copy before the gate opens regardless of positions.
pub const STUCK_LIMIT: Duration = Duration::from_secs(120);

/// A copy's data position from its database files' modification times (pure): the newest of
/// them in milliseconds since the epoch, 0 when there is none.
pub fn position(modified: &[Option<SystemTime>]) -> u64 {
    modified
        .iter()
        .flatten()
        .filter_map(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .max()
        .unwrap_or(0)
}

/// What the gate should be, and why (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Open for good: this copy may be promoted.
    Open(String),
    /// Stay closed for now.
    Closed(String),
}

/// What one look at the cluster shows.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    /// This node's name.
    pub me: &'a str,
    /// This copy's position.
    pub mine: u64,
    /// Nodes the cluster is configured for (the Deployment's replicas).
    pub configured: usize,
    /// Published positions of the nodes online in this partition (this one's included or not).
    pub positions: BTreeMap<String, u64>,
    /// Nodes running a promoted copy.
    pub promoted: Vec<String>,
    /// Whether this partition has quorum.
    pub quorum: bool,
    /// Time since this node first saw quorum.
    pub since_quorum: Duration,
}

/// The decision (pure); see the module's rules.
pub fn decide(s: &Seen<'_>) -> Verdict {
    if let Some(node) = s.promoted.first() {
        return Verdict::Open(format!("{node} holds the promoted copy: not a cold start"));
    }
    if !s.quorum {
        return Verdict::Closed("waiting for quorum".into());
    }
    let mut known = s.positions.clone();
    known.insert(s.me.to_string(), s.mine);
    let majority = s.configured / 2 + 1;
    if known.len() < s.configured && s.since_quorum < COMPARE_WAIT {
        return Verdict::Closed(format!(
            "waiting for the positions of {} more node(s) (up to {COMPARE_WAIT:?})",
            s.configured - known.len()
        ));
    }
    if known.len() < majority {
        return Verdict::Closed(format!(
            "positions of {} node(s) known, a quorum is {majority}",
            known.len()
        ));
    }
    let newer: Vec<&str> = known
        .iter()
        .filter(|(_, p)| **p > s.mine)
        .map(|(n, _)| n.as_str())
        .collect();
    if newer.is_empty() {
        return Verdict::Open(format!(
            "this copy is the newest of {} compared (position {})",
            known.len(),
            s.mine
        ));
    }
    if s.since_quorum >= STUCK_LIMIT {
        return Verdict::Open(format!(
            "no copy promoted {STUCK_LIMIT:?} after quorum although {} is newer: opening anyway",
            newer.join(", ")
        ));
    }
    Verdict::Closed(format!("{} holds a newer copy", newer.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    }

    #[test]
    fn position_is_the_newest_file() {
        assert_eq!(position(&[]), 0);
        assert_eq!(position(&[None, None]), 0);
        assert_eq!(position(&[at(5), None]), 5);
        assert_eq!(position(&[at(5), at(9)]), 9);
        assert_eq!(position(&[at(9), at(5)]), 9);
    }

    fn seen(
        mine: u64,
        others: &[(&str, u64)],
        promoted: &[&str],
        quorum: bool,
        since: u64,
    ) -> Seen<'static> {
        Seen {
            me: "a",
            mine,
            configured: 3,
            positions: others.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            promoted: promoted.iter().map(|n| n.to_string()).collect(),
            quorum,
            since_quorum: Duration::from_secs(since),
        }
    }

    #[test]
    fn decisions() {
        let open = |v: &Verdict| matches!(v, Verdict::Open(_));
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, Seen<'_>, bool)] = &[
            (
                "a promoted copy elsewhere",
                seen(1, &[("b", 9)], &["b"], true, 0),
                true,
            ),
            (
                "promoted even without quorum here",
                seen(1, &[], &["b"], false, 0),
                true,
            ),
            (
                "no quorum",
                seen(9, &[("b", 1), ("c", 1)], &[], false, 0),
                false,
            ),
            (
                "all three known, newest",
                seen(9, &[("b", 5), ("c", 9)], &[], true, 0),
                true,
            ),
            (
                "all three known, older",
                seen(5, &[("b", 9), ("c", 1)], &[], true, 0),
                false,
            ),
            (
                "own published too",
                seen(9, &[("a", 9), ("b", 5), ("c", 1)], &[], true, 0),
                true,
            ),
            (
                "two of three, early",
                seen(9, &[("b", 5)], &[], true, 5),
                false,
            ),
            (
                "two of three, after the wait",
                seen(9, &[("b", 5)], &[], true, 20),
                true,
            ),
            (
                "two of three, after the wait, older",
                seen(5, &[("b", 9)], &[], true, 20),
                false,
            ),
            ("alone after the wait", seen(9, &[], &[], true, 60), false),
            (
                "fresh cluster: nobody has files",
                seen(0, &[("b", 0), ("c", 0)], &[], true, 0),
                true,
            ),
            (
                "older, but stuck too long",
                seen(5, &[("b", 9), ("c", 1)], &[], true, 120),
                true,
            ),
        ];
        for (what, s, want) in cases {
            let v = decide(s);
            assert_eq!(open(&v), *want, "{what}: {v:?}");
        }
    }
}
