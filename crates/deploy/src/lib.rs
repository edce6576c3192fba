//! Deploys the rendered manifests (`dist/yaml`) to a real Kubernetes cluster with kube-rs:
//! server-side apply in dependency order, a bounded wait for the databases, node labelling and
//! deletion in reverse order. The corosync authkey Secret is only created when absent: a
//! running cluster's key is never replaced ([`plan::CREATE_ONLY`]).
//!
//! The plan (which objects, in which order, with which waits) is computed by pure functions
//! from the manifests' text; only [`cluster`] talks to the API server. This crate does not
//! render manifests and does not run the local test cluster.

pub mod cluster;
pub mod db_wait;
pub mod error;
pub mod kinds;
pub mod objects;
pub mod plan;

pub use cluster::{FIELD_MANAGER, Options, Progress};
pub use error::{ClusterError, PlanError};
pub use objects::{ApplyMode, Object};
pub use plan::{DbRequirements, Plan};
