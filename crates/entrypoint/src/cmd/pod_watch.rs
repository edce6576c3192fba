//! The pod watcher: lists and watches the pods of this Deployment through the Kubernetes API
//! (kube-rs, in-cluster service account or `KUBECONFIG` via `kube::Config::infer`) on a thread
//! of its own with a current-thread tokio runtime, and hands every changed pod set to the
//! synchronous supervisor through a std channel. The rest of the entrypoint stays synchronous.
//!
//! The list/watch/re-list cycle is kube-runtime's `watcher` with its default backoff (from 0.8 s
//! up to 30 s): a watch that ends is resumed, an expired one (410 Gone) or any error leads to a
//! fresh list. Bounded at start: until the first complete list the watcher gives up after
//! [`START_ATTEMPTS`] failures and at least 15 s, or after [`start_budget`], and reports [`WatchReport::Unreachable`]
//! naming the API server and the Role the pod needs; afterwards each failure is logged (one
//! line) and retried. Each watch is closed by the server after [`WATCH_SECONDS`]; a connection
//! silent for longer than the client's read limit is dropped and listed again. The thread
//! ends when the supervisor drops the receiver.
//!
//! The same thread keeps this pod's deletion cost (`deletion_cost`): the supervisor says
//! through a watch channel whether this node holds the promoted copy, and a task merge-patches
//! the pod's annotation when that changes (bounded; retried every [`COST_RETRY`] until it
//! works; one log line per change or failure streak). The Role needs `patch` on pods.
//!
//! Every pod the selector finds is sent on, judged against the Deployment's name
//! (`OVN_DB_HA_DEPLOYMENT`, validated by `parse_env` and handed in with the target):
//! [`pod_peers`] keeps only the Deployment's own pods. A pod that is not
//! one of them is logged here, once per pod with why (again only if the reason changes, or after
//! it was gone), never on each watch event.
//!
//! [`pod_peers`]: ovnkube_db_ha::pod_peers

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use ovnkube_db_ha::deletion_cost;
use ovnkube_db_ha::pod_peers::{PodView, ignored_note};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// Failures before the first complete list after which the watcher gives up, once
/// [`START_PATIENCE`] has passed too (the default backoff's jitter can make five tries quick).
pub const START_ATTEMPTS: u32 = 5;
/// The least time given to the first list (an API server still coming up after a reboot).
const START_PATIENCE: Duration = Duration::from_secs(15);
/// Time limit of one list request (the first attempts).
const REQUEST: Duration = Duration::from_secs(10);
/// Time limit of connecting to the API server.
const CONNECT: Duration = Duration::from_secs(5);
/// How long the API server keeps one watch open (`timeoutSeconds`).
const WATCH_SECONDS: u32 = 240;
/// A connection silent for this long is dropped (the client's read limit): above
/// [`WATCH_SECONDS`], so only a dead connection reaches it.
const READ_LIMIT: Duration = Duration::from_secs(270);

/// Longest time the first report can take: every start attempt timing out plus the backoff.
pub fn start_budget() -> Duration {
    (REQUEST + CONNECT) * START_ATTEMPTS + Duration::from_secs(20)
}

/// Which pods to watch.
#[derive(Debug, Clone)]
pub struct WatchTarget {
    pub namespace: String,
    pub selector: String,
    /// The Deployment whose pods are members.
    pub deployment: String,
    /// This pod's name (`POD_NAME`), whose deletion cost the thread keeps; `None`: none kept.
    pub own_pod: Option<String>,
}

/// Whether this node holds the promoted copy, as the supervisor last saw it (`None`: not
/// known yet).
pub type RoleSender = tokio::sync::watch::Sender<Option<bool>>;

/// Pause before a failed deletion-cost patch is tried again.
const COST_RETRY: Duration = Duration::from_secs(5);

/// What the watcher tells the supervisor.
#[derive(Debug, Clone)]
pub enum WatchReport {
    /// The pods as now listed (sent after the first list and whenever the set changes).
    Pods(Vec<PodView>),
    /// No Kubernetes client configuration (neither in-cluster nor `KUBECONFIG`).
    NoConfig(String),
    /// The first list failed every attempt.
    Unreachable(String),
}

ovnkube_db_ha::log_part!("pod watch");

/// Starts the watcher thread; returns its reports and the channel for this node's role.
pub fn spawn(target: WatchTarget) -> std::io::Result<(Receiver<WatchReport>, RoleSender)> {
    let (tx, rx) = channel();
    let (role, role_rx) = tokio::sync::watch::channel(None);
    std::thread::Builder::new()
        .name("pod-watch".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let deployment = target.deployment.clone();
                    rt.block_on(watch(target, deployment, tx, role_rx));
                }
                Err(e) => {
                    let _ = tx.send(WatchReport::Unreachable(format!(
                        "cannot start the watcher's runtime: {e}"
                    )));
                }
            }
        })?;
    Ok((rx, role))
}

