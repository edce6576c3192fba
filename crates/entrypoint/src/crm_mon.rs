//! Parsing `crm_mon -1 --output-as=xml` (Pacemaker 2.1) into a typed [`ClusterStatus`]: nodes,
//! quorum, DC, which node runs the promoted and unpromoted copies, who holds the VIP, failed
//! actions. Accepts Pacemaker 2.1's `Promoted`/`Unpromoted` and the older `Master`/`Slave`.

use serde::Serialize;

/// Why the XML could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CrmMonError {
    #[error("crm_mon output is not XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("crm_mon output has no <{0}> element")]
    Missing(&'static str),
}

/// One cluster node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub online: bool,
    pub standby: bool,
    pub is_dc: bool,
    pub unclean: bool,
}

/// A recorded failed operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedAction {
    pub op_key: String,
    pub node: String,
    pub exitstatus: String,
    pub exitreason: String,
    pub last_rc_change: String,
}

/// The cluster as `crm_mon` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ClusterStatus {
    /// Name of the DC, if there is one.
    pub dc: Option<String>,
    /// The partition this node is in has quorum.
    pub quorum: bool,
    pub nodes: Vec<NodeStatus>,
    /// Nodes running the promoted copy of the DB clone (healthy: exactly one).
    pub promoted: Vec<String>,
    /// Nodes running unpromoted copies.
    pub unpromoted: Vec<String>,
    /// Nodes where the VIP is started (healthy: exactly the promoted one).
    pub vip: Vec<String>,
    pub failed_actions: Vec<FailedAction>,
    /// Promotion score (`master-<resource>` node attribute) per node, where set.
    pub promotion_scores: std::collections::BTreeMap<String, i64>,
    /// Data position published for the cold-start comparison
    /// ([`crate::cold_start::ATTRIBUTE`]) per node, where set.
    pub positions: std::collections::BTreeMap<String, u64>,
    /// Caught-up mark ([`crate::replica_lag::ATTRIBUTE`]) per node, where set.
    pub caught_up: std::collections::BTreeMap<String, bool>,
}

fn flag(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.attribute(name) == Some("true")
}

fn running_on(resource: roxmltree::Node<'_, '_>) -> Vec<String> {
    resource
        .children()
        .filter(|n| n.has_tag_name("node"))
        .filter_map(|n| n.attribute("name").map(str::to_string))
        .collect()
}

/// Parses crm_mon's XML. `db_resource` is the clone's primitive id (e.g. `ovndb_servers`),
/// `vip_resource` the VIP's id.
/// The controller state `crmadmin --status=NODE --output-as=xml` reports (`S_IDLE` when the
/// DC runs no transition): the element with `node_name` and `state` attributes (its name is
/// the answering subsystem's, `crmd` or `controller` across Pacemaker versions).
pub fn parse_controller_state(xml: &str) -> Result<String, CrmMonError> {
    let doc = roxmltree::Document::parse(xml)?;
    doc.descendants()
        .find(|n| n.has_attribute("node_name"))
        .and_then(|n| n.attribute("state"))
        .map(str::to_owned)
        .ok_or(CrmMonError::Missing("element with node_name and state"))
}

