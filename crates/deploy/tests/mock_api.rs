//! Deployment against a **mocked Kubernetes API server**: no API server can be installed on the
//! project's machines, so a `tower-test` mock service stands in for it behind a real
//! `kube::Client`. The fake keeps just enough state (nodes and their labels, applied objects and
//! their bodies, a Deployment that becomes available after a few polls, list and watch answers
//! for kube-runtime's watcher) to check apply order, server-side apply parameters, waiting,
//! labelling, deletion, the error paths, and that the corosync authkey Secret is created when
//! absent and never replaced when the cluster holds one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{Request, Response, StatusCode};
use kube::client::Body;
use ovn_ha_deploy::{ClusterError, Options, Plan, Progress, cluster};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower_test::mock;

mod common;

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    content_type: String,
}

/// State of the fake cluster.
#[derive(Debug, Default)]
struct Fake {
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    applied: Vec<String>,
    deployment_polls: u32,
    /// Polls after which the DB Deployment reports all replicas available (None: never).
    available_after: Option<u32>,
    /// A path fragment that answers 403.
    forbidden: Option<String>,
    /// Object path → the body the cluster holds (applied, created, or there before).
    stored: BTreeMap<String, Value>,
    /// Stored under the path of the next create, which then answers AlreadyExists: another
    /// client created the object between our read and our create.
    created_meanwhile: Option<Value>,
    seen: Vec<Seen>,
}

fn status(code: StatusCode, reason: &str) -> Response<Body> {
    let body = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code.as_u16()});
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn ok(value: Value) -> Response<Body> {
    Response::new(Body::from(serde_json::to_vec(&value).unwrap()))
}

fn node(name: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

impl Fake {
    fn is_applied(&self, plural: &str, name: &str) -> bool {
        self.applied
            .iter()
            .any(|p| p.ends_with(&format!("{plural}/{name}")))
    }

    /// The DB Deployment as the cluster reports it now; each read counts as one poll.
    fn deployment(&mut self, name: &str) -> Option<Value> {
        if !self.is_applied("deployments", name) {
            return None;
        }
        self.deployment_polls += 1;
        let available = match self.available_after {
            Some(n) if self.deployment_polls > n => 3,
            _ => 1,
        };
        Some(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "resourceVersion": self.deployment_polls.to_string()},
            "status": {"availableReplicas": available}}))
    }

    fn endpoints(&self, name: &str) -> Option<Value> {
        self.is_applied("endpoints", name).then(|| {
            json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "resourceVersion": "1"},
                "subsets": [{"addresses": [{"ip": "10.0.2.100"}]}]})
        })
    }

    fn answer(&mut self, seen: &Seen, body: &[u8]) -> Response<Body> {
        if self
            .forbidden
            .as_ref()
            .is_some_and(|f| format!("{}?{}", seen.path, seen.query).contains(f.as_str()))
        {
            return status(StatusCode::FORBIDDEN, "Forbidden");
        }
        let parts: Vec<&str> = seen.path.trim_matches('/').split('/').collect();
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match (seen.method.as_str(), parts.as_slice()) {
            ("PATCH", ["api", "v1", "nodes", name]) => {
                let Some(labels) = self.nodes.get_mut(*name) else {
                    return status(StatusCode::NOT_FOUND, "NotFound");
                };
                for (k, v) in body["metadata"]["labels"].as_object().unwrap() {
                    labels.insert(k.clone(), v.as_str().unwrap().into());
                }
                ok(node(name, labels))
            }
            ("GET", ["api", "v1", "nodes"]) => {
                let selector = seen
                    .query
                    .split('&')
                    .find_map(|q| q.strip_prefix("labelSelector="))
                    .unwrap();
                let selector = selector.replace("%3D", "=").replace("%2F", "/");
                let (k, v) = selector.split_once('=').unwrap();
                let items: Vec<Value> = self
                    .nodes
                    .iter()
                    .filter(|(_, l)| l.get(k).map(String::as_str) == Some(v))
                    .map(|(n, l)| node(n, l))
                    .collect();
                ok(json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": items}))
            }
            ("PATCH", _) => {
                self.applied.push(seen.path.clone());
                self.stored.insert(seen.path.clone(), body.clone());
                ok(body)
            }
            ("POST", _) => {
                let name = body["metadata"]["name"].as_str().unwrap();
                let path = format!("{}/{name}", seen.path);
                if let Some(theirs) = self.created_meanwhile.take() {
                    self.stored.insert(path.clone(), theirs);
                }
                if self.stored.contains_key(&path) {
                    return status(StatusCode::CONFLICT, "AlreadyExists");
                }
                self.applied.push(path.clone());
                self.stored.insert(path, body.clone());
                ok(body)
            }
            ("GET", [.., "secrets", _]) => match self.stored.get(&seen.path) {
                Some(v) => ok(v.clone()),
                None => status(StatusCode::NOT_FOUND, "NotFound"),
            },
            // kube-runtime's watcher: a list, then watches; each watch answers at once with the
            // object as it is (a finite body), and the watcher watches again.
            ("GET", [.., plural @ ("deployments" | "endpoints")]) => {
                let name = seen
                    .query
                    .split('&')
                    .find_map(|q| q.strip_prefix("fieldSelector=metadata.name%3D"))
                    .unwrap()
                    .to_string();
                let object = if *plural == "deployments" {
                    self.deployment(&name)
                } else {
                    self.endpoints(&name)
                };
                if seen.query.contains("watch=true") {
                    let event = object.map(|o| json!({"type": "MODIFIED", "object": o}));
                    let line = event.map(|e| format!("{e}\n")).unwrap_or_default();
                    Response::new(Body::from(line.into_bytes()))
                } else {
                    ok(json!({"apiVersion": "v1", "kind": "List",
                        "metadata": {"resourceVersion": "1"}, "items": object.into_iter().collect::<Vec<_>>()}))
                }
            }
            ("DELETE", _) => {
                let before = self.applied.len();
                self.applied.retain(|p| p != &seen.path);
                self.stored.remove(&seen.path);
                if self.applied.len() == before {
                    status(StatusCode::NOT_FOUND, "NotFound")
                } else {
                    ok(
                        json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success"}),
                    )
                }
            }
            _ => status(StatusCode::NOT_FOUND, "NotFound"),
        }
    }
}

