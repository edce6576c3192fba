//! The DB pod's configuration, parsed from its environment (the variables named in
//! [`ovn_ha_config::db_env`]). Pure: the caller passes the environment in as a map; every bad
//! variable yields one [`EnvProblem`], and nothing is started or written until all are fixed.

use crate::cib::PacemakerTimings;
use crate::cib::desired::{
    DEFAULT_DC_DEADTIME_MS, DEFAULT_PROMOTED_MONITOR_MS, DEFAULT_TRANSITION_DELAY_MS,
    DEFAULT_UNPROMOTED_MONITOR_MS,
};
use crate::peers::{PeerSource, parse_static_peers, validate_node_name};
use ovn_ha_config::db_env as var;
use ovn_ha_config::vip::{Vip, parse_vip};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default Northbound port.
pub const DEFAULT_NB_PORT: u16 = 6641;
/// Default Southbound port.
pub const DEFAULT_SB_PORT: u16 = 6642;
/// Default port Northbound standbys replicate from (OVN's clustered-mode NB port, unused in
/// active-backup mode).
pub const DEFAULT_NB_REPLICATION_PORT: u16 = 6643;
/// Default port Southbound standbys replicate from.
pub const DEFAULT_SB_REPLICATION_PORT: u16 = 6644;
/// Default handover budget after SIGTERM (Kubernetes' default grace period).
pub const DEFAULT_GRACE_SECONDS: u64 = 30;
/// Default corosync token timeout. See `corosync_conf` for why.
pub const DEFAULT_TOKEN_MS: u32 = 600;
/// Largest `OVN_DB_HA_REPLICAS` accepted (the renderer allows at most 16 replicas).
pub const MAX_REPLICAS: u32 = ovn_ha_config::defaults::MAX_DB_REPLICAS;
/// Default corosync `token_coefficient`: none, so `token` is the real timeout on any number of
/// nodes (corosync's own default is 650 ms per node beyond two).
pub const DEFAULT_TOKEN_COEFFICIENT_MS: u32 = 0;
/// Corosync requires consensus ≥ 1.2 × token; the default is exactly that.
pub const CONSENSUS_FACTOR_PERCENT: u32 = 120;

/// Corosync membership timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Timings {
    /// `totem.token` in ms.
    pub token_ms: u32,
    /// `totem.token_coefficient` in ms, added to the token per node beyond two.
    pub token_coefficient_ms: u32,
    /// `totem.consensus` in ms when set explicitly; otherwise corosync's own rule applies,
    /// 1.2 × the token in effect (see [`Timings::consensus_for`]).
    pub consensus_ms: Option<u32>,
}

impl Timings {
    /// The token timeout corosync uses with `nodes` nodes.
    pub fn effective_token_ms(&self, nodes: usize) -> u32 {
        let beyond_two = u32::try_from(nodes.saturating_sub(2)).unwrap_or(u32::MAX);
        self.token_ms
            .saturating_add(self.token_coefficient_ms.saturating_mul(beyond_two))
    }

    /// The consensus timeout with `nodes` nodes: the explicit one, or corosync's default of
    /// 1.2 × the effective token.
    pub fn consensus_for(&self, nodes: usize) -> u32 {
        self.consensus_ms.unwrap_or_else(|| {
            let t = u64::from(self.effective_token_ms(nodes));
            u32::try_from(t * u64::from(CONSENSUS_FACTOR_PERCENT) / 100).unwrap_or(u32::MAX)
        })
    }
}

