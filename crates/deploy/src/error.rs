//! Typed errors: planning (bad manifests) and talking to the cluster.

use std::path::PathBuf;

/// The manifests cannot be turned into a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{0} is missing: render the manifests first (./dist/images/daemonset.sh or cargo xtask render)"
    )]
    MissingFile(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not valid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: an object has no {what}")]
    MissingField { file: String, what: String },
    #[error(
        "{file}: unexpected object kind {api_version}/{kind}; re-render the manifests with this version"
    )]
    UnknownKind {
        file: String,
        api_version: String,
        kind: String,
    },
    #[error("ovnkube-db-ha.yaml: {0}")]
    DbDeployment(String),
}

/// A step against the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{action} {object}: {source}")]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("{object}: cannot encode it for the API server: {source}")]
    Encode {
        object: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("node {0} does not exist; check the names given to --label-db-nodes")]
    NoSuchNode(String),
    #[error(
        "only {have} node(s) carry the label {label}, but the DB Deployment wants {need} replicas; label more nodes (--label-db-nodes n1,n2,n3) or render with --db-replicas={have}"
    )]
    TooFewLabelledNodes {
        have: usize,
        need: u32,
        label: String,
    },
    #[error("watch {object}: {source}")]
    Watch {
        object: String,
        #[source]
        source: kube::runtime::watcher::Error,
    },
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
}