/// Keeps `pod`'s deletion cost in line with the role the supervisor reports.
async fn keep_deletion_cost(
    api: Api<Pod>,
    pod: String,
    mut role: tokio::sync::watch::Receiver<Option<bool>>,
) {
    let mut applied: Option<bool> = None;
    let mut failing = false;
    loop {
        let wanted = *role.borrow_and_update();
        if let Some(promoted) = wanted
            && applied != Some(promoted)
        {
            let patch = Patch::Merge(deletion_cost::merge_patch(promoted));
            let done =
                tokio::time::timeout(REQUEST, api.patch(&pod, &PatchParams::default(), &patch))
                    .await;
            match done {
                Ok(Ok(_)) => {
                    applied = Some(promoted);
                    failing = false;
                    log(if promoted {
                        format!(
                            "pod {pod}: deletion cost {} (the active is replaced last)",
                            deletion_cost::ACTIVE_COST
                        )
                    } else {
                        format!("pod {pod}: no deletion cost (a standby is replaced first)")
                    });
                }
                Ok(Err(e)) => {
                    if !failing {
                        log(format!(
                            "cannot set pod {pod}'s deletion cost (the Role needs patch on pods): {e}; retrying every {COST_RETRY:?}"
                        ));
                    }
                    failing = true;
                }
                Err(_) => {
                    if !failing {
                        log(format!(
                            "setting pod {pod}'s deletion cost got no answer within {REQUEST:?}; retrying every {COST_RETRY:?}"
                        ));
                    }
                    failing = true;
                }
            }
            if applied != Some(promoted) {
                tokio::select! {
                    () = tokio::time::sleep(COST_RETRY) => {}
                    changed = role.changed() => if changed.is_err() { return },
                }
                continue;
            }
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// The known pods and where the watch resumes.
#[derive(Debug, Default)]
struct PodSet {
    /// The DB Deployment's name, which the pods' owners are judged against.
    deployment: String,
    pods: BTreeMap<String, PodView>,
    sent: Option<Vec<PodView>>,
    /// Pods that are not the Deployment's own, with the note last logged for each.
    ignored: BTreeMap<String, String>,
}

impl PodSet {
    fn new(deployment: String) -> Self {
        PodSet {
            deployment,
            ..PodSet::default()
        }
    }

    /// Takes in one pod; returns the line to log when the pod is newly found not to be the
    /// Deployment's own (or for another reason than last logged).
    fn note(&mut self, pod: &Pod, deleted: bool) -> Option<String> {
        let view = PodView::of(pod, &self.deployment)?;
        if deleted {
            self.pods.remove(&view.name);
            self.ignored.remove(&view.name);
            return None;
        }
        let line = match ignored_note(&view) {
            None => {
                self.ignored.remove(&view.name);
                None
            }
            Some(note) if self.ignored.get(&view.name) == Some(&note) => None,
            Some(note) => {
                self.ignored.insert(view.name.clone(), note.clone());
                Some(note)
            }
        };
        self.pods.insert(view.name.clone(), view);
        line
    }

    /// Replaces the pods with a fresh list; returns the lines to log (see [`PodSet::note`]).
    fn replace(&mut self, items: &[Pod]) -> Vec<String> {
        self.pods.clear();
        let lines = items.iter().filter_map(|p| self.note(p, false)).collect();
        let pods = &self.pods;
        self.ignored.retain(|name, _| pods.contains_key(name));
        lines
    }

    /// Sends the pods if they changed since the last send; false once the receiver is gone.
    fn send_if_changed(&mut self, tx: &Sender<WatchReport>) -> bool {
        let now: Vec<PodView> = self.pods.values().cloned().collect();
        if self.sent.as_ref() == Some(&now) {
            return true;
        }
        self.sent = Some(now.clone());
        tx.send(WatchReport::Pods(now)).is_ok()
    }
}

async fn watch(
    target: WatchTarget,
    deployment: String,
    tx: Sender<WatchReport>,
    role: tokio::sync::watch::Receiver<Option<bool>>,
) {
    let mut config = match kube::Config::infer().await {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(WatchReport::NoConfig(format!(
                "no Kubernetes API client configuration (in-cluster service account or KUBECONFIG): {e}"
            )));
            return;
        }
    };
    config.connect_timeout = Some(CONNECT);
    config.read_timeout = Some(READ_LIMIT);
    let server = config.cluster_url.to_string();
    let client = match kube::Client::try_from(config) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(WatchReport::NoConfig(format!(
                "cannot make a Kubernetes API client for {server}: {e}"
            )));
            return;
        }
    };
    let api: Api<Pod> = Api::namespaced(client, &target.namespace);
    if let Some(pod) = target.own_pod.clone() {
        tokio::spawn(keep_deletion_cost(api.clone(), pod, role));
    }
    let selector = target.selector.as_str();
    let unreachable = |e: &str| {
        WatchReport::Unreachable(format!(
            "cannot list the pods `{selector}` in namespace {ns} at the Kubernetes API server {server} \
             ({START_ATTEMPTS} attempts): {e}; check that the server is reachable from this node and \
             that the pod's service account may get, list and watch pods in {ns} (Role ovnkube-db)",
            ns = target.namespace
        ))
    };
    let config = watcher::Config::default()
        .labels(selector)
        .timeout(WATCH_SECONDS);
    let stream = watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut set = PodSet::new(deployment);
    // Until the first complete list: its pods, the failures so far, and the time limit.
    let started = tokio::time::Instant::now();
    let start_deadline = started + start_budget();
    let mut listed_once = false;
    let mut failures = 0u32;
    let mut last_error = String::from("no answer");
    let mut listing: Vec<Pod> = Vec::new();
    loop {
        let next = if listed_once {
            stream.next().await
        } else {
            match tokio::time::timeout_at(start_deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    let _ = tx.send(unreachable(&format!(
                        "{last_error}; no complete list within {:?}",
                        start_budget()
                    )));
                    return;
                }
            }
        };
        let changed = match next {
            None => return,
            Some(Err(e)) => {
                failures += 1;
                last_error = e.to_string();
                if !listed_once && failures >= START_ATTEMPTS && started.elapsed() >= START_PATIENCE
                {
                    let _ = tx.send(unreachable(&last_error));
                    return;
                }
                log(format!(
                    "listing or watching pods at {server} failed ({}): {e}",
                    if listed_once {
                        "retrying with backoff".to_string()
                    } else {
                        format!("attempt {failures} of {START_ATTEMPTS}")
                    }
                ));
                continue;
            }
            Some(Ok(watcher::Event::Init)) => {
                listing.clear();
                false
            }
            Some(Ok(watcher::Event::InitApply(pod))) => {
                listing.push(pod);
                false
            }
            Some(Ok(watcher::Event::InitDone)) => {
                for line in set.replace(&std::mem::take(&mut listing)) {
                    log(line);
                }
                if !listed_once {
                    listed_once = true;
                    log(format!(
                        "listed {} pod(s) `{selector}` in {} at {server}; watching",
                        set.pods.len(),
                        target.namespace
                    ));
                }
                true
            }
            Some(Ok(watcher::Event::Apply(pod))) => {
                if let Some(line) = set.note(&pod, false) {
                    log(line);
                }
                listed_once
            }
            Some(Ok(watcher::Event::Delete(pod))) => {
                set.note(&pod, true);
                listed_once
            }
        };
        if changed && !set.send_if_changed(&tx) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, owned: bool, rv: u32) -> Pod {
        let mut meta = serde_json::json!({
            "name": name,
            "resourceVersion": rv.to_string(),
            "labels": {"pod-template-hash": "5d8f7"},
        });
        if owned {
            meta["ownerReferences"] = serde_json::json!([{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ovnkube-db-5d8f7",
                "uid": "u1", "controller": true
            }]);
        }
        serde_json::from_value(serde_json::json!({
            "metadata": meta,
            "spec": {"nodeName": "n1", "hostNetwork": true, "containers": []},
            "status": {"podIP": "10.0.0.1", "hostIP": "10.0.0.1", "phase": "Running"}
        }))
        .unwrap()
    }

    #[test]
    fn a_pod_not_of_the_deployment_is_logged_once() {
        let mut set = PodSet::new("ovnkube-db".into());
        assert_eq!(set.note(&pod("db-a", true, 1), false), None);
        let line = set.note(&pod("rogue", false, 2), false).unwrap();
        assert!(line.starts_with("pod rogue on n1 is ignored"), "{line}");
        // Further events and lists of the same pod: nothing more.
        assert_eq!(set.note(&pod("rogue", false, 3), false), None);
        let listed = [pod("db-a", true, 1), pod("rogue", false, 3)];
        assert!(set.replace(&listed).is_empty());
        // Every pod is passed on; the decision is pod_peers'.
        assert_eq!(set.pods.len(), 2);
        // Gone (deleted, or missing from a fresh list), then back: logged again.
        assert_eq!(set.note(&pod("rogue", false, 4), true), None);
        assert!(set.note(&pod("rogue", false, 5), false).is_some());
        assert!(set.replace(&listed[..1]).is_empty());
        assert_eq!(set.replace(&listed).len(), 1);
        // Adopted by the ReplicaSet: no longer ignored; ignored again later: logged again.
        assert_eq!(set.note(&pod("rogue", true, 8), false), None);
        assert!(set.note(&pod("rogue", false, 9), false).is_some());
    }
}
