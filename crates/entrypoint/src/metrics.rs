//! The DB pod's Prometheus metrics — what one scrape reports (pure), and the events the
//! entrypoint's threads count for it.
//!
//! A scrape reads two things at that moment: the cluster as this node's `crm_mon` shows it
//! (quorum, the nodes online, which copy is promoted, where the VIP runs, each node's promotion
//! score, caught-up mark and published data position) and the sync state of this node's own NB
//! and SB copies (their unixctl sockets). To those it adds what happened since the entrypoint
//! started, counted by its threads in [`EVENTS`]: restarts in place of a crashed active server,
//! closes of the replication fence, and failovers as this node's supervisor saw them, with the
//! last one's duration ([`FailoverClock`]). [`render`] turns a [`Snapshot`] into Prometheus'
//! text format (0.0.4) with `prometheus-client`; `cmd/metrics_http.rs` serves it.
//!
//! Every metric is named `ovn_db_ha_…`; cluster-wide ones carry a `node` label, so each pod
//! reports the cluster as its own partition sees it (two partitions disagree visibly).

use crate::crm_mon::ClusterStatus;
use crate::sync_state::SyncState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Events counted since the entrypoint started.
#[derive(Debug)]
pub struct Events {
    restarts_in_place: AtomicU64,
    fence_closes: AtomicU64,
    failovers: AtomicU64,
    /// Milliseconds of the last failover; `u64::MAX` while there was none.
    last_failover_ms: AtomicU64,
}

/// The process's event counts.
pub static EVENTS: Events = Events {
    restarts_in_place: AtomicU64::new(0),
    fence_closes: AtomicU64::new(0),
    failovers: AtomicU64::new(0),
    last_failover_ms: AtomicU64::new(u64::MAX),
};

/// The counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub restarts_in_place: u64,
    pub fence_closes: u64,
    pub failovers: u64,
    pub last_failover: Option<Duration>,
}

impl Events {
    /// The crash watcher started the active's dead server again in place.
    pub fn restarted_in_place(&self) {
        self.restarts_in_place.fetch_add(1, Ordering::Relaxed);
    }

    /// The replication fence stopped a database taking writes.
    pub fn fence_closed(&self) {
        self.fence_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// Another copy became the promoted one, `took` after the old one was last seen.
    pub fn failover(&self, took: Duration) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX - 1);
        self.last_failover_ms.store(ms, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn counts(&self) -> EventCounts {
        let ms = self.last_failover_ms.load(Ordering::Relaxed);
        EventCounts {
            restarts_in_place: self.restarts_in_place.load(Ordering::Relaxed),
            fence_closes: self.fence_closes.load(Ordering::Relaxed),
            failovers: self.failovers.load(Ordering::Relaxed),
            last_failover: (ms != u64::MAX).then(|| Duration::from_millis(ms)),
        }
    }
}

/// Failovers as a series of looks at the cluster show them (pure): the promoted copy moved from
/// one node to another. Its duration runs from the last look that saw the old copy promoted to
/// the first that sees the new one, so it overstates the outage by up to one look's interval
/// (the supervisor looks about once a second). A look with no or several promoted copies
/// changes nothing; the first copy ever seen (cold start) is no failover.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FailoverClock {
    /// The node last seen promoted, and when.
    last: Option<(String, Instant)>,
}

impl FailoverClock {
    /// One look: the nodes running the promoted copy now. Returns a failover's duration when
    /// this look shows one.
    pub fn look(&mut self, promoted: &[String], now: Instant) -> Option<Duration> {
        let [one] = promoted else {
            return None;
        };
        match &mut self.last {
            Some((node, seen)) if node == one => {
                *seen = now;
                None
            }
            Some((_, seen)) => {
                let took = now.saturating_duration_since(*seen);
                self.last = Some((one.clone(), now));
                Some(took)
            }
            None => {
                self.last = Some((one.clone(), now));
                None
            }
        }
    }
}

