//! The embedded local cluster behind `cargo xtask deploy` when no Kubernetes cluster is named:
//! test-bed hosts (network + mount namespaces on this machine), each running the rendered
//! `ovnkube-db` pod template from the image under runc, as a kubelet would.
//!
//! [`pod_template`] reads the container, its environment and its volumes from the rendered
//! Deployment; [`runtime_spec`] turns them into an OCI runtime configuration for one host
//! (downward-API values filled in, volumes as per-host directories or tmpfs, the capabilities a
//! container runtime grants plus the rendered ones, the rlimits a runtime sets, the rendered
//! memory limit on the container's cgroup). Both are pure; [`pod_memory`] reads that cgroup back.
//! [`cluster`] does the I/O: hosts from the test bed, the image unpacked with umoci, one runc
//! container per host, and teardown by name. This crate never talks to a Kubernetes API server.

pub mod backup;
pub mod chaos;
pub mod cluster;
pub mod e2e;
pub mod eyes;
pub mod faults;
pub mod idl_writer;
pub mod idle_session;
pub mod limits;
pub mod metrics_scrape;
pub mod northd;
pub mod observe;
pub mod ovsdb_rpc;
pub mod pod_memory;
pub mod pod_template;
pub mod poll;
pub mod raft;
pub mod rootfs_cache;
pub mod runtime_spec;
pub mod sb_crowd;
pub mod scale;
pub mod secrets;
pub mod upgrade;
pub mod workspace;
pub mod writer;

pub use pod_template::{PodTemplate, TemplateError};
pub use runtime_spec::{HostContext, SpecError};
