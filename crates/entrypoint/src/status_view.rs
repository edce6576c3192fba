//! What `status` prints: the cluster from `crm_mon` plus this node's NB/SB sync state, as a
//! human table or as JSON for tools. Pure formatting.

use crate::crm_mon::ClusterStatus;
use serde::Serialize;
use std::fmt::Write;

/// Sync state of the copies on the node `status` runs on (from their unixctl sockets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalCopies {
    pub node: String,
    /// `active`, `backup replicating <target>`, ... or why it could not be read.
    pub nb: String,
    pub sb: String,
}

/// Everything `status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub cluster: ClusterStatus,
    pub local: Option<LocalCopies>,
    /// One line per problem seen (no quorum, no or several promoted copies, VIP elsewhere).
    pub problems: Vec<String>,
}

/// Findings that an operator should see at once.
pub fn problems(c: &ClusterStatus) -> Vec<String> {
    let mut out = Vec::new();
    if !c.quorum {
        out.push("this partition has no quorum: resources here are stopped".to_string());
    }
    match c.promoted.len() {
        0 => out.push("no promoted copy: the VIP does not serve".to_string()),
        1 => {}
        n => out.push(format!("{n} promoted copies: {}", c.promoted.join(", "))),
    }
    match (c.the_promoted(), c.vip.as_slice()) {
        (_, []) => out.push("the VIP is not started".to_string()),
        (Some(p), [v]) if p != v => out.push(format!("the VIP is on {v} but {p} is promoted")),
        (_, many) if many.len() > 1 => out.push(format!("the VIP runs on {}", many.join(", "))),
        _ => {}
    }
    for n in c.nodes.iter().filter(|n| !n.online) {
        out.push(format!("node {} is offline", n.name));
    }
    out
}

impl StatusReport {
    /// Builds the report with its problems list.
    pub fn new(cluster: ClusterStatus, local: Option<LocalCopies>) -> Self {
        let problems = problems(&cluster);
        StatusReport {
            cluster,
            local,
            problems,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The human table.
    pub fn to_table(&self) -> String {
        let c = &self.cluster;
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "quorum: {}   DC: {}",
            yes(c.quorum),
            c.dc.as_deref().unwrap_or("none")
        );
        let width = c
            .nodes
            .iter()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:width$}  ONLINE  STANDBY  COPY        SCORE  VIP",
            "NODE"
        );
        for n in &c.nodes {
            let copy = if c.promoted.contains(&n.name) {
                "Promoted"
            } else if c.unpromoted.contains(&n.name) {
                "Unpromoted"
            } else {
                "-"
            };
            let vip = if c.vip.contains(&n.name) { "yes" } else { "-" };
            let score = c
                .promotion_scores
                .get(&n.name)
                .map_or_else(|| "-".to_string(), i64::to_string);
            let _ = writeln!(
                out,
                "{:width$}  {:6}  {:7}  {:10}  {score:>5}  {vip}",
                n.name,
                yes(n.online),
                yes(n.standby),
                copy
            );
        }
        if let Some(l) = &self.local {
            let _ = writeln!(out, "local copies on {}: NB {}; SB {}", l.node, l.nb, l.sb);
        }
        if c.failed_actions.is_empty() {
            let _ = writeln!(out, "failed actions: none");
        } else {
            let _ = writeln!(out, "failed actions:");
            for f in &c.failed_actions {
                let reason = if f.exitreason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", f.exitreason)
                };
                let _ = writeln!(
                    out,
                    "  {} on {}: {}{reason} at {}",
                    f.op_key, f.node, f.exitstatus, f.last_rc_change
                );
            }
        }
        for p in &self.problems {
            let _ = writeln!(out, "PROBLEM: {p}");
        }
        out
    }
}
