//! The pod watcher: lists and watches the pods of this Deployment through the Kubernetes API
//! (kube-rs, in-cluster service account or `KUBECONFIG` via `kube::Config::infer`) on a thread
//! of its own with a current-thread tokio runtime, and hands every changed pod set to the
//! synchronous supervisor through a std channel. The rest of the entrypoint stays synchronous.
//!
//! Bounded everywhere: every request has a time limit; the first list is tried
//! [`START_ATTEMPTS`] times with backoff, then the watcher reports [`WatchReport::Unreachable`]
//! naming the API server and the Role the pod needs; afterwards a failed list or watch is
//! retried with backoff from 1 s up to 30 s (one log line per failure), a watch that ends is
//! resumed from the last resource version, and an expired one (410 Gone) or any error leads to
//! a fresh list. The thread ends when the supervisor drops the receiver.
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
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use ovnkube_db_ha::pod_peers::{PodView, ignored_note};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// Tries of the first list before giving up (with 1, 2, 4, 8 s between them).
pub const START_ATTEMPTS: u32 = 5;
/// Time limit of one list request or of opening a watch.
const REQUEST: Duration = Duration::from_secs(10);
/// Time limit of connecting to the API server.
const CONNECT: Duration = Duration::from_secs(5);
/// How long the API server keeps one watch open (`timeoutSeconds`).
const WATCH_SECONDS: u32 = 240;
/// A watch silent for this long is dropped and the pods listed again.
const WATCH_IDLE: Duration = Duration::from_secs(270);
/// Backoff bounds after a failure.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

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
}

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

/// Starts the watcher thread.
pub fn spawn(target: WatchTarget) -> std::io::Result<Receiver<WatchReport>> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("pod-watch".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let deployment = target.deployment.clone();
                    rt.block_on(watch(target, deployment, tx));
                }
                Err(e) => {
                    let _ = tx.send(WatchReport::Unreachable(format!(
                        "cannot start the watcher's runtime: {e}"
                    )));
                }
            }
        })?;
    Ok(rx)
}