/// Everything one scrape reports.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// The cluster as `crm_mon` showed it; `None` when it could not be read.
    pub cluster: Option<&'a ClusterStatus>,
    /// This node's copies: (`nb` or `sb`, their sync state).
    pub copies: &'a [(&'static str, SyncState)],
    pub events: EventCounts,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CopyState {
    database: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

/// The states a copy's `state` label takes, each reported (1 for the current one).
const STATES: [&str; 4] = ["active", "replicating", "backup", "unknown"];

fn state_name(s: &SyncState) -> &'static str {
    match s {
        SyncState::Active => "active",
        SyncState::Replicating { .. } => "replicating",
        SyncState::Backup { .. } => "backup",
        SyncState::Unknown { .. } => "unknown",
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn per_node<'a>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (&'a String, i64)>,
) {
    let family = Family::<NodeLabel, Gauge>::default();
    for (node, v) in values {
        family
            .get_or_create(&NodeLabel { node: node.clone() })
            .set(v);
    }
    registry.register(name, help, family);
}

fn cluster_metrics(registry: &mut Registry, c: &ClusterStatus) {
    gauge(
        registry,
        "ovn_db_ha_cluster_quorate",
        "Whether this node's partition has quorum (1) or not (0)",
        i64::from(c.quorum),
    );
    let online = c.nodes.iter().filter(|n| n.online).count();
    gauge(
        registry,
        "ovn_db_ha_cluster_nodes_online",
        "Cluster members online in this node's partition",
        i64::try_from(online).unwrap_or(i64::MAX),
    );
    per_node(
        registry,
        "ovn_db_ha_node_online",
        "Whether the node is an online cluster member",
        c.nodes.iter().map(|n| (&n.name, i64::from(n.online))),
    );
    per_node(
        registry,
        "ovn_db_ha_node_promoted",
        "Whether the node runs the promoted (active) copy",
        c.nodes
            .iter()
            .map(|n| (&n.name, i64::from(c.promoted.contains(&n.name)))),
    );
    per_node(
        registry,
        "ovn_db_ha_node_vip",
        "Whether the node holds the VIP",
        c.nodes
            .iter()
            .map(|n| (&n.name, i64::from(c.vip.contains(&n.name)))),
    );
    per_node(
        registry,
        "ovn_db_ha_node_promotion_score",
        "The node's promotion score (the agent's master-<resource> attribute)",
        c.promotion_scores.iter().map(|(n, s)| (n, *s)),
    );
    per_node(
        registry,
        "ovn_db_ha_node_caught_up",
        "Whether the active last saw the node's copy caught up (replication lag under its limit)",
        c.caught_up.iter().map(|(n, up)| (n, i64::from(*up))),
    );
    per_node(
        registry,
        "ovn_db_ha_node_data_position",
        "The data position the node's copy published for cold-start comparison",
        c.positions
            .iter()
            .map(|(n, p)| (n, i64::try_from(*p).unwrap_or(i64::MAX))),
    );
}

