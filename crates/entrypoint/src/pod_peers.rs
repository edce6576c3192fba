//! The pods of this Deployment, as the Kubernetes API lists them, turned into cluster members.
//! Pure: a [`PodView`] holds the few fields that matter, [`peers_from_pods`] decides.
//!
//! The DB pods use hostNetwork, so a pod's `status.podIP` is its node's address: the peer's
//! name is `spec.nodeName` and its ring address `status.podIP`. Rules, in order:
//! - a pod that has finished (`Succeeded`/`Failed`), is not scheduled (no `spec.nodeName`), has
//!   no usable `status.podIP` yet, or whose node name corosync cannot take is skipped (with a
//!   note saying why);
//! - a pod being deleted (`metadata.deletionTimestamp`) stays a member: it may still run
//!   corosync while it hands over, and dropping a live member from the node list would shrink
//!   the expected votes under the others' feet;
//! - two pods on one node (an old pod still terminating next to its replacement) make one peer:
//!   the pod not being deleted wins, then the first by name;
//! - two nodes with one address make one peer (corosync cannot tell them apart): the first by
//!   the same order wins;
//! - this node must be in the result at `POD_IP`; otherwise the list is refused
//!   ([`DiscoveryError`]), so a list that does not describe the pod itself is never applied.

use crate::peers::Peer;
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The fields of a pod that decide membership.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodView {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `status.podIP`.
    pub pod_ip: Option<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
}

impl PodView {
    /// The view of an API object; `None` for an object without a name (never listed by a real
    /// API server).
    pub fn of(pod: &Pod) -> Option<PodView> {
        let name = pod.metadata.name.clone()?;
        Some(PodView {
            name,
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            pod_ip: pod.status.as_ref().and_then(|s| s.pod_ip.clone()),
            phase: pod.status.as_ref().and_then(|s| s.phase.clone()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
        })
    }
}

/// The outcome of one pod list: the peers (sorted by name, this node included) and one note
/// per pod that was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub peers: Vec<Peer>,
    pub skipped: Vec<String>,
}

/// Why a pod list is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// No usable pod on this node yet.
    #[error("no pod of the Deployment is listed on this node ({name}) yet")]
    NotListed { name: String },
    /// The pod on this node has another address than `POD_IP`.
    #[error("the pod on this node ({name}) is listed at {listed}, but POD_IP is {expected}")]
    AddressMismatch {
        name: String,
        listed: IpAddr,
        expected: IpAddr,
    },
}

