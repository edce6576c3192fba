//! The pods of this Deployment, as the Kubernetes API lists them, turned into cluster members.
//! Pure: a [`PodView`] holds the few fields that matter ([`PodView::of`] also judges the pod's
//! owner), [`peers_from_pods`] decides.
//!
//! **Only the Deployment's own pods count.** The label selector finds candidates, but labels
//! prove nothing: any pod carrying the DB labels would otherwise put its node and address into
//! every member's `corosync.conf` (and raise the expected votes). A pod is one of the
//! Deployment's ([`not_ours`] says why not) when
//! - its controller (the ownerReference with `controller: true`) is an `apps` ReplicaSet named
//!   `<deployment>-<hash>`, where `<hash>` is the pod's own `pod-template-hash` label: exactly how
//!   the Deployment controller names its ReplicaSets and labels their pods ([`owner_of`]);
//! - it has `spec.hostNetwork: true`; and
//! - its `status.podIP` is its `status.hostIP` (judged once both are known).
//!
//! The ReplicaSet is judged by its name, not fetched: checking that its own controller is the
//! Deployment would need get/list/watch on replicasets (a wider Role and a second watch) and
//! would still rest on ownerReferences, which whoever creates a pod writes. The name rule needs
//! only the Role's get/list/watch on pods and leaves out the pods the selector catches by
//! accident (a debug copy, another workload or an old install with the same labels). Neither
//! check stops a pod forged on purpose with a copied ownerReference (the garbage collector
//! deletes it only later, and only if the ReplicaSet it names does not exist).
//! Any other pod is ignored, with why ([`Discovered::ignored`]; the watcher logs each once).
//!
//! The DB pods use hostNetwork, so a pod's `status.podIP` is its node's address: the peer's
//! name is `spec.nodeName` and its ring address `status.podIP`. Rules, in order:
//! - a pod that is not the Deployment's own is ignored (above);
//! - a pod that has finished (`Succeeded`/`Failed`), is not scheduled (no `spec.nodeName`), has
//!   no usable `status.podIP` or no `status.hostIP` yet, or whose node name corosync cannot take
//!   is skipped (with a note saying why);
//! - a pod being deleted (`metadata.deletionTimestamp`) stays a member: it may still run
//!   corosync while it hands over, and dropping a live member from the node list would shrink
//!   the expected votes under the others' feet;
//! - two pods on one node are never chosen between: at one address they make one peer (and a
//!   note naming them), at different addresses the list is refused ([`DiscoveryError::SameNode`]
//!   names them) and the running members stay;
//! - two nodes with one address make one peer (corosync cannot tell them apart): the pod not
//!   being deleted wins, then the first by name (with a note);
//! - this node must be in the result at `POD_IP`; otherwise the list is refused
//!   ([`DiscoveryError`]), so a list that does not describe the pod itself is never applied.

use crate::peers::Peer;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The label the Deployment controller puts on its ReplicaSets' pods; its value ends the
/// ReplicaSet's name.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Whether a pod is controlled by a ReplicaSet of the Deployment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// Its controller is the ReplicaSet `<deployment>-<pod-template-hash>`.
    Deployment,
    /// Anything else, and why it is not the Deployment's.
    Other(String),
}

/// Judges a pod's controller (see the module documentation): `deployment` is the name of the
/// DB Deployment.
pub fn owner_of(meta: &ObjectMeta, deployment: &str) -> Owner {
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    let Some(controller) = refs.iter().find(|r| r.controller == Some(true)) else {
        return Owner::Other(format!(
            "it has no controller (the pods of Deployment {deployment} are controlled by its ReplicaSet {deployment}-<hash>)"
        ));
    };
    let group = controller
        .api_version
        .split_once('/')
        .map_or("", |(group, _)| group);
    if controller.kind != "ReplicaSet" || group != "apps" {
        return Owner::Other(format!(
            "its controller is {} {} ({}), not a ReplicaSet of Deployment {deployment}",
            controller.kind, controller.name, controller.api_version
        ));
    }
    let hash = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH))
        .filter(|h| !h.is_empty());
    match hash {
        Some(hash) if controller.name == format!("{deployment}-{hash}") => Owner::Deployment,
        Some(hash) => Owner::Other(format!(
            "its controller is ReplicaSet {}, not {deployment}-{hash} of Deployment {deployment}",
            controller.name
        )),
        None => Owner::Other(format!(
            "its controller is ReplicaSet {}, but it has no {POD_TEMPLATE_HASH} label, which \
             every pod of Deployment {deployment} has",
            controller.name
        )),
    }
}