pub fn parse_crm_mon(
    xml: &str,
    db_resource: &str,
    vip_resource: &str,
) -> Result<ClusterStatus, CrmMonError> {
    let doc = roxmltree::Document::parse(xml)?;
    let root = doc.root_element();
    let summary = root
        .children()
        .find(|n| n.has_tag_name("summary"))
        .ok_or(CrmMonError::Missing("summary"))?;
    let mut status = ClusterStatus::default();
    if let Some(dc) = summary.children().find(|n| n.has_tag_name("current_dc")) {
        if flag(dc, "present") {
            status.dc = dc.attribute("name").map(str::to_string);
        }
        status.quorum = flag(dc, "with_quorum");
    }
    if let Some(nodes) = root.children().find(|n| n.has_tag_name("nodes")) {
        status.nodes = nodes
            .children()
            .filter(|n| n.has_tag_name("node"))
            .map(|n| NodeStatus {
                name: n.attribute("name").unwrap_or_default().to_string(),
                online: flag(n, "online"),
                standby: flag(n, "standby"),
                is_dc: flag(n, "is_dc"),
                unclean: flag(n, "unclean"),
            })
            .collect();
    }
    if let Some(resources) = root.children().find(|n| n.has_tag_name("resources")) {
        // Clone instances appear as `<resource id="ovndb_servers">` (or `ovndb_servers:N` for
        // unique clones) under `<clone>`; the VIP is a top-level `<resource>`.
        for r in resources
            .descendants()
            .filter(|n| n.has_tag_name("resource"))
        {
            let id = r.attribute("id").unwrap_or_default();
            let base = id.split(':').next().unwrap_or(id);
            let active = flag(r, "active");
            let role = r.attribute("role").unwrap_or_default();
            if base == db_resource && active {
                match role {
                    "Promoted" | "Master" => status.promoted.extend(running_on(r)),
                    "Unpromoted" | "Slave" | "Started" => status.unpromoted.extend(running_on(r)),
                    _ => {}
                }
            } else if base == vip_resource && active && role == "Started" {
                status.vip.extend(running_on(r));
            }
        }
    }
    if let Some(failures) = root.children().find(|n| n.has_tag_name("failures")) {
        status.failed_actions = failures
            .children()
            .filter(|n| n.has_tag_name("failure"))
            .map(|f| FailedAction {
                op_key: f.attribute("op_key").unwrap_or_default().to_string(),
                node: f.attribute("node").unwrap_or_default().to_string(),
                exitstatus: f.attribute("exitstatus").unwrap_or_default().to_string(),
                exitreason: f.attribute("exitreason").unwrap_or_default().to_string(),
                last_rc_change: f
                    .attribute("last-rc-change")
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
    }
    if let Some(attrs) = root.children().find(|n| n.has_tag_name("node_attributes")) {
        let key = format!("master-{db_resource}");
        for node in attrs.children().filter(|n| n.has_tag_name("node")) {
            let name = node.attribute("name").unwrap_or_default();
            let value = |key: &str| {
                node.children()
                    .filter(|a| a.has_tag_name("attribute") && a.attribute("name") == Some(key))
                    .find_map(|a| a.attribute("value"))
            };
            if let Some(score) = value(&key).and_then(|v| v.parse::<i64>().ok()) {
                status.promotion_scores.insert(name.to_string(), score);
            }
            if let Some(p) = value(crate::cold_start::ATTRIBUTE).and_then(|v| v.parse().ok()) {
                status.positions.insert(name.to_string(), p);
            }
            if let Some(m) = value(crate::replica_lag::ATTRIBUTE) {
                status.caught_up.insert(name.to_string(), m == "1");
            }
        }
    }
    for list in [
        &mut status.promoted,
        &mut status.unpromoted,
        &mut status.vip,
    ] {
        list.sort();
    }
    Ok(status)
}

impl ClusterStatus {
    /// The names of the nodes online in this partition (quorum or not).
    pub fn online_names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Whether this node is online in the membership with quorum.
    pub fn node_online(&self, name: &str) -> bool {
        self.quorum && self.nodes.iter().any(|n| n.name == name && n.online)
    }

    /// The single promoted node, if exactly one.
    pub fn the_promoted(&self) -> Option<&str> {
        match self.promoted.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether `me` may go into standby without risking a promotion of a stale copy: `me` is
    /// not the promoted copy, or another online, non-standby node runs an unpromoted copy whose
    /// promotion score is positive and at least `me`'s (with a replication-aware agent that
    /// means "replicating as well as the active is healthy").
    pub fn replica_ready_to_take_over(&self, me: &str) -> bool {
        if !self.promoted.iter().any(|p| p == me) {
            return true;
        }
        let mine = self.promotion_scores.get(me).copied().unwrap_or(0);
        self.nodes.iter().any(|n| {
            n.name != me
                && n.online
                && !n.standby
                && self.unpromoted.contains(&n.name)
                && self
                    .promotion_scores
                    .get(&n.name)
                    .is_some_and(|&score| score > 0 && score >= mine)
        })
    }

    /// Whether every other online, non-standby node runs its copy, is marked caught up and can
    /// be promoted (a positive promotion score: its gates open): no member is still starting
    /// or catching up (a pod just replaced by a rolling update), whose start, notifications
    /// and new mark would land in the handover's transition and abort it, and none whose lag
    /// gate, closed a moment ago, has yet to see its new mark (the handover would wait for it
    /// with writes stopped).
    pub fn settled_for_handover(&self, me: &str) -> bool {
        self.nodes
            .iter()
            .filter(|n| n.name != me && n.online && !n.standby)
            .all(|n| {
                (self.unpromoted.contains(&n.name) || self.promoted.contains(&n.name))
                    && self.caught_up.get(&n.name) == Some(&true)
                    && self.promotion_scores.get(&n.name).is_some_and(|s| *s > 0)
            })
    }

    /// The VIP and the promoted copy both run, on one node, which is not `node`.
    pub fn served_elsewhere_than(&self, node: &str) -> bool {
        match (self.the_promoted(), self.vip.as_slice()) {
            (Some(p), [v]) => p == v && p != node,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