/// The known pods and where the watch resumes.
#[derive(Debug, Default)]
struct PodSet {
    /// The DB Deployment's name, which the pods' owners are judged against.
    deployment: String,
    pods: BTreeMap<String, PodView>,
    resource_version: String,
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
        if let Some(rv) = &pod.metadata.resource_version {
            self.resource_version.clone_from(rv);
        }
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
    fn replace(&mut self, items: &[Pod], resource_version: String) -> Vec<String> {
        self.pods.clear();
        let lines = items.iter().filter_map(|p| self.note(p, false)).collect();
        let pods = &self.pods;
        self.ignored.retain(|name, _| pods.contains_key(name));
        self.resource_version = resource_version;
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

async fn list(api: &Api<Pod>, selector: &str, set: &mut PodSet) -> Result<(), String> {
    let lp = ListParams::default().labels(selector);
    let list = tokio::time::timeout(REQUEST, api.list(&lp))
        .await
        .map_err(|_| format!("no answer within {REQUEST:?}"))?
        .map_err(|e| e.to_string())?;
    let rv = list.metadata.resource_version.unwrap_or_default();
    for line in set.replace(&list.items, rv) {
        log(line);
    }
    Ok(())
}

/// How one watch ended.
enum WatchEnd {
    /// The server closed it: resume from the last resource version.
    Ended,
    /// Expired (410) or failed: list again.
    Relist(String),
    /// The supervisor is gone.
    Closed,
}

async fn watch_once(
    api: &Api<Pod>,
    selector: &str,
    set: &mut PodSet,
    tx: &Sender<WatchReport>,
) -> WatchEnd {
    let wp = WatchParams::default()
        .labels(selector)
        .timeout(WATCH_SECONDS);
    let stream = match tokio::time::timeout(REQUEST, api.watch(&wp, &set.resource_version)).await {
        Err(_) => return WatchEnd::Relist(format!("opening the watch took over {REQUEST:?}")),
        Ok(Err(e)) => return WatchEnd::Relist(format!("opening the watch: {e}")),
        Ok(Ok(s)) => s,
    };
    let mut stream = std::pin::pin!(stream);
    // Bounded: the server ends the watch after WATCH_SECONDS; a silent one is dropped.
    loop {
        let event = match tokio::time::timeout(WATCH_IDLE, stream.next()).await {
            Err(_) => return WatchEnd::Relist(format!("no event for {WATCH_IDLE:?}")),
            Ok(None) => return WatchEnd::Ended,
            Ok(Some(Err(e))) => return WatchEnd::Relist(format!("watch failed: {e}")),
            Ok(Some(Ok(event))) => event,
        };
        let line = match event {
            WatchEvent::Added(pod) | WatchEvent::Modified(pod) => set.note(&pod, false),
            WatchEvent::Deleted(pod) => set.note(&pod, true),
            WatchEvent::Bookmark(b) => {
                set.resource_version = b.metadata.resource_version;
                None
            }
            WatchEvent::Error(status) => {
                return WatchEnd::Relist(format!(
                    "the server ended the watch: {} ({})",
                    status.message, status.code
                ));
            }
        };
        if let Some(line) = line {
            log(line);
        }
        if !set.send_if_changed(tx) {
            return WatchEnd::Closed;
        }
    }
}

async fn watch(target: WatchTarget, deployment: String, tx: Sender<WatchReport>) {
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
    let selector = target.selector.as_str();
    let mut set = PodSet::new(deployment);

    let mut backoff = BACKOFF_MIN;
    let mut listed = Err(String::new());
    for attempt in 1..=START_ATTEMPTS {
        listed = list(&api, selector, &mut set).await;
        match &listed {
            Ok(()) => break,
            Err(e) if attempt < START_ATTEMPTS => {
                log(format!(
                    "listing pods at {server} failed (attempt {attempt} of {START_ATTEMPTS}, next in {backoff:?}): {e}"
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(_) => {}
        }
    }
    if let Err(e) = listed {
        let _ = tx.send(WatchReport::Unreachable(format!(
            "cannot list the pods `{selector}` in namespace {ns} at the Kubernetes API server {server} \
             ({START_ATTEMPTS} attempts): {e}; check that the server is reachable from this node and \
             that the pod's service account may get, list and watch pods in {ns} (Role ovnkube-db)",
            ns = target.namespace
        )));
        return;
    }
    log(format!(
        "listed {} pod(s) `{selector}` in {} at {server}; watching",
        set.pods.len(),
        target.namespace
    ));
    if !set.send_if_changed(&tx) {
        return;
    }

    backoff = BACKOFF_MIN;
    loop {
        let opened = tokio::time::Instant::now();
        match watch_once(&api, selector, &mut set, &tx).await {
            WatchEnd::Closed => return,
            WatchEnd::Ended if opened.elapsed() >= BACKOFF_MAX => {
                backoff = BACKOFF_MIN;
                continue;
            }
            WatchEnd::Ended => {
                // A server that ends watches at once must not make this loop spin.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            WatchEnd::Relist(why) => {
                log(format!("{why}; listing again in {backoff:?}"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        match list(&api, selector, &mut set).await {
            Ok(()) => {
                backoff = BACKOFF_MIN;
                if !set.send_if_changed(&tx) {
                    return;
                }
            }
            Err(e) => {
                log(format!("listing pods at {server} failed: {e}"));
                // Keep the resource version: the next watch fails fast (and lists again) or
                // resumes.
            }
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
        assert!(set.replace(&listed, "3".into()).is_empty());
        assert_eq!(set.resource_version, "3");
        // Every pod is passed on; the decision is pod_peers'.
        assert_eq!(set.pods.len(), 2);
        // Gone (deleted, or missing from a fresh list), then back: logged again.
        assert_eq!(set.note(&pod("rogue", false, 4), true), None);
        assert!(set.note(&pod("rogue", false, 5), false).is_some());
        assert!(set.replace(&listed[..1], "6".into()).is_empty());
        assert_eq!(set.replace(&listed, "7".into()).len(), 1);
        // Adopted by the ReplicaSet: no longer ignored; ignored again later: logged again.
        assert_eq!(set.note(&pod("rogue", true, 8), false), None);
        assert!(set.note(&pod("rogue", false, 9), false).is_some());
    }
}