/// The fields of a pod that decide membership.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodView {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `status.podIP`.
    pub pod_ip: Option<String>,
    /// `status.hostIP`.
    pub host_ip: Option<String>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// Its controller, judged against the Deployment's name ([`owner_of`]).
    pub owner: Owner,
}

impl PodView {
    /// The view of an API object, its owner judged against the Deployment named `deployment`;
    /// `None` for an object without a name (never listed by a real API server).
    pub fn of(pod: &Pod, deployment: &str) -> Option<PodView> {
        let name = pod.metadata.name.clone()?;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        Some(PodView {
            name,
            node_name: spec.and_then(|s| s.node_name.clone()),
            pod_ip: status.and_then(|s| s.pod_ip.clone()),
            host_ip: status.and_then(|s| s.host_ip.clone()),
            host_network: spec.and_then(|s| s.host_network) == Some(true),
            phase: status.and_then(|s| s.phase.clone()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            owner: owner_of(&pod.metadata, deployment),
        })
    }

    /// `pod NAME` or `pod NAME on NODE`.
    fn label(&self) -> String {
        match self.node_name.as_deref().filter(|n| !n.is_empty()) {
            Some(node) => format!("pod {} on {node}", self.name),
            None => format!("pod {}", self.name),
        }
    }
}

/// Non-empty text of an optional field.
fn text(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Why a pod is not one of the Deployment's own (wrong or no controller, not hostNetwork,
/// `status.podIP` other than `status.hostIP`); `None` for one of its pods.
pub fn not_ours(pod: &PodView) -> Option<String> {
    if let Owner::Other(why) = &pod.owner {
        return Some(why.clone());
    }
    if !pod.host_network {
        return Some("it does not use hostNetwork, as the Deployment's pods do".into());
    }
    if let (Some(pod_ip), Some(host_ip)) = (text(&pod.pod_ip), text(&pod.host_ip)) {
        let same = match (pod_ip.parse::<IpAddr>(), host_ip.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => pod_ip == host_ip,
        };
        if !same {
            return Some(format!(
                "its podIP {pod_ip} is not its hostIP {host_ip}, as it is for a hostNetwork pod"
            ));
        }
    }
    None
}

/// The line that tells a pod is ignored and why; `None` for one of the Deployment's pods.
pub fn ignored_note(pod: &PodView) -> Option<String> {
    not_ours(pod).map(|why| {
        format!(
            "{} is ignored, it is not a pod of the Deployment: {why}",
            pod.label()
        )
    })
}

/// The outcome of one pod list: the peers (sorted by name, this node included), one note per
/// pod of the Deployment left out (or per node with two pods at one address), and one note per
/// pod that is not the Deployment's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub peers: Vec<Peer>,
    pub skipped: Vec<String>,
    /// Pods ignored as not the Deployment's own ([`ignored_note`]). The pod watcher logs each
    /// once when it sees it, so callers need not log these again.
    pub ignored: Vec<String>,
}

/// `a at X, b at Y and c at Z`.
fn pods_at(pods: &[(String, IpAddr)]) -> String {
    let items: Vec<String> = pods.iter().map(|(p, a)| format!("{p} at {a}")).collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(""),
    }
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
    /// Pods of the Deployment on one node at different addresses: which one is the node's is
    /// not guessed.
    #[error(
        "pods {} share node {node}: not choosing between them",
        pods_at(.pods)
    )]
    SameNode {
        node: String,
        pods: Vec<(String, IpAddr)>,
    },
}

