//! Defaults used when a flag is omitted. They follow the original ovn-kubernetes `daemonset.sh`
//! where one existed, so that existing habits keep working.

/// Image for ovnkube-master and ovnkube-node (`--image`): upstream's Ubuntu image
/// (`dist/images/Dockerfile.ubuntu`) built from the commit the manifests are written for
/// ([`crate::upstream::REVISION`]), named by that commit rather than a moving tag. Upstream never
/// published an image of that commit (its `docker.io/ovnkube/*:latest` builds date from 2019,
/// before `ovn-kube-util readiness-probe` existed): build and push it, or pass `--image`. The
/// README says how.
pub const IMAGE: &str = "ghcr.io/ovndb-ha/ovn-daemonset-u:05b8a7c34";
/// Repository that `cargo xtask image` tags and the release workflow pushes.
pub const DB_IMAGE_REPOSITORY: &str = "ghcr.io/ovndb-ha/ovn-daemonset";
/// Image for the DB HA pods (`--db-vip-image`): the one `cargo xtask image` builds.
pub const DB_IMAGE: &str = "ghcr.io/ovndb-ha/ovn-daemonset:latest";
/// Kubernetes API server (`--k8s-apiserver`), upstream's default.
pub const K8S_APISERVER: &str = "https://10.0.2.16:6443";
/// Cluster network (`--net-cidr`): cluster CIDR / per-node host-subnet length.
pub const NET_CIDR: &str = "10.128.0.0/14/23";
/// Service network (`--svc-cidr`).
pub const SVC_CIDR: &str = "172.30.0.0/16";
/// DB replicas (`--db-replicas`).
pub const DB_REPLICAS: &str = "3";
/// Namespace of every namespaced object (`--namespace`).
pub const NAMESPACE: &str = "ovn-kubernetes";
/// Label selecting the DB nodes (`--db-node-label`).
pub const DB_NODE_LABEL: &str = "openvswitch.org/ovnkube-db=true";
/// Pod network MTU written to the `ovn-config` ConfigMap (`--mtu`).
pub const MTU: &str = "1400";
/// Memory limit of the DB pod's container (`--db-memory-limit`). The container holds both
/// ovsdb-servers, Pacemaker and corosync; docs/benchmarks.md has what they peaked at per size.
pub const DB_MEMORY_LIMIT: &str = "1Gi";
/// The DB pod's memory request; the limit may not be below it.
pub const DB_MEMORY_REQUEST: &str = "256Mi";
/// The smallest memory limit we render: a pod with empty databases holds about 160 MB (its
/// memory cgroup, measured in the local cluster), and the data needs room on top.
pub const MIN_DB_MEMORY_LIMIT: &str = "512Mi";
/// OVSDB Northbound port.
pub const NB_PORT: u16 = 6641;
/// OVSDB Southbound port.
pub const SB_PORT: u16 = 6642;
/// The DB pods' Prometheus metrics port (host network; clear of ovn-kubernetes' 9409, 9410
/// and 9476).
pub const DB_METRICS_PORT: u16 = 9479;
/// Fewest DB replicas: a majority must survive the loss of one node without fencing.
pub const MIN_DB_REPLICAS: u32 = 3;
/// Most DB replicas we render: beyond this, corosync membership changes get slow.
pub const MAX_DB_REPLICAS: u32 = 16;
/// Seconds the kubelet waits after SIGTERM: enough to hand the active copy to another node.
pub const DB_TERMINATION_GRACE_SECONDS: u32 = 60;
