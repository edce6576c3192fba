//! The lagging-copy promotion gate — the pure part: a standby the active marked lagging keeps
//! its own promotion gate closed while a caught-up peer is there to be promoted instead.
//!
//! The active publishes every standby's caught-up mark (`replica_lag`) as a transient node
//! attribute, and the CIB gives marked copies +200 for the Promoted role. Pacemaker erases a
//! node's transient attributes when it leaves the membership, so when the survivors'
//! membership flaps right after the active's loss (a slow link delaying corosync), the marks
//! can be gone at the moment the scheduler picks a copy, and a lagging one can win on health
//! alone (measured: 18–28 acknowledged writes per writer lost in 2 of 6 runs). A node's own
//! promotion score is held by its own attribute daemon and comes back after a flap, so the
//! lagging copy makes *that* score −INFINITY ahead of time: every entrypoint remembers the last
//! marks it saw (a flap cannot erase memory), and [`Memory::decide`] closes this copy's gate
//! (the agent then reports −INFINITY) while
//! - this copy is not promoted,
//! - its last known mark is "lagging", and
//! - some other node, not the last one seen promoted (the active whose loss is being handled),
//!   was last marked caught up and was online within [`ONLINE_HOLD`] (a flapping peer counts).
//!
//! Liveness: once no copy has been promoted for [`NO_ACTIVE_LIMIT`], the gate opens whatever the
//! marks (a caught-up peer that cannot be promoted must not keep the databases down).

use crate::cold_start::Verdict;
use crate::crm_mon::ClusterStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How long a peer still counts as present after it was last seen online.
pub const ONLINE_HOLD: Duration = Duration::from_secs(10);
/// How long without a promoted copy before the gate opens regardless.
pub const NO_ACTIVE_LIMIT: Duration = Duration::from_secs(15);

/// What this entrypoint has seen of the cluster, kept across looks.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Last caught-up mark seen per node (true: caught up).
    marks: BTreeMap<String, bool>,
    /// When each node was last seen online.
    online_at: BTreeMap<String, Instant>,
    /// The nodes last seen promoted (kept while none is).
    last_promoted: BTreeSet<String>,
    /// Since when no copy has been promoted (`None` while one is).
    no_active_since: Option<Instant>,
}

/// One look: the marks present now, the nodes online now, the promoted nodes now.
#[derive(Debug, Clone)]
pub struct Look<'a> {
    pub marks: &'a BTreeMap<String, bool>,
    pub online: &'a [&'a str],
    pub promoted: &'a [String],
}

impl Memory {
    /// Folds one look in: present marks overwrite the remembered ones, absent ones are kept.
    pub fn observe(&mut self, now: Instant, look: &Look<'_>) {
        for (node, mark) in look.marks {
            self.marks.insert(node.clone(), *mark);
        }
        for node in look.online {
            self.online_at.insert((*node).to_string(), now);
        }
        if look.promoted.is_empty() {
            self.no_active_since.get_or_insert(now);
        } else {
            self.no_active_since = None;
            self.last_promoted = look.promoted.iter().cloned().collect();
        }
    }

    /// The gate of this copy (`me`) now; see the module's rules.
    pub fn decide(&self, me: &str, now: Instant) -> Verdict {
        if self.no_active_since.is_none() && self.last_promoted.contains(me) {
            return Verdict::Open("this copy is promoted".into());
        }
        if self.marks.get(me) != Some(&false) {
            return Verdict::Open("this copy is not marked lagging".into());
        }
        if let Some(since) = self.no_active_since
            && now.saturating_duration_since(since) >= NO_ACTIVE_LIMIT
        {
            return Verdict::Open(format!(
                "no copy promoted for {NO_ACTIVE_LIMIT:?}: opening although this copy lags"
            ));
        }
        let ahead: Vec<&str> = self
            .marks
            .iter()
            .filter(|(node, caught_up)| {
                **caught_up
                    && node.as_str() != me
                    && !self.last_promoted.contains(node.as_str())
                    && self
                        .online_at
                        .get(node.as_str())
                        .is_some_and(|t| now.saturating_duration_since(*t) <= ONLINE_HOLD)
            })
            .map(|(node, _)| node.as_str())
            .collect();
        if ahead.is_empty() {
            Verdict::Open("this copy lags, but no caught-up peer is there".into())
        } else {
            Verdict::Closed(format!(
                "this copy lags; caught-up {} should be promoted first",
                ahead.join(", ")
            ))
        }
    }
}

/// Pacemaker's −INFINITY: a promotion score at or below it can never be promoted.
pub const MINUS_INFINITY: i64 = -1_000_000;