/// Everything `run` needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DbHaConfig {
    pub vip: Vip,
    pub nb_port: u16,
    pub sb_port: u16,
    /// Ports standbys replicate from (NB, SB): only replicas connect there.
    pub replication_ports: [u16; 2],
    /// This node's name (Pacemaker and corosync node name).
    pub node_name: String,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    /// This node's ring address.
    pub pod_ip: IpAddr,
    pub authkey_file: PathBuf,
    pub peers: PeerSource,
    /// The DB Deployment's name (`OVN_DB_HA_DEPLOYMENT`, default `ovnkube-db`): with API
    /// discovery only its own pods are members (see [`crate::pod_peers`]).
    pub deployment: String,
    /// The Deployment's replica count (`OVN_DB_HA_REPLICAS`): corosync expects at least this
    /// many votes. Required with API discovery; optional with a static list.
    pub replicas: Option<u32>,
    pub grace: Duration,
    /// Port of `GET /metrics` (`OVN_DB_HA_METRICS_PORT`); `None` (unset or `0`): no metrics.
    pub metrics_port: Option<u16>,
    pub timings: Timings,
    /// Monitor intervals and `dc-deadtime` for the CIB.
    pub pacemaker: PacemakerTimings,
    /// Whether the crash watcher restarts the active copy's dead server in place
    /// (`OVN_DB_HA_CRASH_RESTART`, default on).
    pub crash_restart: bool,
    /// Whether the semi-synchronous proxy holds the ports (`OVN_DB_HA_SEMI_SYNC`, default on).
    pub semi_sync: bool,
    /// Whether the node that takes the VIP tickles the old active's clients
    /// (`OVN_DB_HA_CLIENT_TICKLE`, default on).
    pub client_tickle: bool,
    /// Whether the databases speak TLS (`OVN_SSL_ENABLE`, upstream's `yes`/`no`, default no).
    pub ssl: bool,
}

/// One bad variable and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for EnvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Reads variables from a map, treating empty values as absent and collecting problems.
struct Reader<'a> {
    env: &'a BTreeMap<String, String>,
    problems: Vec<EnvProblem>,
}

impl Reader<'_> {
    fn get(&self, name: &'static str) -> Option<&str> {
        self.env
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(EnvProblem {
            variable,
            message: message.into(),
        });
    }

    fn required(&mut self, name: &'static str, what: &str) -> Option<String> {
        let value = self.get(name).map(str::to_string);
        if value.is_none() {
            self.problem(name, format!("is not set; it must hold {what}"));
        }
        value
    }

    /// A number in `range`, or `default` when absent.
    fn number<T>(&mut self, name: &'static str, default: T, min: T, max: T) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(text) = self.get(name).map(str::to_string) else {
            return Some(default);
        };
        match text.parse::<T>() {
            Ok(n) if n >= min && n <= max => Some(n),
            _ => {
                self.problem(
                    name,
                    format!(
                        "`{text}` must be a whole number from {min} to {max} (default {default})"
                    ),
                );
                None
            }
        }
    }

    /// `on`/`off` (also `true`/`false`, `1`/`0`), or `default` when absent.
    /// Upstream's `yes`/`no` (also `on`/`off`, `true`/`false`, `1`/`0`); absent: `default`.
    fn yes_no(&mut self, name: &'static str, default: bool) -> Option<bool> {
        let Some(text) = self.get(name).map(str::to_ascii_lowercase) else {
            return Some(default);
        };
        match text.as_str() {
            "yes" | "on" | "true" | "1" => Some(true),
            "no" | "off" | "false" | "0" => Some(false),
            _ => {
                let default = if default { "yes" } else { "no" };
                self.problem(
                    name,
                    format!("`{text}` must be `yes` or `no` (default {default})"),
                );
                None
            }
        }
    }

    fn switch(&mut self, name: &'static str, default: bool) -> Option<bool> {
        let Some(text) = self.get(name).map(str::to_ascii_lowercase) else {
            return Some(default);
        };
        match text.as_str() {
            "on" | "true" | "1" => Some(true),
            "off" | "false" | "0" => Some(false),
            _ => {
                let default = if default { "on" } else { "off" };
                self.problem(
                    name,
                    format!("`{text}` must be `on` or `off` (default {default})"),
                );
                None
            }
        }
    }
}

