//! Raw render input (strings, as flags give them) and its validation into a [`Config`].

use crate::cidr::{self, ClusterCidr, ServiceCidr};
use crate::defaults;
use crate::names::{self, NodeLabel};
use crate::problem::{Field, Problem, Problems};
use crate::quantity::{self, Memory};
use crate::upstream::{ControlPlane, UpstreamInput};
use crate::vip::{self, Vip};
use serde::Serialize;

/// What the user asked for, unparsed. Every field holds the flag's text (defaults filled in by
/// the caller from [`crate::defaults`]); `db_vip` has no default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderInput {
    pub image: String,
    pub db_image: String,
    pub k8s_apiserver: String,
    pub net_cidr: String,
    pub svc_cidr: String,
    pub db_replicas: String,
    pub db_vip: Option<String>,
    pub namespace: String,
    pub db_node_label: String,
    pub mtu: String,
    pub db_memory_limit: String,
    /// Upstream `daemonset.sh`'s flags for ovnkube-master and ovnkube-node.
    pub upstream: UpstreamInput,
}

impl Default for RenderInput {
    fn default() -> Self {
        RenderInput {
            image: defaults::IMAGE.into(),
            db_image: defaults::DB_IMAGE.into(),
            k8s_apiserver: defaults::K8S_APISERVER.into(),
            net_cidr: defaults::NET_CIDR.into(),
            svc_cidr: defaults::SVC_CIDR.into(),
            db_replicas: defaults::DB_REPLICAS.into(),
            db_vip: None,
            namespace: defaults::NAMESPACE.into(),
            db_node_label: defaults::DB_NODE_LABEL.into(),
            mtu: defaults::MTU.into(),
            db_memory_limit: defaults::DB_MEMORY_LIMIT.into(),
            upstream: UpstreamInput::default(),
        }
    }
}

/// A validated configuration: everything the manifests need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub image: String,
    pub db_image: String,
    /// Normalised URL with scheme, e.g. `https://10.0.2.16:6443`.
    pub k8s_apiserver: String,
    pub net_cidrs: Vec<ClusterCidr>,
    pub svc_cidrs: Vec<ServiceCidr>,
    pub db_replicas: u32,
    pub vip: Vip,
    pub namespace: String,
    pub db_node_label: NodeLabel,
    pub mtu: u32,
    /// Memory limit of the DB pod's container (`--db-memory-limit`).
    pub db_memory_limit: Memory,
    /// Northbound client port (`--ovn-nb-port`).
    pub nb_port: u16,
    /// Southbound client port (`--ovn-sb-port`).
    pub sb_port: u16,
    /// How ovnkube-master and ovnkube-node run.
    pub control_plane: ControlPlane,
}