/// A kube client whose requests the fake answers, until the client is dropped.
fn client(fake: Arc<Mutex<Fake>>) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        // Bounded: the test's requests are few; the loop ends when the client is dropped.
        for _ in 0..10_000 {
            let Some((req, send)) = handle.next_request().await else {
                return;
            };
            let seen = Seen {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                query: req.uri().query().unwrap_or("").to_string(),
                content_type: req
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
            };
            let body = req.into_body().collect_bytes().await.unwrap();
            if seen.query.contains("watch=true") {
                // A real watch holds its connection open; pace the fake's finite ones.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut f = fake.lock().unwrap();
            let resp = f.answer(&seen, &body);
            f.seen.push(seen);
            send.send_response(resp);
        }
    });
    (kube::Client::new(service, "default"), server)
}

#[derive(Default)]
struct Log(Vec<String>);

impl Progress for Log {
    fn step(&mut self, text: &str) {
        self.0.push(text.into());
    }
    fn waiting(&mut self, text: &str) {
        self.0.push(format!("… {text}"));
    }
}

fn plan() -> Plan {
    Plan::from_files(&common::seed_files()).unwrap()
}

fn fake(nodes: &[(&str, bool)], available_after: Option<u32>) -> Arc<Mutex<Fake>> {
    let mut f = Fake {
        available_after,
        ..Fake::default()
    };
    for (name, labelled) in nodes {
        let mut labels = BTreeMap::from([("kubernetes.io/hostname".to_string(), name.to_string())]);
        if *labelled {
            labels.insert("openvswitch.org/ovnkube-db".into(), "true".into());
        }
        f.nodes.insert(name.to_string(), labels);
    }
    Arc::new(Mutex::new(f))
}