/// The active's side of the gate (pure on one `crm_mon` look from the active): why the copy
/// on `node` cannot be promoted now, or `None` if it still could be (or this partition has no
/// quorum, so nothing can be judged). Unpromotable: offline here or in standby, its promotion score
/// −INFINITY (its gate closed), or no score at all while it is not marked caught up (stopped,
/// or not yet scored; the caught-up mark alone earns a Promoted-role bonus). The semi-sync
/// proxy holds what a replica that stopped confirming would lack until this says so.
pub fn unpromotable(status: &ClusterStatus, node: &str) -> Option<String> {
    unpromotable_among(status, None, node)
}

/// [`unpromotable`], knowing corosync's membership when `members` is given. Without fencing,
/// `crm_mon` shows a node as offline while its controller is still joining the DC (after a
/// membership change every node joins again), so "offline" alone could release replies a
/// node about to be promoted lacks. A node `crm_mon` shows offline but corosync counts as a
/// member is judged only by its standby flag; otherwise it could still be promoted.
pub fn unpromotable_among(
    status: &ClusterStatus,
    members: Option<&BTreeSet<String>>,
    node: &str,
) -> Option<String> {
    if !status.quorum {
        return None;
    }
    let joining = members.is_some_and(|m| m.contains(node));
    match status.nodes.iter().find(|n| n.name == node) {
        Some(n) if !n.online && joining => {
            return n.standby.then(|| "is in standby".into());
        }
        Some(n) if !n.online => return Some("is offline".into()),
        Some(n) if n.standby => return Some("is in standby".into()),
        Some(_) => {}
        None if joining => return None,
        None => return Some("is offline".into()),
    }
    match status.promotion_scores.get(node) {
        Some(s) if *s <= MINUS_INFINITY => Some("has its promotion gate closed".into()),
        Some(_) => None,
        None if status.caught_up.get(node) != Some(&true) => {
            Some("has no promotion score and is not marked caught up".into())
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs.iter().map(|(n, m)| (n.to_string(), *m)).collect()
    }

    fn node(name: &str, online: bool, standby: bool) -> crate::crm_mon::NodeStatus {
        crate::crm_mon::NodeStatus {
            name: name.into(),
            online,
            standby,
            is_dc: false,
            unclean: false,
        }
    }

    fn closed(v: &Verdict) -> bool {
        matches!(v, Verdict::Closed(_))
    }

    /// The normal case before the fault: h1 active, h2 caught up, h3 lagging.
    fn before(t0: Instant) -> Memory {
        let mut m = Memory::default();
        m.observe(
            t0,
            &Look {
                marks: &marks(&[("h1", true), ("h2", true), ("h3", false)]),
                online: &["h1", "h2", "h3"],
                promoted: &["h1".to_string()],
            },
        );
        m
    }

    #[test]
    fn a_lagging_standby_is_closed_while_a_caught_up_peer_is_there() {
        let t0 = Instant::now();
        let m = before(t0);
        assert!(closed(&m.decide("h3", t0)));
        assert!(!closed(&m.decide("h2", t0)));
        assert!(!closed(&m.decide("h1", t0)), "the active is never closed");
    }

    #[test]
    fn a_flap_erasing_the_marks_changes_nothing() {
        let t0 = Instant::now();
        let mut m = before(t0);
        // The active is gone; h2 left and came back: no marks, no promoted copy.
        let t1 = t0 + Duration::from_secs(2);
        m.observe(
            t1,
            &Look {
                marks: &BTreeMap::new(),
                online: &["h3"],
                promoted: &[],
            },
        );
        assert!(
            closed(&m.decide("h3", t1)),
            "h2 still counts while it flaps"
        );
        assert!(!closed(&m.decide("h2", t1)));
    }

    #[test]
    fn the_old_active_does_not_count_as_a_caught_up_peer() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        // Both standbys lagging; the active (marked caught up itself) is lost.
        m.observe(
            t0,
            &Look {
                marks: &marks(&[("h1", true), ("h2", false), ("h3", false)]),
                online: &["h1", "h2", "h3"],
                promoted: &["h1".to_string()],
            },
        );
        let t1 = t0 + Duration::from_secs(1);
        m.observe(
            t1,
            &Look {
                marks: &BTreeMap::new(),
                online: &["h2", "h3"],
                promoted: &[],
            },
        );
        assert!(!closed(&m.decide("h2", t1)));
        assert!(!closed(&m.decide("h3", t1)));
    }

    #[test]
    fn a_peer_gone_for_longer_than_the_hold_no_longer_counts() {
        let t0 = Instant::now();
        let mut m = before(t0);
        let t1 = t0 + ONLINE_HOLD + Duration::from_secs(1);
        m.observe(
            t1,
            &Look {
                marks: &BTreeMap::new(),
                online: &["h3"],
                promoted: &["h1".to_string()],
            },
        );
        assert!(!closed(&m.decide("h3", t1)));
    }

    #[test]
    fn without_any_promoted_copy_for_the_limit_the_gate_opens() {
        let t0 = Instant::now();
        let mut m = before(t0);
        let look = Look {
            marks: &BTreeMap::new(),
            online: &["h2", "h3"],
            promoted: &[],
        };
        m.observe(t0 + Duration::from_secs(1), &look);
        let t2 = t0 + Duration::from_secs(1) + NO_ACTIVE_LIMIT;
        m.observe(t2, &look);
        assert!(!closed(&m.decide("h3", t2)));
        assert!(closed(&m.decide(
            "h3",
            t0 + Duration::from_secs(1) + NO_ACTIVE_LIMIT / 2
        )));
    }

    #[test]
    fn a_mark_turning_caught_up_opens_and_unknown_marks_stay_open() {
        let t0 = Instant::now();
        let mut m = before(t0);
        m.observe(
            t0,
            &Look {
                marks: &marks(&[("h3", true)]),
                online: &["h1", "h2", "h3"],
                promoted: &["h1".to_string()],
            },
        );
        assert!(!closed(&m.decide("h3", t0)));
        assert!(!closed(&Memory::default().decide("h3", t0)));
    }

    #[test]
    fn after_a_new_promotion_the_new_active_and_its_marks_count() {
        let t0 = Instant::now();
        let mut m = before(t0);
        // h2 promoted; it marks h3 caught up once h3 resynced, and h1 (back) lagging.
        m.observe(
            t0 + Duration::from_secs(5),
            &Look {
                marks: &marks(&[("h1", false), ("h2", true), ("h3", true)]),
                online: &["h1", "h2", "h3"],
                promoted: &["h2".to_string()],
            },
        );
        let t = t0 + Duration::from_secs(5);
        assert!(!closed(&m.decide("h2", t)));
        assert!(!closed(&m.decide("h3", t)));
        assert!(
            closed(&m.decide("h1", t)),
            "h3 is caught up and not the active"
        );
    }

    #[test]
    fn the_active_sees_when_a_replica_cannot_be_promoted() {
        // (quorum, h2 online, h2 in standby, h2 score, h2 mark, unpromotable)
        type Row = (bool, bool, bool, Option<i64>, Option<bool>, bool);
        let table: &[Row] = &[
            (true, true, false, Some(100), Some(false), false),
            (true, true, false, Some(100), None, false),
            (true, true, false, Some(MINUS_INFINITY), Some(true), true),
            (true, true, false, Some(-2_000_000), None, true),
            (true, false, false, Some(100), Some(true), true),
            (true, true, false, None, Some(false), true),
            (true, true, false, None, None, true),
            (true, true, false, None, Some(true), false),
            // A node in standby runs no copy (the old active at a handover's end).
            (true, true, true, Some(100), Some(true), true),
            (
                false,
                false,
                false,
                Some(MINUS_INFINITY),
                Some(false),
                false,
            ),
        ];
        for (quorum, online, standby, score, mark, want) in table {
            let mut st = ClusterStatus {
                quorum: *quorum,
                nodes: vec![node("h1", true, false), node("h2", *online, *standby)],
                ..ClusterStatus::default()
            };
            if let Some(s) = score {
                st.promotion_scores.insert("h2".into(), *s);
            }
            if let Some(m) = mark {
                st.caught_up.insert("h2".into(), *m);
            }
            assert_eq!(
                unpromotable(&st, "h2").is_some(),
                *want,
                "{quorum} {online} {standby} {score:?} {mark:?}"
            );
        }
    }

    /// Without fencing, crm_mon shows a node offline while it joins the DC again after a
    /// membership change; corosync's membership tells the two apart.
    #[test]
    fn a_node_offline_in_crm_mon_but_in_corosync_membership_is_still_promotable() {
        let set =
            |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
        // (case, h2 listed (online, standby), corosync members, unpromotable)
        type Row = (
            &'static str,
            Option<(bool, bool)>,
            Option<BTreeSet<String>>,
            bool,
        );
        let table: Vec<Row> = vec![
            (
                "offline, membership unknown",
                Some((false, false)),
                None,
                true,
            ),
            (
                "offline, not a member",
                Some((false, false)),
                Some(set(&["h1"])),
                true,
            ),
            (
                "offline, still a member: joining",
                Some((false, false)),
                Some(set(&["h1", "h2"])),
                false,
            ),
            (
                "joining in standby",
                Some((false, true)),
                Some(set(&["h1", "h2"])),
                true,
            ),
            (
                "not listed, a member",
                None,
                Some(set(&["h1", "h2"])),
                false,
            ),
            ("not listed, no member", None, Some(set(&["h1"])), true),
        ];
        for (case, h2, members, want) in table {
            let mut nodes = vec![node("h1", true, false)];
            if let Some((online, standby)) = h2 {
                nodes.push(node("h2", online, standby));
            }
            let mut st = ClusterStatus {
                quorum: true,
                nodes,
                ..ClusterStatus::default()
            };
            // The joining node's transient attributes may be gone meanwhile.
            st.promotion_scores.remove("h2");
            assert_eq!(
                unpromotable_among(&st, members.as_ref(), "h2").is_some(),
                want,
                "{case}"
            );
        }
    }
}