impl Config {
    /// `tcp:VIP:6641` (`ssl:` when the control plane uses TLS).
    pub fn ovn_north(&self) -> String {
        self.client_remote(self.nb_port)
    }
    /// `tcp:VIP:6642` (`ssl:` when the control plane uses TLS).
    pub fn ovn_south(&self) -> String {
        self.client_remote(self.sb_port)
    }
    fn client_remote(&self, port: u16) -> String {
        if self.control_plane.ssl {
            format!("ssl:{}:{port}", self.vip.url_host())
        } else {
            self.vip.ovsdb_remote(port)
        }
    }
    /// `--net-cidr` in ovn-kubernetes' comma-separated form.
    pub fn net_cidr_text(&self) -> String {
        join(&self.net_cidrs)
    }
    /// `--svc-cidr` in ovn-kubernetes' comma-separated form.
    pub fn svc_cidr_text(&self) -> String {
        join(&self.svc_cidrs)
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A configuration that passed validation, with the doubts worth printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub config: Config,
    pub warnings: Vec<Problem>,
}

/// Normalises the API server URL: a bare `HOST:PORT` (upstream's form) gets `https://`.
fn parse_apiserver(text: &str) -> Result<String, String> {
    let fix = "give it as https://HOST:PORT, e.g. https://10.0.2.16:6443";
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let url =
        url::Url::parse(&with_scheme).map_err(|e| format!("`{text}` is not a URL ({e}); {fix}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("`{text}`: scheme must be https or http; {fix}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host; {fix}"));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{text}` must have no path, query or credentials; {fix}"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn parse_replicas(text: &str) -> Result<u32, String> {
    let n: u32 = text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a whole number; give an odd count of at least 3, e.g. --db-replicas=3"
        )
    })?;
    if n < defaults::MIN_DB_REPLICAS {
        return Err(format!(
            "{n} is too few: without fencing, quorum needs at least {} replicas so that a majority survives losing one; give --db-replicas=3",
            defaults::MIN_DB_REPLICAS
        ));
    }
    if n > defaults::MAX_DB_REPLICAS {
        return Err(format!(
            "{n} is too many: at most {} replicas are supported; 3 or 5 is usual",
            defaults::MAX_DB_REPLICAS
        ));
    }
    Ok(n)
}

fn parse_mtu(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (576..=9216).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` must be a number from 576 to 9216, e.g. --mtu=1400"
        )),
    }
}

/// The DB container's memory limit: a size no smaller than [`defaults::MIN_DB_MEMORY_LIMIT`].
fn parse_db_memory_limit(text: &str) -> Result<Memory, String> {
    let limit = quantity::parse_memory(text)?;
    let floor = quantity::parse_memory(defaults::MIN_DB_MEMORY_LIMIT)?;
    if limit.bytes() < floor.bytes() {
        return Err(format!(
            "{limit} is below the {floor} the DB pod needs with empty databases (its request is {}); give at least --db-memory-limit={floor}, and more for large clusters (README, sizing)",
            defaults::DB_MEMORY_REQUEST
        ));
    }
    Ok(limit)
}

/// Collects field results, remembering the problems.
struct Collector(Vec<Problem>);

impl Collector {
    fn take<T>(&mut self, field: Field, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.0.push(Problem::new(field, m))).ok()
    }
}

impl RenderInput {
    /// Validates everything and returns either the config with warnings or every problem.
    pub fn validate(&self) -> Result<Validated, Problems> {
        let mut c = Collector(Vec::new());
        let image = c.take(Field::Image, names::check_image(&self.image));
        let db_image = c.take(Field::DbImage, names::check_image(&self.db_image));
        let apiserver = c.take(Field::K8sApiserver, parse_apiserver(&self.k8s_apiserver));
        let net = c.take(Field::NetCidr, cidr::parse_cluster_cidrs(&self.net_cidr));
        let svc = c.take(Field::SvcCidr, cidr::parse_service_cidrs(&self.svc_cidr));
        let replicas = c.take(Field::DbReplicas, parse_replicas(&self.db_replicas));
        let vip = c.take(
            Field::DbVip,
            match &self.db_vip {
                None => Err("is required: give a free address of the node subnet, e.g. --db-ha-vip=192.168.122.100".into()),
                Some(v) => vip::parse_vip(v),
            },
        );
        let namespace = c.take(Field::Namespace, names::check_dns_label(&self.namespace));
        let label = c.take(
            Field::DbNodeLabel,
            names::parse_node_label(&self.db_node_label),
        );
        let mtu = c.take(Field::Mtu, parse_mtu(&self.mtu));
        let memory = c.take(
            Field::DbMemoryLimit,
            parse_db_memory_limit(&self.db_memory_limit),
        );
        let upstream = self.upstream.check();
        c.0.extend(upstream.problems);

        // Rules across fields, checked when their parts parsed.
        if let (Some(net), Some(svc)) = (&net, &svc) {
            for n in net {
                for s in svc {
                    if n.net.contains(&s.0.network()) || s.0.contains(&n.net.network()) {
                        c.0.push(Problem::new(
                            Field::SvcCidr,
                            format!(
                                "{s} overlaps the cluster network {}; give disjoint networks",
                                n.net
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(vip) = &vip {
            for n in net.iter().flatten() {
                if n.net.contains(&vip.addr) {
                    c.0.push(Problem::new(Field::DbVip, format!(
                        "{} lies inside the cluster network {}; the VIP must be a free address of the node subnet",
                        vip.addr, n.net
                    )));
                }
            }
            for s in svc.iter().flatten() {
                if s.0.contains(&vip.addr) {
                    c.0.push(Problem::new(Field::DbVip, format!(
                        "{} lies inside the service network {}; the VIP must be a free address of the node subnet",
                        vip.addr, s.0
                    )));
                }
            }
        }
        if let (Some(mtu), Some(net)) = (mtu, &net)
            && mtu < 1280
            && net.iter().any(|n| n.net.addr().is_ipv6())
        {
            c.0.push(Problem::new(
                Field::Mtu,
                format!("{mtu} is below IPv6's minimum; give at least --mtu=1280"),
            ));
        }

        let mut problems = c.0;
        problems.sort_by_key(|p| p.field);
        match (
            image,
            db_image,
            apiserver,
            net,
            svc,
            replicas,
            vip,
            namespace,
            label,
            mtu,
            memory,
            upstream.control_plane,
            upstream.ports,
        ) {
            (
                Some(_),
                Some(_),
                Some(k8s_apiserver),
                Some(net_cidrs),
                Some(svc_cidrs),
                Some(db_replicas),
                Some(vip),
                Some(()),
                Some(db_node_label),
                Some(mtu),
                Some(db_memory_limit),
                Some(control_plane),
                Some(ports),
            ) if problems.is_empty() => {
                let mut warnings = upstream.warnings;
                if db_replicas % 2 == 0 {
                    warnings.push(Problem::new(Field::DbReplicas, format!(
                        "{db_replicas} is even: it tolerates no more node losses than {} and splits evenly in a partition; an odd count is better",
                        db_replicas - 1
                    )));
                }
                if k8s_apiserver.starts_with("http://") {
                    warnings.push(Problem::new(
                        Field::K8sApiserver,
                        "uses plain http; the API server normally serves https",
                    ));
                }
                warnings.sort_by_key(|p| p.field);
                Ok(Validated {
                    config: Config {
                        image: self.image.clone(),
                        db_image: self.db_image.clone(),
                        k8s_apiserver,
                        net_cidrs,
                        svc_cidrs,
                        db_replicas,
                        vip,
                        namespace: self.namespace.clone(),
                        db_node_label,
                        mtu,
                        db_memory_limit,
                        nb_port: ports.nb,
                        sb_port: ports.sb,
                        control_plane,
                    },
                    warnings,
                })
            }
            _ => Err(Problems(problems)),
        }
    }
}

impl RenderInput {
    /// The seed document's example command (`daemonset.sh --image=docker.io/ovnkube/ovn-daemonset-u:latest
    /// --k8s-apiserver=https://10.0.2.15:6443 --net-cidr=192.168.0.0/16 --svc-cidr=172.16.1.0/24
    /// --db-replicas=3 --db-vip=10.0.2.100`), the input the golden files and examples use.
    pub fn seed_example() -> RenderInput {
        RenderInput {
            image: "docker.io/ovnkube/ovn-daemonset-u:latest".into(),
            k8s_apiserver: "https://10.0.2.15:6443".into(),
            net_cidr: "192.168.0.0/16".into(),
            svc_cidr: "172.16.1.0/24".into(),
            db_replicas: "3".into(),
            db_vip: Some("10.0.2.100".into()),
            ..RenderInput::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> RenderInput {
        RenderInput::seed_example()
    }

    #[test]
    fn seed_command_validates() {
        let v = seed().validate().unwrap();
        assert!(v.warnings.is_empty());
        assert_eq!(v.config.ovn_north(), "tcp:10.0.2.100:6641");
        assert_eq!(v.config.ovn_south(), "tcp:10.0.2.100:6642");
        assert_eq!(v.config.db_replicas, 3);
        assert_eq!(v.config.net_cidr_text(), "192.168.0.0/16");
        assert_eq!(v.config.db_memory_limit.to_string(), "1Gi");
    }

    #[test]
    fn a_larger_memory_limit_is_kept_as_written() {
        let mut i = seed();
        i.db_memory_limit = "6Gi".into();
        let m = i.validate().unwrap().config.db_memory_limit;
        assert_eq!((m.to_string(), m.bytes()), ("6Gi".to_string(), 6 << 30));
    }

    #[test]
    fn defaults_need_only_a_vip() {
        let input = RenderInput {
            db_vip: Some("192.168.122.100".into()),
            ..RenderInput::default()
        };
        let c = input.validate().unwrap().config;
        assert_eq!(c.k8s_apiserver, "https://10.0.2.16:6443");
        assert_eq!(c.net_cidr_text(), "10.128.0.0/14/23");
        assert_eq!(c.svc_cidr_text(), "172.30.0.0/16");
        assert_eq!(c.namespace, "ovn-kubernetes");
    }

    /// Each row: a change to the seed input, the fields that must be named, a word of the fix.
    #[test]
    fn every_rule_names_its_flag() {
        type Edit = fn(&mut RenderInput);
        let cases: &[(&str, Edit, &[Field], &str)] = &[
            (
                "vip missing",
                |i| i.db_vip = None,
                &[Field::DbVip],
                "is required",
            ),
            (
                "vip garbage",
                |i| i.db_vip = Some("not-an-ip".into()),
                &[Field::DbVip],
                "not an IP",
            ),
            (
                "vip in cluster net",
                |i| i.db_vip = Some("192.168.3.4".into()),
                &[Field::DbVip],
                "cluster network",
            ),
            (
                "vip in service net",
                |i| i.db_vip = Some("172.16.1.9".into()),
                &[Field::DbVip],
                "service network",
            ),
            (
                "one replica",
                |i| i.db_replicas = "1".into(),
                &[Field::DbReplicas],
                "quorum",
            ),
            (
                "two replicas",
                |i| i.db_replicas = "2".into(),
                &[Field::DbReplicas],
                "at least 3",
            ),
            (
                "replicas text",
                |i| i.db_replicas = "three".into(),
                &[Field::DbReplicas],
                "whole number",
            ),
            (
                "replicas huge",
                |i| i.db_replicas = "99".into(),
                &[Field::DbReplicas],
                "too many",
            ),
            (
                "image bad",
                |i| i.image = "Bad Image".into(),
                &[Field::Image],
                "whitespace",
            ),
            (
                "db image bad",
                |i| i.db_image = "x:".into(),
                &[Field::DbImage],
                "tag",
            ),
            (
                "apiserver scheme",
                |i| i.k8s_apiserver = "ftp://x:1".into(),
                &[Field::K8sApiserver],
                "scheme",
            ),
            (
                "apiserver path",
                |i| i.k8s_apiserver = "https://x:6443/api".into(),
                &[Field::K8sApiserver],
                "no path",
            ),
            (
                "net cidr",
                |i| i.net_cidr = "10.0.0.1/8".into(),
                &[Field::NetCidr],
                "host bits",
            ),
            (
                "svc cidr",
                |i| i.svc_cidr = "x".into(),
                &[Field::SvcCidr],
                "not a CIDR",
            ),
            (
                "overlap",
                |i| i.svc_cidr = "192.168.10.0/24".into(),
                &[Field::SvcCidr],
                "overlaps",
            ),
            (
                "namespace",
                |i| i.namespace = "OVN".into(),
                &[Field::Namespace],
                "DNS-1123",
            ),
            (
                "label",
                |i| i.db_node_label = "x".into(),
                &[Field::DbNodeLabel],
                "KEY=VALUE",
            ),
            ("mtu", |i| i.mtu = "70000".into(), &[Field::Mtu], "576"),
            (
                "memory limit not a size",
                |i| i.db_memory_limit = "4GB".into(),
                &[Field::DbMemoryLimit],
                "e.g. 4Gi",
            ),
            (
                "memory limit too small",
                |i| i.db_memory_limit = "256Mi".into(),
                &[Field::DbMemoryLimit],
                "at least --db-memory-limit=512Mi",
            ),
            (
                "mtu v6",
                |i| {
                    i.mtu = "1000".into();
                    i.net_cidr = "fd00::/48/64".into()
                },
                &[Field::Mtu],
                "1280",
            ),
            (
                "two at once",
                |i| {
                    i.db_vip = Some("not-an-ip".into());
                    i.db_replicas = "1".into()
                },
                &[Field::DbReplicas, Field::DbVip],
                "--db-replicas",
            ),
        ];
        for (name, edit, fields, word) in cases {
            let mut input = seed();
            edit(&mut input);
            let err = input.validate().expect_err(name);
            assert_eq!(err.fields(), *fields, "{name}: {err}");
            assert!(err.to_string().contains(word), "{name}: {err}");
            for f in *fields {
                assert!(err.to_string().contains(f.flag()), "{name}: {err}");
            }
        }
    }

    #[test]
    fn warnings() {
        let mut i = seed();
        i.db_replicas = "4".into();
        i.k8s_apiserver = "10.0.2.16:6443".into();
        let v = i.validate().unwrap();
        assert_eq!(v.config.k8s_apiserver, "https://10.0.2.16:6443");
        assert_eq!(v.warnings.len(), 1);
        assert!(v.warnings[0].message.contains("even"));
        i.k8s_apiserver = "http://10.0.2.16:6443".into();
        assert_eq!(i.validate().unwrap().warnings.len(), 2);
    }

    #[test]
    fn upstream_flags_reach_the_config() {
        let mut i = seed();
        i.upstream.ovn_nb_port = "7641".into();
        i.upstream.ovn_sb_port = "7642".into();
        i.upstream.gateway_mode = "local".into();
        i.upstream.ovn_master_count = "3".into();
        i.upstream.ovn_nb_raft_port = Some("6643".into());
        let v = i.validate().unwrap();
        assert_eq!(v.config.ovn_north(), "tcp:10.0.2.100:7641");
        assert_eq!(v.config.ovn_south(), "tcp:10.0.2.100:7642");
        assert_eq!(v.config.control_plane.gateway_mode, "local");
        assert_eq!(v.config.control_plane.master_count, 3);
        assert_eq!(v.warnings.len(), 1);
        assert_eq!(v.warnings[0].field, Field::OvnNbRaftPort);
    }

    #[test]
    fn ssl_makes_the_control_plane_dial_ssl() {
        let mut i = seed();
        i.upstream.ssl = true;
        let v = i.validate().unwrap();
        assert!(v.config.control_plane.ssl);
        assert!(
            v.config.ovn_north().starts_with("ssl:"),
            "{}",
            v.config.ovn_north()
        );
        assert!(
            v.config.ovn_south().starts_with("ssl:"),
            "{}",
            v.config.ovn_south()
        );
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    }

    #[test]
    fn ipv6_and_dual_stack() {
        let mut i = seed();
        i.net_cidr = "10.128.0.0/14/23,fd00:10:128::/48/64".into();
        i.svc_cidr = "172.30.0.0/16,fd00:172:30::/112".into();
        i.db_vip = Some("fd00:1::64/64".into());
        let c = i.validate().unwrap().config;
        assert_eq!(c.ovn_north(), "tcp:[fd00:1::64]:6641");
        assert_eq!(c.vip.prefix, Some(64));
    }
}