fn fast(label: &[&str], timeout_ms: u64) -> Options {
    Options {
        label_nodes: label.iter().map(|s| s.to_string()).collect(),
        wait_timeout: Duration::from_millis(timeout_ms),
    }
}

#[tokio::test]
async fn labels_applies_in_order_with_server_side_apply_and_waits_for_the_databases() {
    let state = fake(
        &[("n1", false), ("n2", false), ("n3", false), ("n4", false)],
        Some(2),
    );
    let (client, server) = client(state.clone());
    let plan = plan();
    let mut log = Log::default();
    cluster::deploy(&client, &plan, &fast(&["n1", "n2", "n3"], 5_000), &mut log)
        .await
        .unwrap();
    drop(client);
    server.await.unwrap();
    let f = state.lock().unwrap();
    // Labelling first, then the count, then every object in plan order.
    let methods: Vec<&str> = f.seen.iter().map(|s| s.method.as_str()).take(4).collect();
    assert_eq!(methods, ["PATCH", "PATCH", "PATCH", "GET"]);
    assert!(f.seen[0].content_type.contains("merge-patch"));
    assert_eq!(f.nodes["n1"]["openvswitch.org/ovnkube-db"], "true");
    assert!(!f.nodes["n4"].contains_key("openvswitch.org/ovnkube-db"));
    let want: Vec<String> = plan
        .objects()
        .map(|o| {
            let base = if o.kind.api_version.contains('/') {
                format!("/apis/{}", o.kind.api_version)
            } else {
                format!("/api/{}", o.kind.api_version)
            };
            match &o.namespace {
                Some(ns) => format!("{base}/namespaces/{ns}/{}/{}", o.kind.plural, o.name),
                None => format!("{base}/{}/{}", o.kind.plural, o.name),
            }
        })
        .collect();
    assert_eq!(f.applied, want);
    for s in f
        .seen
        .iter()
        .filter(|s| s.method == "PATCH" && !s.path.contains("/nodes/"))
    {
        assert!(s.query.contains("fieldManager=ovndb-ha"), "{s:?}");
        assert!(s.query.contains("force=true"), "{s:?}");
        assert_eq!(s.content_type, "application/apply-patch+yaml");
    }
    // The control plane is applied only after the databases were seen available.
    let master = f
        .seen
        .iter()
        .position(|s| s.path.ends_with("deployments/ovnkube-master"))
        .unwrap();
    let last_poll = f
        .seen
        .iter()
        .rposition(|s| {
            s.method == "GET"
                && s.path.ends_with("/deployments")
                && s.query.contains("metadata.name%3Dovnkube-db")
        })
        .unwrap();
    assert!(last_poll < master);
    assert_eq!(f.deployment_polls, 3);
    assert!(
        log.0
            .iter()
            .any(|l| l.starts_with("… waiting for the databases: 1/3"))
    );
    assert!(
        log.0
            .iter()
            .any(|l| l.starts_with("databases available (3/3"))
    );
}

#[tokio::test]
async fn refuses_when_fewer_nodes_are_labelled_than_replicas() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", false)], Some(0));
    let (client, server) = client(state.clone());
    let err = cluster::deploy(&client, &plan(), &fast(&[], 1_000), &mut Log::default())
        .await
        .unwrap_err();
    drop(client);
    server.await.unwrap();
    assert!(
        matches!(
            err,
            ClusterError::TooFewLabelledNodes {
                have: 2,
                need: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--label-db-nodes"));
    assert!(state.lock().unwrap().applied.is_empty(), "nothing applied");
}

#[tokio::test]
async fn labelling_an_unknown_node_is_a_clear_error() {
    let state = fake(&[("n1", false)], Some(0));
    let (client, server) = client(state.clone());
    let err = cluster::deploy(
        &client,
        &plan(),
        &fast(&["n1", "nx"], 1_000),
        &mut Log::default(),
    )
    .await
    .unwrap_err();
    drop(client);
    server.await.unwrap();
    assert!(
        matches!(&err, ClusterError::NoSuchNode(n) if n == "nx"),
        "{err}"
    );
    assert!(state.lock().unwrap().applied.is_empty());
}

#[tokio::test]
async fn wait_is_bounded_and_stops_before_the_control_plane() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], None);
    let (client, server) = client(state.clone());
    let err = cluster::deploy(&client, &plan(), &fast(&[], 60), &mut Log::default())
        .await
        .unwrap_err();
    drop(client);
    server.await.unwrap();
    assert!(matches!(err, ClusterError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("1/3 pods"), "{err}");
    let f = state.lock().unwrap();
    assert!(
        !f.applied
            .iter()
            .any(|p| p.ends_with("deployments/ovnkube-master"))
    );
}