/// Parses the pod environment. Returns every problem at once.
pub fn parse_env(env: &BTreeMap<String, String>) -> Result<DbHaConfig, Vec<EnvProblem>> {
    let mut r = Reader {
        env,
        problems: Vec::new(),
    };

    let vip = r
        .required(
            var::VIP,
            "the VIP, a free address of the node subnet, e.g. 192.168.122.100",
        )
        .and_then(|text| match parse_vip(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                r.problem(var::VIP, e);
                None
            }
        });
    let prefix = match r.get(var::VIP_PREFIX).map(str::to_string) {
        None => None,
        Some(text) => {
            let max = match vip {
                Some(Vip {
                    addr: IpAddr::V6(_),
                    ..
                }) => 128,
                _ => 32,
            };
            match text.parse::<u8>() {
                Ok(n) if (1..=max).contains(&n) => Some(n),
                _ => {
                    r.problem(
                        var::VIP_PREFIX,
                        format!("`{text}` must be a prefix length from 1 to {max}, or unset"),
                    );
                    None
                }
            }
        }
    };
    let vip = vip.map(|mut v| {
        match (v.prefix, prefix) {
            (Some(a), Some(b)) if a != b => r.problem(
                var::VIP_PREFIX,
                format!("/{b} disagrees with the prefix /{a} given in {}", var::VIP),
            ),
            (None, Some(b)) => v.prefix = Some(b),
            _ => {}
        }
        v
    });

    let nb_port = r.number(var::NB_PORT, DEFAULT_NB_PORT, 1, u16::MAX);
    let sb_port = r.number(var::SB_PORT, DEFAULT_SB_PORT, 1, u16::MAX);
    if let (Some(nb), Some(sb)) = (nb_port, sb_port)
        && nb == sb
    {
        r.problem(
            var::SB_PORT,
            format!("{sb} is also the Northbound port; use another"),
        );
    }
    let nb_repl = r.number(
        var::NB_REPLICATION_PORT,
        DEFAULT_NB_REPLICATION_PORT,
        1,
        u16::MAX,
    );
    let sb_repl = r.number(
        var::SB_REPLICATION_PORT,
        DEFAULT_SB_REPLICATION_PORT,
        1,
        u16::MAX,
    );
    let replication_ports = match (nb_port, sb_port, nb_repl, sb_repl) {
        (Some(nb), Some(sb), Some(nb_repl), Some(sb_repl)) => {
            let taken = [
                (var::NB_PORT, nb),
                (var::SB_PORT, sb),
                (var::NB_REPLICATION_PORT, nb_repl),
            ];
            for (name, port, others) in [
                (var::NB_REPLICATION_PORT, nb_repl, &taken[..2]),
                (var::SB_REPLICATION_PORT, sb_repl, &taken[..]),
            ] {
                if let Some((other, _)) = others.iter().find(|(_, p)| *p == port) {
                    r.problem(
                        name,
                        format!("{port} is also {other}; every port must differ, use another"),
                    );
                }
            }
            Some([nb_repl, sb_repl])
        }
        _ => None,
    };

    let node_name = r
        .required(
            var::NODE_NAME,
            "this node's name (downward API spec.nodeName)",
        )
        .and_then(|n| match validate_node_name(&n) {
            Ok(()) => Some(n),
            Err(e) => {
                r.problem(var::NODE_NAME, e);
                None
            }
        });
    let pod_name = r.get(var::POD_NAME).map(str::to_string);
    let pod_namespace = r.get(var::POD_NAMESPACE).map(str::to_string);
    let pod_ip = r
        .required(
            var::POD_IP,
            "this node's IP (downward API status.podIP, hostNetwork)",
        )
        .and_then(|text| match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                r.problem(var::POD_IP, format!("`{text}` is not an IP address"));
                None
            }
        });
    let authkey_file = PathBuf::from(
        r.get(var::AUTHKEY_FILE)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/{}", var::AUTHKEY_MOUNT_DIR, var::AUTHKEY_KEY)),
    );
    if !authkey_file.is_absolute() {
        r.problem(
            var::AUTHKEY_FILE,
            format!("`{}` must be an absolute path", authkey_file.display()),
        );
    }

    let peers = match (
        r.get(var::PEERS).map(str::to_string),
        r.get(var::PEER_SELECTOR).map(str::to_string),
    ) {
        (Some(list), _) => match parse_static_peers(&list) {
            Ok(peers) => {
                if let (Some(name), Some(ip)) = (&node_name, pod_ip) {
                    match peers.iter().find(|p| &p.name == name) {
                        None => {
                            r.problem(var::PEERS, format!("does not list this node ({name}={ip})"))
                        }
                        Some(me) if me.addr != ip => r.problem(
                            var::PEERS,
                            format!("lists {name} at {} but {} is {ip}", me.addr, var::POD_IP),
                        ),
                        Some(_) => {}
                    }
                }
                if let Err(e) = crate::peers::members(&peers) {
                    r.problem(var::PEERS, e);
                }
                Some(PeerSource::Static(peers))
            }
            Err(e) => {
                r.problem(var::PEERS, e);
                None
            }
        },
        (None, Some(selector)) => match pod_namespace.clone() {
            Some(namespace) => Some(PeerSource::Kubernetes {
                selector,
                namespace,
            }),
            None => {
                r.problem(
                    var::POD_NAMESPACE,
                    format!("is needed with {} to find the peers", var::PEER_SELECTOR),
                );
                None
            }
        },
        (None, None) => {
            r.problem(
                var::PEERS,
                format!(
                    "neither {} (`name=ip,...`) nor {} is set; set one to find the peers",
                    var::PEERS,
                    var::PEER_SELECTOR
                ),
            );
            None
        }
    };

    let deployment = deployment_name(env).unwrap_or_else(|problem| {
        r.problems.push(problem);
        String::new()
    });

    let replicas = match r.get(var::REPLICAS).map(str::to_string) {
        None => {
            if r.get(var::PEERS).is_none() && r.get(var::PEER_SELECTOR).is_some() {
                r.problem(
                    var::REPLICAS,
                    format!(
                        "is needed with {}: the Deployment's replica count, so that corosync expects that many votes",
                        var::PEER_SELECTOR
                    ),
                );
            }
            None
        }
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_REPLICAS).contains(&n) => Some(n),
            _ => {
                r.problem(
                    var::REPLICAS,
                    format!(
                        "`{text}` must be the Deployment's replica count, a whole number from 1 to {MAX_REPLICAS}"
                    ),
                );
                None
            }
        },
    };

    let grace = r.number(var::GRACE_SECONDS, DEFAULT_GRACE_SECONDS, 1, 3600);
    let metrics_port = r.number(var::METRICS_PORT, 0u16, 0, u16::MAX);
    let token_ms = r.number(var::TOKEN_MS, DEFAULT_TOKEN_MS, 200, 30_000);
    let token_coefficient_ms = r.number(
        var::TOKEN_COEFFICIENT_MS,
        DEFAULT_TOKEN_COEFFICIENT_MS,
        0,
        10_000,
    );
    let default_consensus = token_ms.unwrap_or(DEFAULT_TOKEN_MS) * CONSENSUS_FACTOR_PERCENT / 100;
    let explicit_consensus = r.get(var::CONSENSUS_MS).is_some();
    let consensus_ms = r.number(var::CONSENSUS_MS, default_consensus, 240, 60_000);
    if let (Some(t), Some(c), true) = (token_ms, consensus_ms, explicit_consensus)
        && u64::from(c) * 100 < u64::from(t) * u64::from(CONSENSUS_FACTOR_PERCENT)
    {
        r.problem(
            var::CONSENSUS_MS,
            format!(
                "{c} must be at least 1.2 × {} ({}); corosync refuses less",
                var::TOKEN_MS,
                t * 12 / 10
            ),
        );
    }

    let promoted_monitor_ms = r.number(
        var::PROMOTED_MONITOR_MS,
        DEFAULT_PROMOTED_MONITOR_MS,
        250,
        3_600_000,
    );
    let unpromoted_monitor_ms = r.number(
        var::UNPROMOTED_MONITOR_MS,
        DEFAULT_UNPROMOTED_MONITOR_MS,
        250,
        3_600_000,
    );
    if let (Some(p), Some(u)) = (promoted_monitor_ms, unpromoted_monitor_ms)
        && p == u
    {
        r.problem(
            var::UNPROMOTED_MONITOR_MS,
            format!(
                "{u} equals {}; Pacemaker tells the two roles' monitors apart by their \
                     interval, so pick another (default {DEFAULT_UNPROMOTED_MONITOR_MS})",
                var::PROMOTED_MONITOR_MS
            ),
        );
    }
    let dc_deadtime_ms = r.number(var::DC_DEADTIME_MS, DEFAULT_DC_DEADTIME_MS, 1_000, 600_000);
    let transition_delay_ms = r.number(
        var::TRANSITION_DELAY_MS,
        DEFAULT_TRANSITION_DELAY_MS,
        0,
        5_000,
    );
    let pacemaker = match (
        promoted_monitor_ms,
        unpromoted_monitor_ms,
        dc_deadtime_ms,
        transition_delay_ms,
    ) {
        (
            Some(promoted_monitor_ms),
            Some(unpromoted_monitor_ms),
            Some(dc_deadtime_ms),
            Some(transition_delay_ms),
        ) => Some(PacemakerTimings {
            promoted_monitor_ms,
            unpromoted_monitor_ms,
            dc_deadtime_ms,
            transition_delay_ms,
        }),
        _ => None,
    };
    let crash_restart = r.switch(var::CRASH_RESTART, true);
    let semi_sync = r.switch(var::SEMI_SYNC, true);
    let client_tickle = r.switch(var::CLIENT_TICKLE, true);
    let ssl = r.yes_no(var::SSL_ENABLE, false);

    match (
        vip,
        nb_port,
        sb_port,
        replication_ports,
        node_name,
        pod_ip,
        peers,
        (grace, metrics_port),
        (token_ms, token_coefficient_ms, consensus_ms),
        pacemaker,
        (crash_restart, semi_sync, client_tickle, ssl),
    ) {
        (
            Some(vip),
            Some(nb_port),
            Some(sb_port),
            Some(replication_ports),
            Some(node_name),
            Some(pod_ip),
            Some(peers),
            (Some(grace), Some(metrics_port)),
            (Some(token_ms), Some(token_coefficient_ms), Some(consensus_ms)),
            Some(pacemaker),
            (Some(crash_restart), Some(semi_sync), Some(client_tickle), Some(ssl)),
        ) if r.problems.is_empty() => Ok(DbHaConfig {
            vip,
            nb_port,
            sb_port,
            replication_ports,
            node_name,
            pod_name,
            pod_namespace,
            pod_ip,
            authkey_file,
            peers,
            deployment,
            replicas,
            grace: Duration::from_secs(grace),
            metrics_port: (metrics_port != 0).then_some(metrics_port),
            timings: Timings {
                token_ms,
                token_coefficient_ms,
                consensus_ms: explicit_consensus.then_some(consensus_ms),
            },
            pacemaker,
            crash_restart,
            semi_sync,
            client_tickle,
            ssl,
        }),
        _ => Err(r.problems),
    }
}

