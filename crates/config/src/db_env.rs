//! Names of the environment variables the rendered `ovnkube-db` Deployment sets and the DB
//! entrypoint reads. Both sides use these constants, so they cannot drift apart.

/// The VIP, a plain address.
pub const VIP: &str = "OVN_DB_VIP";
/// Prefix length of the VIP's subnet; absent or empty → derived by IPaddr2.
pub const VIP_PREFIX: &str = "OVN_DB_VIP_PREFIX";
/// Northbound port.
pub const NB_PORT: &str = "OVN_NB_PORT";
/// Southbound port.
pub const SB_PORT: &str = "OVN_SB_PORT";
/// Port on the VIP that Northbound standbys replicate from (optional; the entrypoint has a
/// default). Only replicas connect there, so the active's replication fence knows them exactly.
pub const NB_REPLICATION_PORT: &str = "OVN_DB_HA_NB_REPLICATION_PORT";
/// Port on the VIP that Southbound standbys replicate from (optional).
pub const SB_REPLICATION_PORT: &str = "OVN_DB_HA_SB_REPLICATION_PORT";
/// The node the pod runs on (downward API `spec.nodeName`).
pub const NODE_NAME: &str = "K8S_NODE";
/// The pod's name (downward API `metadata.name`).
pub const POD_NAME: &str = "POD_NAME";
/// The pod's namespace (downward API `metadata.namespace`).
pub const POD_NAMESPACE: &str = "POD_NAMESPACE";
/// The pod's IP, which is the node's IP with hostNetwork (downward API `status.podIP`).
pub const POD_IP: &str = "POD_IP";
/// Path of the corosync authkey file mounted from the Secret.
pub const AUTHKEY_FILE: &str = "OVN_DB_HA_AUTHKEY_FILE";
/// Label selector of the pods of this Deployment, used to find the peers.
pub const PEER_SELECTOR: &str = "OVN_DB_HA_PEER_SELECTOR";
/// Name of the DB Deployment (optional; default [`DEFAULT_DEPLOYMENT`]). With API discovery only
/// pods controlled by one of its ReplicaSets (`<name>-<pod-template-hash>`) become members,
/// whatever labels other pods carry. The template spells this name out itself (the renderer's
/// table of names lacks it); the render test checks it against [`RENDERED`].
pub const DEPLOYMENT: &str = "OVN_DB_HA_DEPLOYMENT";
/// Static peer list `name=ip,…`, used instead of the API outside Kubernetes.
pub const PEERS: &str = "OVN_DB_HA_PEERS";
/// The DB Deployment's replica count. With API discovery the entrypoint makes corosync expect at
/// least this many votes, so a partial pod list never makes a minority quorate.
pub const REPLICAS: &str = "OVN_DB_HA_REPLICAS";
/// Seconds the entrypoint may spend handing over after SIGTERM.
pub const GRACE_SECONDS: &str = "OVN_DB_HA_GRACE_SECONDS";
/// Port of the pod's Prometheus metrics (`GET /metrics`); `0` serves none.
pub const METRICS_PORT: &str = "OVN_DB_HA_METRICS_PORT";
/// Corosync `token` timeout in milliseconds (optional timing knob; the entrypoint has a default).
pub const TOKEN_MS: &str = "OVN_DB_HA_TOKEN_MS";
/// Corosync `consensus` timeout in milliseconds (optional; default 1.2 × token).
pub const CONSENSUS_MS: &str = "OVN_DB_HA_CONSENSUS_MS";
/// Corosync `token_coefficient` in milliseconds, added to the token per node beyond two
/// (optional; default 0, corosync's own default is 650).
pub const TOKEN_COEFFICIENT_MS: &str = "OVN_DB_HA_TOKEN_COEFFICIENT_MS";
/// Interval of the promoted copy's recurring monitor in milliseconds (optional).
pub const PROMOTED_MONITOR_MS: &str = "OVN_DB_HA_PROMOTED_MONITOR_MS";
/// Interval of the unpromoted copies' recurring monitor in milliseconds (optional).
pub const UNPROMOTED_MONITOR_MS: &str = "OVN_DB_HA_UNPROMOTED_MONITOR_MS";
/// Pacemaker's `dc-deadtime` cluster property in milliseconds (optional).
pub const DC_DEADTIME_MS: &str = "OVN_DB_HA_DC_DEADTIME_MS";
/// Pacemaker's `transition-delay` in milliseconds (optional; 0 = run the scheduler at once).
pub const TRANSITION_DELAY_MS: &str = "OVN_DB_HA_TRANSITION_DELAY_MS";
/// `on` (default) or `off`: whether the entrypoint restarts the active copy's crashed server in
/// place (optional; `off` leaves every crash to Pacemaker's monitor, as OVN's shell agent does).
pub const CRASH_RESTART: &str = "OVN_DB_HA_CRASH_RESTART";
/// `on` (default) or `off`: whether the entrypoint's proxy holds replies until the standbys
/// confirmed them (semi-synchronous replication). `off`: the servers listen on the ports
/// themselves and replicate asynchronously, as with OVN's shell agent (optional).
pub const SEMI_SYNC: &str = "OVN_DB_HA_SEMI_SYNC";
/// `on` (default) or `off`: whether the node that takes the VIP sends tickle ACKs to the old
/// active's clients so that their stale sessions are reset at once (optional).
pub const CLIENT_TICKLE: &str = "OVN_DB_HA_CLIENT_TICKLE";

/// `yes` or `no` (default): whether the databases speak TLS (upstream's variable). With `yes`
/// the entrypoint's proxy ends `ssl:` sessions on the client and replication ports with the
/// key, certificate and CA under `/ovn-cert` (upstream's layout), and the standbys replicate
/// over `ssl:` (optional).
pub const SSL_ENABLE: &str = "OVN_SSL_ENABLE";

/// Name of the DB Deployment the templates render, the entrypoint's default for [`DEPLOYMENT`].
pub const DEFAULT_DEPLOYMENT: &str = "ovnkube-db";

/// Where the Secret with the corosync authkey is mounted in the DB pod.
pub const AUTHKEY_MOUNT_DIR: &str = "/etc/corosync-authkey";
/// Key of the authkey in the Secret, and file name under [`AUTHKEY_MOUNT_DIR`].
pub const AUTHKEY_KEY: &str = "authkey";
/// Name of the Secret holding the corosync authkey.
pub const AUTHKEY_SECRET: &str = "ovnkube-db-corosync-authkey";

/// Every variable the rendered Deployment sets, in the order it sets them (VIP_PREFIX only when
/// the VIP was given with a prefix).
pub const RENDERED: &[&str] = &[
    VIP,
    VIP_PREFIX,
    NB_PORT,
    SB_PORT,
    NODE_NAME,
    POD_NAME,
    POD_NAMESPACE,
    POD_IP,
    AUTHKEY_FILE,
    PEER_SELECTOR,
    DEPLOYMENT,
    REPLICAS,
    GRACE_SECONDS,
    METRICS_PORT,
];