#[tokio::test]
async fn a_watch_refused_before_its_first_list_stops_the_wait_at_once() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    // The list of the Endpoints is refused; applying them (a PATCH by name) is not.
    state.lock().unwrap().forbidden = Some("/endpoints?".into());
    let (client, server) = client(state.clone());
    let err = cluster::deploy(&client, &plan(), &fast(&[], 30_000), &mut Log::default())
        .await
        .unwrap_err();
    drop(client);
    server.await.unwrap();
    assert!(matches!(err, ClusterError::Watch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("watch Endpoints ovn-kubernetes/ovnkube-db"),
        "{text}"
    );
    let f = state.lock().unwrap();
    assert!(
        !f.applied
            .iter()
            .any(|p| p.ends_with("deployments/ovnkube-master"))
    );
}

#[tokio::test]
async fn api_errors_name_the_object_and_stop() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    state.lock().unwrap().forbidden = Some("clusterroles/ovnkube-master".into());
    let (client, server) = client(state.clone());
    let err = cluster::deploy(&client, &plan(), &fast(&[], 1_000), &mut Log::default())
        .await
        .unwrap_err();
    drop(client);
    server.await.unwrap();
    let text = err.to_string();
    assert!(text.contains("apply ClusterRole ovnkube-master"), "{text}");
    let f = state.lock().unwrap();
    assert!(!f.applied.iter().any(|p| p.contains("clusterrolebindings")));
}

#[tokio::test]
async fn delete_goes_in_reverse_order_and_skips_absent_objects() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    let (client, server) = client(state.clone());
    let plan = plan();
    cluster::deploy(&client, &plan, &fast(&[], 1_000), &mut Log::default())
        .await
        .unwrap();
    let applied = state.lock().unwrap().applied.clone();
    // Something already gone: the ConfigMap.
    state
        .lock()
        .unwrap()
        .applied
        .retain(|p| !p.contains("configmaps"));
    let mut log = Log::default();
    cluster::delete_all(&client, &plan, &mut log).await.unwrap();
    drop(client);
    server.await.unwrap();
    let f = state.lock().unwrap();
    assert!(f.applied.is_empty());
    let deleted: Vec<String> = f
        .seen
        .iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path.clone())
        .collect();
    let mut want = applied;
    want.reverse();
    assert_eq!(deleted, want);
    assert!(
        log.0
            .iter()
            .any(|l| l == "absent: ConfigMap ovn-kubernetes/ovn-config")
    );
    assert!(log.0.last().unwrap().starts_with("deleted Namespace"));
}

/// Where the fake keeps the corosync authkey Secret.
const SECRET: &str = "/api/v1/namespaces/ovn-kubernetes/secrets/ovnkube-db-corosync-authkey";

/// A Secret of that name holding another key, as a cluster deployed earlier would.
fn other_secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "ovnkube-db-corosync-authkey", "namespace": "ovn-kubernetes",
            "resourceVersion": "42"},
        "data": {"authkey": "b3RoZXIga2V5IG9mIHRoZSBydW5uaW5nIGNsdXN0ZXI="}})
}

