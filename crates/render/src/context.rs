//! The values the templates see, computed once from the validated config.

use crate::pki::{self, Pki};
use base64::Engine;
use ovn_ha_config::{Config, ControlPlane, db_env, defaults, upstream};
use serde::Serialize;
use std::collections::BTreeMap;

/// Template context. Every name a template uses is a field here.
#[derive(Debug, Serialize)]
pub struct Context {
    project: &'static str,
    version: &'static str,
    namespace: String,
    image: String,
    db_image: String,
    k8s_apiserver: String,
    net_cidr: String,
    svc_cidr: String,
    mtu: u32,
    db_replicas: u32,
    db_memory_limit: String,
    db_memory_request: &'static str,
    vip: String,
    vip_prefix: Option<u8>,
    /// `IPv4` or `IPv6`, as Services and EndpointSlices spell it.
    vip_family: &'static str,
    ovn_north: String,
    ovn_south: String,
    nb_port: u16,
    sb_port: u16,
    metrics_port: u16,
    node_label_key: String,
    node_label_value: String,
    /// `None`: leave the Secret out.
    authkey_b64: Option<String>,
    authkey_secret: &'static str,
    authkey_key: &'static str,
    authkey_dir: &'static str,
    authkey_file: String,
    peer_selector: &'static str,
    grace_seconds: u32,
    /// What the entrypoint may spend handing over: the grace period less time to stop.
    handover_seconds: u32,
    /// Names of the DB pod's environment variables (see `ovn_ha_config::db_env`).
    env: BTreeMap<&'static str, &'static str>,
    /// ovnkube-master and ovnkube-node settings (upstream's daemonset.sh flags).
    cp: ControlPlane,
    /// The upstream ovn-kubernetes commit the master and node manifests are written for.
    upstream_revision: &'static str,
    /// `OVN_DAEMONSET_VERSION`, which upstream's `ovnkube.sh` checks.
    daemonset_version: &'static str,
    /// `OVN_SSL_ENABLE`: `yes` or `no`.
    ssl_enable: &'static str,
    /// `--ssl`: the pods mount the TLS Secrets at `/ovn-cert`.
    tls: bool,
    /// The TLS Secrets' data (file name → base64); `None`: left out of the manifests.
    db_tls: Option<BTreeMap<String, String>>,
    client_tls: Option<BTreeMap<String, String>>,
    db_tls_secret: &'static str,
    client_tls_secret: &'static str,
    tls_dir: &'static str,
    /// What ovnkube-node mounts of the client Secret.
    node_tls_files: [&'static str; 3],
    /// `OVN_REMOTE_PROBE_INTERVAL` of ovnkube-node, in ms (upstream's default; no flag).
    remote_probe_interval: u32,
}

/// Label selector of the DB pods; must match the labels the templates put on them.
pub const PEER_SELECTOR: &str =
    "app.kubernetes.io/name=ovnkube-db,app.kubernetes.io/component=database";

impl Context {
    pub fn new(c: &Config, authkey: Option<&[u8]>, pki: Option<&Pki>) -> Self {
        let b64 = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        base64::engine::general_purpose::STANDARD.encode(v),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        let env = BTreeMap::from([
            ("VIP", db_env::VIP),
            ("VIP_PREFIX", db_env::VIP_PREFIX),
            ("NB_PORT", db_env::NB_PORT),
            ("SB_PORT", db_env::SB_PORT),
            ("NODE_NAME", db_env::NODE_NAME),
            ("POD_NAME", db_env::POD_NAME),
            ("POD_NAMESPACE", db_env::POD_NAMESPACE),
            ("POD_IP", db_env::POD_IP),
            ("AUTHKEY_FILE", db_env::AUTHKEY_FILE),
            ("PEER_SELECTOR", db_env::PEER_SELECTOR),
            ("REPLICAS", db_env::REPLICAS),
            ("GRACE_SECONDS", db_env::GRACE_SECONDS),
            ("METRICS_PORT", db_env::METRICS_PORT),
            ("SSL_ENABLE", db_env::SSL_ENABLE),
        ]);
        Context {
            project: "ovndb-ha",
            version: env!("CARGO_PKG_VERSION"),
            namespace: c.namespace.clone(),
            image: c.image.clone(),
            db_image: c.db_image.clone(),
            k8s_apiserver: c.k8s_apiserver.clone(),
            net_cidr: c.net_cidr_text(),
            svc_cidr: c.svc_cidr_text(),
            mtu: c.mtu,
            db_replicas: c.db_replicas,
            db_memory_limit: c.db_memory_limit.to_string(),
            db_memory_request: defaults::DB_MEMORY_REQUEST,
            vip: c.vip.addr.to_string(),
            vip_prefix: c.vip.prefix,
            vip_family: if c.vip.addr.is_ipv4() { "IPv4" } else { "IPv6" },
            ovn_north: c.ovn_north(),
            ovn_south: c.ovn_south(),
            nb_port: c.nb_port,
            sb_port: c.sb_port,
            metrics_port: defaults::DB_METRICS_PORT,
            node_label_key: c.db_node_label.key.clone(),
            node_label_value: c.db_node_label.value.clone(),
            authkey_b64: authkey.map(|k| base64::engine::general_purpose::STANDARD.encode(k)),
            authkey_secret: db_env::AUTHKEY_SECRET,
            authkey_key: db_env::AUTHKEY_KEY,
            authkey_dir: db_env::AUTHKEY_MOUNT_DIR,
            authkey_file: format!("{}/{}", db_env::AUTHKEY_MOUNT_DIR, db_env::AUTHKEY_KEY),
            peer_selector: PEER_SELECTOR,
            grace_seconds: defaults::DB_TERMINATION_GRACE_SECONDS,
            handover_seconds: defaults::DB_TERMINATION_GRACE_SECONDS.saturating_sub(15),
            env,
            cp: c.control_plane.clone(),
            upstream_revision: upstream::REVISION,
            daemonset_version: upstream::DAEMONSET_VERSION,
            ssl_enable: if c.control_plane.ssl { "yes" } else { "no" },
            tls: c.control_plane.ssl,
            db_tls: pki.filter(|_| c.control_plane.ssl).map(|p| b64(&p.db)),
            client_tls: pki.filter(|_| c.control_plane.ssl).map(|p| b64(&p.client)),
            db_tls_secret: pki::DB_SECRET,
            client_tls_secret: pki::CLIENT_SECRET,
            tls_dir: pki::MOUNT_DIR,
            node_tls_files: pki::NODE_FILES,
            remote_probe_interval: upstream::default::REMOTE_PROBE_INTERVAL_MS,
        }
    }
}
