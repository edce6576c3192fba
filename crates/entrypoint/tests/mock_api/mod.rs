//! A mock Kubernetes API server for the discovery test — the only mock these tests use, because
//! no real API server can run on the project's machines. Plain HTTP/1.1 (hyper 1), serving
//! exactly what the entrypoint's pod watcher asks for:
//! `GET /api/v1/namespaces/<ns>/pods?labelSelector=<sel>` (a PodList with a resourceVersion)
//! and the same with `watch=true` (a streaming watch: one JSON event per line, from the given
//! resourceVersion on, ended after `timeoutSeconds`). Anything else is a 404 Status.
//!
//! It also takes `PATCH /api/v1/namespaces/<ns>/pods/<name>` with a JSON merge patch (RFC 7386,
//! as kube-rs sends `Patch::Merge`), applied to the stored pod as a MODIFIED event: the
//! entrypoint patches its own pod's deletion cost.
//!
//! The test changes the pods through [`MockApi::set_pod`] / [`MockApi::put_pod`] /
//! [`MockApi::delete_pod`]; each change gets the next resourceVersion and is pushed to open
//! watches. A pod of [`MockApi::pod`] looks like one of the Deployment's as the API server
//! lists it: controlled by the ReplicaSet `ovnkube-db-<hash>` ([`DEPLOYMENT`], [`TEMPLATE_HASH`]),
//! labelled with that hash, hostNetwork, hostIP = podIP; the test alters one to make a rogue pod. It listens only on the
//! address the test gives it (the test bed's bridge address).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Body = BoxBody<Bytes, Infallible>;

/// The Deployment the mock's pods belong to.
pub const DEPLOYMENT: &str = "ovnkube-db";
/// The pod-template-hash of its current ReplicaSet.
pub const TEMPLATE_HASH: &str = "5d8f7b9c6";

#[derive(Debug, Default)]
struct State {
    rv: u64,
    pods: BTreeMap<String, Value>,
    /// Every change: (resourceVersion, event type, object).
    events: Vec<(u64, &'static str, Value)>,
    /// Requests served, `METHOD path?query`.
    requests: Vec<String>,
}

/// The mock server; stops when dropped.
#[derive(Debug)]
pub struct MockApi {
    pub addr: SocketAddr,
    namespace: String,
    selector: String,
    state: Arc<Mutex<State>>,
    changed: tokio::sync::watch::Sender<u64>,
    _runtime: tokio::runtime::Runtime,
}

impl MockApi {
    /// Starts serving on `bind` (port 0: any free port).
    pub fn start(bind: SocketAddr, namespace: &str, selector: &str) -> MockApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(bind))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (changed, _) = tokio::sync::watch::channel(0u64);
        let shared = Arc::new(Shared {
            namespace: namespace.to_string(),
            selector: selector.to_string(),
            state: Arc::clone(&state),
            changed: changed.clone(),
        });
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(shared.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MockApi {
            addr,
            namespace: namespace.to_string(),
            selector: selector.to_string(),
            state,
            changed,
            _runtime: runtime,
        }
    }

    /// A running hostNetwork pod of the Deployment on `node` at `ip` (not stored).
    pub fn pod(&self, name: &str, node: &str, ip: &str) -> Value {
        let mut labels: BTreeMap<&str, &str> = self
            .selector
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        labels.insert("pod-template-hash", TEMPLATE_HASH);
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": format!("{DEPLOYMENT}-{TEMPLATE_HASH}"),
                    "uid": "0c7d3a52-5d8f-4b9c-9a1e-000000000001",
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "nodeName": node,
                "hostNetwork": true,
                "containers": [{"name": "ovnkube-db-ha"}],
            },
            "status": {"phase": "Running", "podIP": ip, "hostIP": ip},
        })
    }

    /// Adds or replaces a running pod of the Deployment on `node` at `ip`.
    pub fn set_pod(&self, name: &str, node: &str, ip: &str) {
        self.put_pod(self.pod(name, node, ip));
    }

    /// Adds or replaces a pod object (named by its `metadata.name`).
    pub fn put_pod(&self, mut pod: Value) {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let mut state = self.state.lock().unwrap();
        state.rv += 1;
        let rv = state.rv;
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        let kind = if state.pods.contains_key(&name) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        state.pods.insert(name, pod.clone());
        state.events.push((rv, kind, pod));
        drop(state);
        self.changed.send_replace(rv);
    }

    /// Deletes a pod (the object is gone).
    pub fn delete_pod(&self, name: &str) {
        let mut state = self.state.lock().unwrap();
        let Some(mut pod) = state.pods.remove(name) else {
            return;
        };
        state.rv += 1;
        let rv = state.rv;
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        state.events.push((rv, "DELETED", pod));
        drop(state);
        self.changed.send_replace(rv);
    }

    /// The requests served so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// A stored pod object, as the API server holds it now.
    pub fn pod_object(&self, name: &str) -> Option<Value> {
        self.state.lock().unwrap().pods.get(name).cloned()
    }
}