/// Requests that wrote to the Secret (by its path or its collection's).
fn secret_writes(f: &Fake) -> Vec<Seen> {
    f.seen
        .iter()
        .filter(|s| s.method != "GET" && s.path.contains("/secrets"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_absent_authkey_secret_is_created_and_then_left_alone() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    let (client, server) = client(state.clone());
    let plan = plan();
    let mut log = Log::default();
    cluster::deploy(&client, &plan, &fast(&[], 1_000), &mut log)
        .await
        .unwrap();
    {
        let f = state.lock().unwrap();
        // Read first, then created (POST with our field manager), never applied over.
        let get = f
            .seen
            .iter()
            .position(|s| s.method == "GET" && s.path == SECRET)
            .unwrap();
        let writes = secret_writes(&f);
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].method, "POST");
        assert_eq!(writes[0].path, "/api/v1/namespaces/ovn-kubernetes/secrets");
        assert!(
            writes[0].query.contains("fieldManager=ovndb-ha"),
            "{writes:?}"
        );
        let post = f.seen.iter().position(|s| s.method == "POST").unwrap();
        assert!(get < post);
        let wanted = plan.objects().find(|o| o.kind.kind == "Secret").unwrap();
        assert_eq!(f.stored[SECRET]["data"], wanted.value["data"]);
    }
    assert!(
        log.0
            .iter()
            .any(|l| l.starts_with("created Secret ovn-kubernetes/ovnkube-db-corosync-authkey")),
        "{:?}",
        log.0
    );

    // Deploying the same manifests again: the cluster's copy matches, nothing is written.
    let mut again = Log::default();
    cluster::deploy(&client, &plan, &fast(&[], 1_000), &mut again)
        .await
        .unwrap();
    drop(client);
    server.await.unwrap();
    assert_eq!(secret_writes(&state.lock().unwrap()).len(), 1);
    assert!(
        again.0.iter().any(|l| l.starts_with(
            "kept Secret ovn-kubernetes/ovnkube-db-corosync-authkey (the cluster's matches"
        )),
        "{:?}",
        again.0
    );
}

#[tokio::test]
async fn a_running_clusters_authkey_is_never_replaced() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    state
        .lock()
        .unwrap()
        .stored
        .insert(SECRET.into(), other_secret());
    let (client, server) = client(state.clone());
    let mut log = Log::default();
    cluster::deploy(&client, &plan(), &fast(&[], 1_000), &mut log)
        .await
        .unwrap();
    drop(client);
    server.await.unwrap();
    let f = state.lock().unwrap();
    assert_eq!(
        f.stored[SECRET],
        other_secret(),
        "the cluster's Secret is untouched"
    );
    assert!(secret_writes(&f).is_empty(), "{:?}", secret_writes(&f));
    // One line says so and how rotating works, and the deployment went on to the end.
    let kept: Vec<&String> = log.0.iter().filter(|l| l.contains("Secret")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    for want in [
        "kept Secret ovn-kubernetes/ovnkube-db-corosync-authkey as the cluster holds it",
        "differs from ovn-setup.yaml's",
        "restarting every DB pod of Deployment ovn-kubernetes/ovnkube-db at once",
    ] {
        assert!(kept[0].contains(want), "{want:?} missing: {}", kept[0]);
    }
    assert!(
        f.applied
            .iter()
            .any(|p| p.ends_with("daemonsets/ovnkube-node"))
    );
}

#[tokio::test]
async fn a_secret_created_between_read_and_create_is_kept() {
    let state = fake(&[("n1", true), ("n2", true), ("n3", true)], Some(0));
    state.lock().unwrap().created_meanwhile = Some(other_secret());
    let (client, server) = client(state.clone());
    let mut log = Log::default();
    cluster::deploy(&client, &plan(), &fast(&[], 1_000), &mut log)
        .await
        .unwrap();
    drop(client);
    server.await.unwrap();
    let f = state.lock().unwrap();
    assert_eq!(f.stored[SECRET], other_secret());
    let gets = f
        .seen
        .iter()
        .filter(|s| s.method == "GET" && s.path == SECRET)
        .count();
    assert_eq!(gets, 2, "read again after AlreadyExists");
    assert!(
        log.0
            .iter()
            .any(|l| l.starts_with("kept Secret") && l.contains("differs")),
        "{:?}",
        log.0
    );
}