/// Decides the members from the pods (see the module documentation for the rules). `me` is
/// this node: `K8S_NODE` at `POD_IP`.
pub fn peers_from_pods(pods: &[PodView], me: &Peer) -> Result<Discovered, DiscoveryError> {
    let mut sorted: Vec<&PodView> = pods.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut skipped = Vec::new();
    let mut ignored = Vec::new();
    // Candidates by node, each list in pod-name order.
    let mut by_node: BTreeMap<&str, Vec<(&PodView, IpAddr)>> = BTreeMap::new();
    for pod in sorted {
        if let Some(note) = ignored_note(pod) {
            ignored.push(note);
            continue;
        }
        if let Some(phase @ ("Succeeded" | "Failed")) = pod.phase.as_deref() {
            skipped.push(format!("pod {} has finished ({phase})", pod.name));
            continue;
        }
        let Some(node) = text(&pod.node_name) else {
            skipped.push(format!("pod {} is not scheduled yet", pod.name));
            continue;
        };
        let Some(ip) = text(&pod.pod_ip) else {
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
        if text(&pod.host_ip).is_none() {
            skipped.push(format!("pod {} on {node} has no hostIP yet", pod.name));
            continue;
        }
        if let Err(e) = crate::peers::validate_node_name(node) {
            skipped.push(format!("pod {}: {e}", pod.name));
            continue;
        }
        by_node.entry(node).or_default().push((pod, addr));
    }
    // One candidate per node; never a choice between two addresses of one node.
    let mut candidates: Vec<(&PodView, Peer)> = Vec::new();
    for (node, group) in by_node {
        let addrs: BTreeSet<IpAddr> = group.iter().map(|(_, a)| *a).collect();
        if addrs.len() > 1 {
            return Err(DiscoveryError::SameNode {
                node: node.to_string(),
                pods: group.iter().map(|(p, a)| (p.name.clone(), *a)).collect(),
            });
        }
        if group.len() > 1 {
            let names: Vec<&str> = group.iter().map(|(p, _)| p.name.as_str()).collect();
            skipped.push(format!(
                "pods {} share node {node} at {}: one member",
                names.join(", "),
                group[0].1
            ));
        }
        // Prefer the pod not being deleted (for the address check below).
        let preferred = group
            .iter()
            .min_by(|(a, _), (b, _)| (a.terminating, &a.name).cmp(&(b.terminating, &b.name)));
        if let Some((pod, addr)) = preferred {
            candidates.push((
                pod,
                Peer {
                    name: node.to_string(),
                    addr: *addr,
                },
            ));
        }
    }
    // Preference order: pods not being deleted first, then by pod name.
    candidates.sort_by(|(a, _), (b, _)| (a.terminating, &a.name).cmp(&(b.terminating, &b.name)));
    let mut by_name: BTreeMap<String, Peer> = BTreeMap::new();
    let mut addrs: BTreeSet<IpAddr> = BTreeSet::new();
    for (pod, peer) in candidates {
        if !addrs.insert(peer.addr) {
            skipped.push(format!(
                "pod {} on {} left out: another node has the address {}",
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
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "ovnkube-db";

    /// `name node podIP phase [flag...]` → an API pod of the Deployment (`-` for absent), as the
    /// API server lists it: controlled by the ReplicaSet `ovnkube-db-5d8f7`, labelled with its
    /// hash, hostNetwork, hostIP = podIP. Flags: `T` (being deleted), `nohostnet`,
    /// `host=IP` (hostIP), `owner=none` (no ownerReferences), `owner=KIND/NAME` (the controller),
    /// `notcontroller` (the ReplicaSet is an owner but not the controller), `hash=H` (the
    /// pod-template-hash label; `hash=-` removes it).
    fn api_pod(spec: &str) -> Pod {
        let f: Vec<&str> = spec.split_whitespace().collect();
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        let mut pod = serde_json::json!({
            "metadata": {
                "name": f[0],
                "labels": {"app.kubernetes.io/name": "ovnkube-db", "pod-template-hash": "5d8f7"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ovnkube-db-5d8f7",
                    "uid": "6a1e0d0e-0000-4000-8000-000000000001", "controller": true,
                    "blockOwnerDeletion": true
                }]
            },
            "spec": {"nodeName": opt(f[1]), "hostNetwork": true, "containers": []},
            "status": {"podIP": opt(f[2]), "hostIP": opt(f[2]), "phase": opt(f[3])}
        });
        for flag in &f[4..] {
            match flag.split_once('=') {
                None if *flag == "T" => {
                    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
                }
                None if *flag == "nohostnet" => pod["spec"]["hostNetwork"] = false.into(),
                None if *flag == "notcontroller" => {
                    pod["metadata"]["ownerReferences"][0]["controller"] = false.into();
                }
                Some(("host", ip)) => pod["status"]["hostIP"] = opt(ip).into(),
                Some(("owner", "none")) => {
                    pod["metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("ownerReferences");
                }
                Some(("owner", owner)) => {
                    let (kind, name) = owner.split_once('/').unwrap();
                    let api = if kind == "ReplicaSet" {
                        "apps/v1"
                    } else {
                        "batch/v1"
                    };
                    let r = &mut pod["metadata"]["ownerReferences"][0];
                    r["kind"] = kind.into();
                    r["name"] = name.into();
                    r["apiVersion"] = api.into();
                }
                Some(("hash", "-")) => {
                    pod["metadata"]["labels"]
                        .as_object_mut()
                        .unwrap()
                        .remove(POD_TEMPLATE_HASH);
                }
                Some(("hash", h)) => pod["metadata"]["labels"][POD_TEMPLATE_HASH] = h.into(),
                _ => panic!("unknown flag {flag}"),
            }
        }
        serde_json::from_value(pod).unwrap()
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

    /// One case: the pods listed, then the peers `name=ip,...` (or a fragment of the error),
    /// the number of skip notes, and for each ignored pod a fragment of its note (in pod-name
    /// order).
    struct Case {
        pods: &'static [&'static str],
        want: Result<&'static str, &'static str>,
        skipped: usize,
        ignored: &'static [&'static str],
    }

    const fn ok(pods: &'static [&'static str], want: &'static str) -> Case {
        Case {
            pods,
            want: Ok(want),
            skipped: 0,
            ignored: &[],
        }
    }

    #[test]
    fn pods_become_peers() {
        let cases: &[Case] = &[
            ok(
                &[
                    "db-a n1 10.0.0.1 Running",
                    "db-b n2 10.0.0.2 Running",
                    "db-c n3 10.0.0.3 Pending",
                ],
                "n1=10.0.0.1,n2=10.0.0.2,n3=10.0.0.3",
            ),
            // Not scheduled, no IP yet, finished, bad IP, no hostIP yet, bad node name: skipped.
            Case {
                skipped: 7,
                ..ok(
                    &[
                        "db-a n1 10.0.0.1 Running",
                        "db-b - - Pending",
                        "db-c n3 - Pending",
                        "db-d n4 10.0.0.4 Failed",
                        "db-e n5 10.0.0.5 Succeeded",
                        "db-f n6 ten Running",
                        "db-g n7 10.0.0.7 Running host=-",
                        "db-h -bad 10.0.0.8 Running",
                    ],
                    "n1=10.0.0.1",
                )
            },
            // A terminating pod stays a member.
            ok(
                &["db-a n1 10.0.0.1 Running", "db-b n2 10.0.0.2 Running T"],
                "n1=10.0.0.1,n2=10.0.0.2",
            ),
            // Two pods on one node at one address: one peer, and a note naming both.
            Case {
                skipped: 1,
                ..ok(
                    &["db-a n1 10.0.0.1 Running T", "db-z n1 10.0.0.1 Running"],
                    "n1=10.0.0.1",
                )
            },
            // Two pods on one node at different addresses: never chosen between, not even a
            // live one over a terminating one.
            Case {
                want: Err("pods db-b at 10.0.0.9 and db-c at 10.0.0.2 share node n2"),
                ..ok(
                    &[
                        "db-a n1 10.0.0.1 Running",
                        "db-b n2 10.0.0.9 Running T",
                        "db-c n2 10.0.0.2 Running",
                    ],
                    "",
                )
            },
            // Two nodes with one address: the first by pod name wins.
            Case {
                skipped: 1,
                ..ok(
                    &[
                        "db-a n1 10.0.0.1 Running",
                        "db-b n3 10.0.0.3 Running",
                        "db-c n2 10.0.0.3 Running",
                    ],
                    "n1=10.0.0.1,n3=10.0.0.3",
                )
            },
            // Order of the list does not matter.
            ok(
                &["db-b n2 10.0.0.2 Running", "db-a n1 10.0.0.1 Running"],
                "n1=10.0.0.1,n2=10.0.0.2",
            ),
            // Pods that are not the Deployment's own are ignored, each with why: a labelled pod
            // without an owner sorting first on a member's node (it would have replaced n2's
            // address), and others on a node of their own (they would have raised the votes).
            Case {
                ignored: &[
                    "pod a-debug on n2 is ignored, it is not a pod of the Deployment: it has no controller",
                    "pod db-j on n4 is ignored",
                    "controller is Job x (batch/v1)",
                    "controller is ReplicaSet other-5d8f7, not ovnkube-db-5d8f7",
                    "controller is ReplicaSet ovnkube-db-x-5d8f7, not ovnkube-db-5d8f7",
                    "controller is ReplicaSet ovnkube-db-5d8f7, but it has no pod-template-hash",
                    "pod db-o on n4 is ignored, it is not a pod of the Deployment: its controller is ReplicaSet ovnkube-db-5d8f7, not ovnkube-db-zzz",
                    "does not use hostNetwork",
                    "podIP 10.0.0.4 is not its hostIP 10.0.0.40",
                ],
                ..ok(
                    &[
                        "a-debug n2 10.0.0.9 Running owner=none",
                        "db-a n1 10.0.0.1 Running",
                        "db-b n2 10.0.0.2 Running",
                        "db-j n4 10.0.0.4 Running notcontroller",
                        "db-k n4 10.0.0.4 Running owner=Job/x",
                        "db-l n4 10.0.0.4 Running owner=ReplicaSet/other-5d8f7",
                        "db-m n4 10.0.0.4 Running owner=ReplicaSet/ovnkube-db-x-5d8f7",
                        "db-n n4 10.0.0.4 Running hash=-",
                        "db-o n4 10.0.0.4 Running hash=zzz",
                        "db-p n4 10.0.0.4 Running nohostnet",
                        "db-q n4 10.0.0.4 Running host=10.0.0.40",
                    ],
                    "n1=10.0.0.1,n2=10.0.0.2",
                )
            },
            // An ignored pod is ignored whatever its state; it never conflicts with a member.
            Case {
                ignored: &["pod a-debug is ignored", "pod db-z on n1 is ignored"],
                ..ok(
                    &[
                        "a-debug - - Pending owner=none",
                        "db-a n1 10.0.0.1 Running",
                        "db-z n1 10.0.0.9 Running nohostnet",
                    ],
                    "n1=10.0.0.1",
                )
            },
            // This node must be there, at POD_IP, from a pod of the Deployment.
            ok(&["db-b n2 10.0.0.2 Running"], "").err("no pod"),
            ok(&[], "").err("no pod"),
            ok(&["db-a n1 - Pending"], "").err("no pod"),
            ok(&["db-a n1 10.0.0.1 Failed"], "").err("no pod"),
            ok(&["db-a n1 10.0.0.1 Running owner=none"], "").err("no pod"),
            ok(&["db-a n1 10.0.0.7 Running"], "").err("listed at 10.0.0.7, but POD_IP is 10.0.0.1"),
        ];
        for case in cases {
            let specs = case.pods;
            let pods: Vec<PodView> = specs
                .iter()
                .map(|s| PodView::of(&api_pod(s), DEPLOYMENT).unwrap())
                .collect();
            let got = peers_from_pods(&pods, &me());
            match case.want {
                Ok(list) => {
                    let got = got.unwrap_or_else(|e| panic!("{specs:?}: {e}"));
                    assert_eq!(peers(&got.peers), list, "{specs:?}");
                    assert_eq!(got.skipped.len(), case.skipped, "{specs:?}: {got:?}");
                    assert_eq!(got.ignored.len(), case.ignored.len(), "{specs:?}: {got:?}");
                    for (note, fragment) in got.ignored.iter().zip(case.ignored) {
                        assert!(note.contains(fragment), "{specs:?}: {note}");
                    }
                }
                Err(fragment) => {
                    let err = got.expect_err(&format!("{specs:?}")).to_string();
                    assert!(err.contains(fragment), "{specs:?}: {err}");
                }
            }
        }
    }

    impl Case {
        fn err(self, fragment: &'static str) -> Case {
            Case {
                want: Err(fragment),
                ..self
            }
        }
    }

    #[test]
    fn a_conflict_names_every_pod_on_the_node() {
        let pods: Vec<PodView> = [
            "db-a n1 10.0.0.1 Running",
            "db-b n1 10.0.0.1 Running",
            "db-c n1 10.0.0.3 Running",
        ]
        .iter()
        .map(|s| PodView::of(&api_pod(s), DEPLOYMENT).unwrap())
        .collect();
        let err = peers_from_pods(&pods, &me()).unwrap_err().to_string();
        assert_eq!(
            err,
            "pods db-a at 10.0.0.1, db-b at 10.0.0.1 and db-c at 10.0.0.3 share node n1: \
             not choosing between them"
        );
    }

    #[test]
    fn reads_the_fields_of_an_api_object() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "ovnkube-db-7d9f-abcde",
                "namespace": "ovn-kubernetes",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"pod-template-hash": "7d9f"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": "u0"},
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ovnkube-db-7d9f",
                     "uid": "u1", "controller": true}
                ]
            },
            "spec": {"nodeName": "node1", "hostNetwork": true, "containers": []},
            "status": {"podIP": "192.168.122.11", "hostIP": "192.168.122.11", "phase": "Running"}
        }))
        .unwrap();
        assert_eq!(
            PodView::of(&pod, "ovnkube-db"),
            Some(PodView {
                name: "ovnkube-db-7d9f-abcde".into(),
                node_name: Some("node1".into()),
                pod_ip: Some("192.168.122.11".into()),
                host_ip: Some("192.168.122.11".into()),
                host_network: true,
                phase: Some("Running".into()),
                terminating: true,
                owner: Owner::Deployment,
            })
        );
        // Another Deployment's name: not ours.
        let view = PodView::of(&pod, "ovnkube").unwrap();
        assert!(
            matches!(&view.owner, Owner::Other(why) if why.contains("not ovnkube-7d9f")),
            "{view:?}"
        );
        let bare: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let view = PodView::of(&bare, "ovnkube-db").unwrap();
        assert_eq!(
            (
                view.node_name,
                view.pod_ip,
                view.host_network,
                view.terminating
            ),
            (None, None, false, false)
        );
        assert!(matches!(view.owner, Owner::Other(_)));
        assert_eq!(PodView::of(&Pod::default(), "ovnkube-db"), None);
    }
}