/// The scrape's text, in Prometheus' text format 0.0.4.
pub fn render(s: &Snapshot<'_>) -> String {
    let mut registry = Registry::default();
    let copies = Family::<CopyState, Gauge>::default();
    for (db, state) in s.copies {
        let now = state_name(state);
        for name in STATES {
            copies
                .get_or_create(&CopyState {
                    database: (*db).to_string(),
                    state: name.to_string(),
                })
                .set(i64::from(name == now));
        }
    }
    registry.register(
        "ovn_db_ha_database_state",
        "This node's copy of each database: 1 for its state (active, replicating, backup, unknown)",
        copies,
    );
    gauge(
        &mut registry,
        "ovn_db_ha_cluster_status_readable",
        "Whether crm_mon answered this scrape (the cluster metrics are missing when it did not)",
        i64::from(s.cluster.is_some()),
    );
    if let Some(c) = s.cluster {
        cluster_metrics(&mut registry, c);
    }
    counter(
        &mut registry,
        "ovn_db_ha_restarts_in_place",
        "Crashed active servers this node started again in place",
        s.events.restarts_in_place,
    );
    counter(
        &mut registry,
        "ovn_db_ha_fence_closes",
        "Times the replication fence stopped a database on this node taking writes",
        s.events.fence_closes,
    );
    counter(
        &mut registry,
        "ovn_db_ha_failovers",
        "Moves of the promoted copy to another node, as this node's supervisor saw them",
        s.events.failovers,
    );
    if let Some(took) = s.events.last_failover {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(took.as_secs_f64());
        registry.register(
            "ovn_db_ha_last_failover_seconds",
            "The last failover this node saw: from the last look at the old promoted copy to the first at the new one (about 1 s resolution)",
            g,
        );
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm_mon::NodeStatus;

    #[test]
    fn a_failover_is_a_move_of_the_promoted_copy_timed_between_looks() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let one = |n: &str| vec![n.to_string()];
        let mut c = FailoverClock::default();
        // (promoted at this look, ms, failover reported)
        let looks: &[(Vec<String>, u64, Option<u64>)] = &[
            (vec![], 0, None),
            (one("a"), 1_000, None),
            (one("a"), 2_000, None),
            (vec![], 3_000, None),
            (vec!["a".into(), "b".into()], 4_000, None),
            (one("b"), 5_000, Some(3_000)),
            (one("b"), 6_000, None),
            (one("c"), 7_000, Some(1_000)),
            (vec![], 8_000, None),
            (one("c"), 9_000, None),
        ];
        for (promoted, ms, want) in looks {
            let got = c.look(promoted, at(*ms)).map(|d| d.as_millis() as u64);
            assert_eq!(got, *want, "look at {ms} ms: {promoted:?}");
        }
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let node = |name: &str, online| NodeStatus {
            name: name.into(),
            online,
            standby: false,
            is_dc: false,
            unclean: false,
        };
        let cluster = ClusterStatus {
            quorum: true,
            nodes: vec![node("a", true), node("b", true), node("c", false)],
            promoted: vec!["a".into()],
            vip: vec!["a".into()],
            promotion_scores: [("a".to_string(), 10), ("b".to_string(), 5)].into(),
            caught_up: [("b".to_string(), true)].into(),
            positions: [("a".to_string(), 42)].into(),
            ..ClusterStatus::default()
        };
        let copies = [
            ("nb", SyncState::Active),
            (
                "sb",
                SyncState::Replicating {
                    target: "tcp:10.0.0.1:6642".into(),
                },
            ),
        ];
        let text = render(&Snapshot {
            cluster: Some(&cluster),
            copies: &copies,
            events: EventCounts {
                restarts_in_place: 2,
                fence_closes: 1,
                failovers: 3,
                last_failover: Some(Duration::from_millis(1_500)),
            },
        });
        for line in [
            "# TYPE ovn_db_ha_database_state gauge",
            "ovn_db_ha_database_state{database=\"nb\",state=\"active\"} 1",
            "ovn_db_ha_database_state{database=\"nb\",state=\"backup\"} 0",
            "ovn_db_ha_database_state{database=\"sb\",state=\"replicating\"} 1",
            "ovn_db_ha_cluster_status_readable 1",
            "ovn_db_ha_cluster_quorate 1",
            "ovn_db_ha_cluster_nodes_online 2",
            "ovn_db_ha_node_online{node=\"c\"} 0",
            "ovn_db_ha_node_promoted{node=\"a\"} 1",
            "ovn_db_ha_node_promoted{node=\"b\"} 0",
            "ovn_db_ha_node_vip{node=\"a\"} 1",
            "ovn_db_ha_node_promotion_score{node=\"a\"} 10",
            "ovn_db_ha_node_caught_up{node=\"b\"} 1",
            "ovn_db_ha_node_data_position{node=\"a\"} 42",
            "# TYPE ovn_db_ha_restarts_in_place_total counter",
            "ovn_db_ha_restarts_in_place_total 2",
            "ovn_db_ha_fence_closes_total 1",
            "ovn_db_ha_failovers_total 3",
            "ovn_db_ha_last_failover_seconds 1.5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Without crm_mon and before any failover: those families are absent, not zero.
        let text = render(&Snapshot {
            cluster: None,
            copies: &copies,
            events: EventCounts::default(),
        });
        assert!(
            text.contains("ovn_db_ha_cluster_status_readable 0"),
            "{text}"
        );
        assert!(!text.contains("ovn_db_ha_cluster_quorate"), "{text}");
        assert!(!text.contains("ovn_db_ha_last_failover_seconds"), "{text}");
        assert!(text.contains("ovn_db_ha_failovers_total 0"), "{text}");
    }
}