/// The DB Deployment's name from `OVN_DB_HA_DEPLOYMENT` (absent or empty: `ovnkube-db`, the
/// name the templates render). It must be a Kubernetes object name: lowercase letters, digits,
/// '-' and '.', starting and ending with a letter or digit, at most 253 characters. `parse_env`
/// checks it with the rest; the pod watcher reads it again when it starts.
pub fn deployment_name(env: &BTreeMap<String, String>) -> Result<String, EnvProblem> {
    let Some(name) = env
        .get(var::DEPLOYMENT)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return Ok(var::DEFAULT_DEPLOYMENT.to_string());
    };
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
        && edge(name.chars().next())
        && edge(name.chars().last());
    if ok {
        Ok(name.to_string())
    } else {
        Err(EnvProblem {
            variable: var::DEPLOYMENT,
            message: format!(
                "`{name}` is not a Deployment name: lowercase letters, digits, '-' and '.', \
                 starting and ending with a letter or digit (default {})",
                var::DEFAULT_DEPLOYMENT
            ),
        })
    }
}

/// Smallest and largest corosync authkey knet accepts, in bytes.
pub const AUTHKEY_LEN: std::ops::RangeInclusive<usize> = 128..=4096;

/// Checks the authkey's length (the file itself is read by the caller).
pub fn check_authkey_len(len: usize) -> Result<(), String> {
    if AUTHKEY_LEN.contains(&len) {
        Ok(())
    } else {
        Err(format!(
            "the authkey has {len} bytes; corosync's knet crypto needs {} to {} (make one with `corosync-keygen` or 256 random bytes)",
            AUTHKEY_LEN.start(),
            AUTHKEY_LEN.end()
        ))
    }
}

#[cfg(test)]
mod tests;