/// Decides the members from the pods (see the module documentation for the rules). `me` is
/// this node: `K8S_NODE` at `POD_IP`.
pub fn peers_from_pods(pods: &[PodView], me: &Peer) -> Result<Discovered, DiscoveryError> {
    let mut skipped = Vec::new();
    let mut candidates: Vec<(&PodView, Peer)> = Vec::new();
    for pod in pods {
        if let Some(phase @ ("Succeeded" | "Failed")) = pod.phase.as_deref() {
            skipped.push(format!("pod {} has finished ({phase})", pod.name));
            continue;
        }
        let Some(node) = pod.node_name.as_deref().filter(|n| !n.is_empty()) else {
            skipped.push(format!("pod {} is not scheduled yet", pod.name));
            continue;
        };
        let Some(ip) = pod.pod_ip.as_deref().filter(|ip| !ip.is_empty()) else {
            skipped.push(format!("pod {} on {node} has no IP yet", pod.name));
            continue;
        };
        let Ok(addr) = ip.parse::<IpAddr>() else {
            skipped.push(format!(
                "pod {} on {node} has an unusable IP `{ip}`",
                pod.name
            ));
            continue;
        };
        if let Err(e) = crate::peers::validate_node_name(node) {
            skipped.push(format!("pod {}: {e}", pod.name));
            continue;
        }
        candidates.push((
            pod,
            Peer {
                name: node.to_string(),
                addr,
            },
        ));
    }
    // Preference order: pods not being deleted first, then by pod name.
    candidates.sort_by(|(a, _), (b, _)| (a.terminating, &a.name).cmp(&(b.terminating, &b.name)));
    let mut by_name: BTreeMap<String, Peer> = BTreeMap::new();
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for (pod, peer) in candidates {
        if let Some(kept) = by_name.get(&peer.name) {
            if kept.addr != peer.addr {
                skipped.push(format!(
                    "pod {} on {} at {} ignored: another pod on that node is at {}",
                    pod.name, peer.name, peer.addr, kept.addr
                ));
            }
            continue;
        }
        if !addrs.insert(peer.addr) {
            skipped.push(format!(
                "pod {} on {} ignored: another node has the address {}",
                pod.name, peer.name, peer.addr
            ));
            continue;
        }
        by_name.insert(peer.name.clone(), peer);
    }
    match by_name.get(&me.name) {
        None => {
            return Err(DiscoveryError::NotListed {
                name: me.name.clone(),
            });
        }
        Some(listed) if listed.addr != me.addr => {
            return Err(DiscoveryError::AddressMismatch {
                name: me.name.clone(),
                listed: listed.addr,
                expected: me.addr,
            });
        }
        Some(_) => {}
    }
    Ok(Discovered {
        peers: by_name.into_values().collect(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name node ip phase [T]` → a pod (`-` for absent; a trailing `T` marks deletion).
    fn pod(spec: &str) -> PodView {
        let f: Vec<&str> = spec.split_whitespace().collect();
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        PodView {
            name: f[0].to_string(),
            node_name: opt(f[1]),
            pod_ip: opt(f[2]),
            phase: opt(f[3]),
            terminating: f.get(4) == Some(&"T"),
        }
    }

    fn me() -> Peer {
        Peer {
            name: "n1".into(),
            addr: "10.0.0.1".parse().unwrap(),
        }
    }

    fn peers(list: &[Peer]) -> String {
        list.iter()
            .map(|p| format!("{}={}", p.name, p.addr))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn pods_become_peers() {
        // (pods, expected peers `name=ip,...` or an error fragment, expected skip count)
        type Case = (
            &'static [&'static str],
            Result<&'static str, &'static str>,
            usize,
        );
        let cases: &[Case] = &[
            (
                &[
                    "db-a n1 10.0.0.1 Running",
                    "db-b n2 10.0.0.2 Running",
                    "db-c n3 10.0.0.3 Pending",
                ],
                Ok("n1=10.0.0.1,n2=10.0.0.2,n3=10.0.0.3"),
                0,
            ),
            // Not scheduled, no IP yet, finished, bad IP, bad node name: skipped.
            (
                &[
                    "db-a n1 10.0.0.1 Running",
                    "db-b - - Pending",
                    "db-c n3 - Pending",
                    "db-d n4 10.0.0.4 Failed",
                    "db-e n5 10.0.0.5 Succeeded",
                    "db-f n6 ten Running",
                    "db-g -bad 10.0.0.7 Running",
                ],
                Ok("n1=10.0.0.1"),
                6,
            ),
            // A terminating pod stays a member.
            (
                &["db-a n1 10.0.0.1 Running", "db-b n2 10.0.0.2 Running T"],
                Ok("n1=10.0.0.1,n2=10.0.0.2"),
                0,
            ),
            // Two pods on one node, same address: one peer, nothing to say.
            (
                &["db-a n1 10.0.0.1 Running T", "db-z n1 10.0.0.1 Running"],
                Ok("n1=10.0.0.1"),
                0,
            ),
            // Two pods on one node, different addresses: the live one wins over the terminating.
            (
                &[
                    "db-a n1 10.0.0.1 Running",
                    "db-b n2 10.0.0.9 Running T",
                    "db-c n2 10.0.0.2 Running",
                ],
                Ok("n1=10.0.0.1,n2=10.0.0.2"),
                1,
            ),
            // Two nodes with one address: the first by pod name wins.
            (
                &[
                    "db-a n1 10.0.0.1 Running",
                    "db-b n3 10.0.0.3 Running",
                    "db-c n2 10.0.0.3 Running",
                ],
                Ok("n1=10.0.0.1,n3=10.0.0.3"),
                1,
            ),
            // Order of the list does not matter.
            (
                &["db-b n2 10.0.0.2 Running", "db-a n1 10.0.0.1 Running"],
                Ok("n1=10.0.0.1,n2=10.0.0.2"),
                0,
            ),
            // This node must be there, at POD_IP.
            (&["db-b n2 10.0.0.2 Running"], Err("no pod"), 0),
            (&[], Err("no pod"), 0),
            (&["db-a n1 - Pending"], Err("no pod"), 0),
            (&["db-a n1 10.0.0.1 Failed"], Err("no pod"), 0),
            (
                &["db-a n1 10.0.0.7 Running"],
                Err("listed at 10.0.0.7, but POD_IP is 10.0.0.1"),
                0,
            ),
        ];
        for (specs, want, skips) in cases {
            let pods: Vec<PodView> = specs.iter().map(|s| pod(s)).collect();
            let got = peers_from_pods(&pods, &me());
            match want {
                Ok(list) => {
                    let got = got.unwrap_or_else(|e| panic!("{specs:?}: {e}"));
                    assert_eq!(peers(&got.peers), *list, "{specs:?}");
                    assert_eq!(got.skipped.len(), *skips, "{specs:?}: {:?}", got.skipped);
                }
                Err(fragment) => {
                    let err = got.expect_err(&format!("{specs:?}")).to_string();
                    assert!(err.contains(fragment), "{specs:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn reads_the_fields_of_an_api_object() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "ovnkube-db-7d9f-abcde",
                "namespace": "ovn-kubernetes",
                "deletionTimestamp": "2026-01-01T00:00:00Z"
            },
            "spec": {"nodeName": "node1", "containers": []},
            "status": {"podIP": "192.168.122.11", "phase": "Running"}
        }))
        .unwrap();
        assert_eq!(
            PodView::of(&pod),
            Some(PodView {
                name: "ovnkube-db-7d9f-abcde".into(),
                node_name: Some("node1".into()),
                pod_ip: Some("192.168.122.11".into()),
                phase: Some("Running".into()),
                terminating: true,
            })
        );
        let bare: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let view = PodView::of(&bare).unwrap();
        assert_eq!(
            (view.node_name, view.pod_ip, view.terminating),
            (None, None, false)
        );
        assert_eq!(PodView::of(&Pod::default()), None);
    }
}
