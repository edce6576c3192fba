//! The DB pod entrypoint `ovnkube-db-ha` as a library: the pure parts (environment parsing,
//! peers and node ids, `corosync.conf`, the CIB as typed Rust, `crm_mon` XML parsing, the
//! status view) and the small process helpers the binary's subcommands use.
//!
//! Pure modules do no I/O and are tested with data tables and golden files under `testdata/`.
//! The binary (`src/main.rs`, `src/cmd/`) does the I/O: files, child processes, signals. One
//! exception: [`sync_proxy`], the semi-synchronous proxy's I/O (tokio), lives here so that
//! `tests/semi_sync.rs` can run it between real ovsdb-servers.
//!
//! # Environment read by `run` (names from `ovn_ha_config::db_env`)
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `OVN_DB_VIP` | yes | | VIP address (`ADDR` or `ADDR/LEN`) |
//! | `OVN_DB_VIP_PREFIX` | no | from `OVN_DB_VIP`, else IPaddr2 derives it | VIP prefix length |
//! | `OVN_NB_PORT` / `OVN_SB_PORT` | no | 6641 / 6642 | OVSDB ports (must differ) |
//! | `OVN_DB_HA_NB_REPLICATION_PORT` / `OVN_DB_HA_SB_REPLICATION_PORT` | no | 6643 / 6644 | ports on the VIP standbys replicate from (all four ports differ) |
//! | `K8S_NODE` | yes | | this node's name (corosync/Pacemaker node name) |
//! | `POD_IP` | yes | | this node's ring address |
//! | `POD_NAME` | no | | informational |
//! | `POD_NAMESPACE` | with the selector | | namespace of the pods to discover |
//! | `OVN_DB_HA_AUTHKEY_FILE` | no | `/etc/corosync-authkey/authkey` | corosync authkey, 128–4096 bytes |
//! | `OVN_DB_HA_PEERS` | one of these two | | static members `name=ip,...`, this node included |
//! | `OVN_DB_HA_PEER_SELECTOR` | one of these two | | label selector of the Deployment's pods (API discovery) |
//! | `OVN_DB_HA_REPLICAS` | with the selector | | the Deployment's replica count: corosync's minimum `expected_votes` (1–16) |
//! | `KUBECONFIG` | no | in-cluster service account | API client configuration (`kube::Config::infer`) |
//! | `OVN_DB_HA_GRACE_SECONDS` | no | 30 | handover budget after SIGTERM (1–3600) |
//! | `OVN_DB_HA_TOKEN_MS` | no | 600 | corosync `token` (200–30000) |
//! | `OVN_DB_HA_CONSENSUS_MS` | no | 1.2 × token | corosync `consensus` (≥ 1.2 × token) |
//! | `OVN_DB_HA_TOKEN_COEFFICIENT_MS` | no | 0 | corosync `token_coefficient` |
//! | `OVN_DB_HA_PROMOTED_MONITOR_MS` / `OVN_DB_HA_UNPROMOTED_MONITOR_MS` | no | 1000 / 2000 | the agent's recurring monitors (must differ) |
//! | `OVN_DB_HA_DC_DEADTIME_MS` | no | 5000 | Pacemaker `dc-deadtime` |
//! | `OVN_DB_HA_TRANSITION_DELAY_MS` | no | 100 | Pacemaker `transition-delay` (0–5000) |
//! | `OVN_DB_HA_CRASH_RESTART` | no | on | `off`: no restart in place, Pacemaker's monitor finds a crashed server |
//! | `OVN_DB_HA_SEMI_SYNC` | no | on | `off`: no proxy; the servers listen on the ports and replies do not wait for the standbys |
//! | `OVN_DB_HA_CLIENT_TICKLE` | no | on | `off`: the node taking the VIP does not reset the old active's client sessions (tickle ACKs) |
//! | `OVN_DB_HA_DEPLOYMENT` | no | `ovnkube-db` | the Deployment whose pods are members (API discovery): pods of its ReplicaSets only |
//!
//! Every bad variable is reported on its own line and `run` exits 2 before writing or
//! starting anything.
//!
//! # What this crate deliberately does not do
//! - No `pcs`/`pcsd`/`crm` shell: only Pacemaker's own `cibadmin`, `crm_attribute`, `crm_mon`.
//! - No fencing configuration: `stonith-enabled=false` with `no-quorum-policy=stop` and the
//!   promote-then-VIP order carry safety (see [`cib::desired`]).
//! - Never clears this node's standby during shutdown; only at the next start.
//! - Talks to the Kubernetes API only to list and watch the pods of its own Deployment
//!   ([`pod_peers`] decides the members from them; the binary's watcher thread does the I/O).
//! - Does not manage ovsdb-server itself: the OCF agent `ovndb-servers` does, under Pacemaker.

pub mod cib;
pub mod client_tickle;
pub mod cold_start;
pub mod corosync_conf;
pub mod crash_restart;
pub mod crm_mon;
pub mod deletion_cost;
pub mod env_config;
pub mod inet_diag;
pub mod jsonrpc_frame;
pub mod lag_gate;
pub mod logging;
pub mod metrics;
pub mod pacemaker_refusal;
pub mod peers;
pub mod pod_peers;
pub mod quorum_watch;
pub mod realtime;
pub mod reconnect_nudge;
pub mod replica_lag;
pub mod replication_fence;
pub mod semi_sync;
pub mod session_replay;
pub mod session_takeover;
pub mod standby_link;
pub mod status_view;
pub mod sync_proxy;
pub mod sync_state;
pub mod tcp_segment;
pub mod tls;
pub mod unlinked_peers;
pub mod vip_release;

#[cfg(test)]
mod golden;