/// Applies a JSON merge patch (RFC 7386) to `target`.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Some(obj) = target.as_object_mut() else {
        return;
    };
    for (k, v) in fields {
        if v.is_null() {
            obj.remove(k);
        } else {
            merge(obj.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

struct Shared {
    namespace: String,
    selector: String,
    state: Arc<Mutex<State>>,
    changed: tokio::sync::watch::Sender<u64>,
}

fn full(status: StatusCode, body: Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn status(code: StatusCode, message: &str) -> Response<Body> {
    full(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "message": message, "code": code.as_u16()}),
    )
}

/// Decodes `%XX` and `+` in a query value.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let uri = req.uri().clone();
        self.state
            .lock()
            .unwrap()
            .requests
            .push(format!("{} {uri}", req.method()));
        let want = format!("/api/v1/namespaces/{}/pods", self.namespace);
        if req.method() == hyper::Method::PATCH
            && let Some(name) = uri.path().strip_prefix(&format!("{want}/"))
        {
            let name = name.to_string();
            let merge_patch = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .is_some_and(|t| t == "application/merge-patch+json");
            let Ok(body) = req.into_body().collect().await else {
                return status(StatusCode::BAD_REQUEST, "unreadable body");
            };
            let Ok(patch) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
                return status(StatusCode::BAD_REQUEST, "not JSON");
            };
            if !merge_patch {
                return status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "only merge patches");
            }
            return self.patch(&name, &patch);
        }
        if req.method() != hyper::Method::GET || uri.path() != want {
            return status(StatusCode::NOT_FOUND, "not served by the mock");
        }
        let query: BTreeMap<String, String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), unescape(v)))
            .collect();
        if query.get("labelSelector") != Some(&self.selector) {
            return status(StatusCode::BAD_REQUEST, "unexpected labelSelector");
        }
        if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
            let from: u64 = query
                .get("resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let secs: u64 = query
                .get("timeoutSeconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(60)
                .min(600);
            return self.watch(from, Duration::from_secs(secs));
        }
        let state = self.state.lock().unwrap();
        full(
            StatusCode::OK,
            json!({
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": {"resourceVersion": state.rv.to_string()},
                "items": state.pods.values().cloned().collect::<Vec<_>>(),
            }),
        )
    }

    /// Applies a merge patch to a stored pod (a MODIFIED event); 404 for an unknown pod.
    fn patch(&self, name: &str, patch: &Value) -> Response<Body> {
        let mut state = self.state.lock().unwrap();
        let Some(mut pod) = state.pods.get(name).cloned() else {
            return status(StatusCode::NOT_FOUND, "no such pod");
        };
        merge(&mut pod, patch);
        state.rv += 1;
        let rv = state.rv;
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        state.pods.insert(name.to_string(), pod.clone());
        state.events.push((rv, "MODIFIED", pod.clone()));
        drop(state);
        self.changed.send_replace(rv);
        full(StatusCode::OK, pod)
    }

    /// A streaming watch from resourceVersion `from`, ended after `limit`.
    fn watch(&self, from: u64, limit: Duration) -> Response<Body> {
        let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(16);
        let state = Arc::clone(&self.state);
        let mut changed = self.changed.subscribe();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + limit;
            let mut sent = from;
            // Bounded by the watch's own timeout.
            loop {
                let due: Vec<(u64, String)> = state
                    .lock()
                    .unwrap()
                    .events
                    .iter()
                    .filter(|(rv, _, _)| *rv > sent)
                    .map(|(rv, kind, obj)| {
                        (*rv, format!("{}\n", json!({"type": kind, "object": obj})))
                    })
                    .collect();
                for (rv, line) in due {
                    if tx.send(Frame::data(Bytes::from(line))).await.is_err() {
                        return;
                    }
                    sent = rv;
                }
                match tokio::time::timeout_at(deadline, changed.changed()).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
        });
        let mut resp = Response::new(body.boxed());
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        resp
    }
}
