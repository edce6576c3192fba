//! The flags of upstream ovn-kubernetes' `dist/images/daemonset.sh` at the revision we are
//! compatible with ([`REVISION`]) that shape ovnkube-master and ovnkube-node: their raw text,
//! their validation, and the typed [`ControlPlane`] settings the templates render.
//!
//! Same spellings and defaults as upstream. Flags that only meant something for upstream's own
//! DB pods (the RAFT ports and election timers, the NB/SB log levels) are accepted and ignored
//! with a warning that says why. `--ssl` makes every OVN connection TLS (the DB pods' proxy ends
//! `ssl:` sessions; the renderer adds the certificates).

use crate::problem::{Field, Problem};
use serde::Serialize;

/// The upstream ovn-kubernetes commit whose scripts and controllers the master and node
/// manifests are written for: the last one (2020-06-24) that still shipped the Pacemaker DB HA.
pub const REVISION: &str = "05b8a7c34";
/// Full hash of [`REVISION`].
pub const REVISION_FULL: &str = "05b8a7c34aadb1e430dda6fc9879e7827f50734a";
/// The daemonset version `ovnkube.sh` checks (`OVN_DAEMONSET_VERSION`) at [`REVISION`].
pub const DAEMONSET_VERSION: &str = "3";

/// Upstream's defaults, where a flag is omitted.
pub mod default {
    pub const IMAGE_PULL_POLICY: &str = "IfNotPresent";
    /// Upstream leaves it empty, which `ovnkube.sh` reads as `shared`.
    pub const GATEWAY_MODE: &str = "shared";
    pub const GATEWAY_OPTIONS: &str = "";
    pub const KIND: &str = "false";
    pub const MASTER_LOGLEVEL: &str = "4";
    pub const NODE_LOGLEVEL: &str = "4";
    pub const LOGLEVEL_NORTHD: &str = "-vconsole:info -vfile:info";
    pub const LOGLEVEL_NB: &str = "-vconsole:info -vfile:info";
    pub const LOGLEVEL_SB: &str = "-vconsole:info -vfile:info";
    pub const LOGLEVEL_CONTROLLER: &str = "-vconsole:info";
    pub const LOGLEVEL_NBCTLD: &str = "-vconsole:info";
    pub const LOGFILE_MAXSIZE: &str = "100";
    pub const LOGFILE_MAXBACKUPS: &str = "5";
    pub const LOGFILE_MAXAGE: &str = "5";
    pub const MASTER_COUNT: &str = "1";
    pub const NB_PORT: &str = "6641";
    pub const SB_PORT: &str = "6642";
    pub const NB_RAFT_PORT: &str = "6643";
    pub const SB_RAFT_PORT: &str = "6644";
    pub const RAFT_ELECTION_TIMER: &str = "1000";
    /// Upstream leaves it empty: no hybrid overlay.
    pub const HYBRID_ENABLED: &str = "";
    /// `ovnkube.sh`'s `OVN_REMOTE_PROBE_INTERVAL` default (ms); upstream had no flag for it.
    pub const REMOTE_PROBE_INTERVAL_MS: u32 = 100_000;
}

/// Ports the DB pods use for themselves: standbys replicate from the active on 6643/6644 and
/// corosync talks on 5405. A client port there would collide.
const DB_OWN_PORTS: &[(u16, &str)] = &[
    (6643, "the Northbound standbys' replication port"),
    (6644, "the Southbound standbys' replication port"),
    (5405, "corosync's port"),
];

/// Upstream's flags as text. `None` for a flag that has no effect here: it was not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamInput {
    pub image_pull_policy: String,
    pub gateway_mode: String,
    pub gateway_options: String,
    /// `true` or `false` (`--kind` alone means `true`).
    pub kind: String,
    pub master_loglevel: String,
    pub node_loglevel: String,
    pub ovn_loglevel_northd: String,
    pub ovn_loglevel_nb: Option<String>,
    pub ovn_loglevel_sb: Option<String>,
    pub ovn_loglevel_controller: String,
    pub ovn_loglevel_nbctld: String,
    pub ovnkube_logfile_maxsize: String,
    pub ovnkube_logfile_maxbackups: String,
    pub ovnkube_logfile_maxage: String,
    pub ssl: bool,
    pub ovn_master_count: String,
    pub ovn_nb_port: String,
    pub ovn_sb_port: String,
    pub ovn_nb_raft_port: Option<String>,
    pub ovn_sb_raft_port: Option<String>,
    pub ovn_nb_raft_election_timer: Option<String>,
    pub ovn_sb_raft_election_timer: Option<String>,
    pub hybrid_enabled: String,
}

impl Default for UpstreamInput {
    fn default() -> Self {
        UpstreamInput {
            image_pull_policy: default::IMAGE_PULL_POLICY.into(),
            gateway_mode: default::GATEWAY_MODE.into(),
            gateway_options: default::GATEWAY_OPTIONS.into(),
            kind: default::KIND.into(),
            master_loglevel: default::MASTER_LOGLEVEL.into(),
            node_loglevel: default::NODE_LOGLEVEL.into(),
            ovn_loglevel_northd: default::LOGLEVEL_NORTHD.into(),
            ovn_loglevel_nb: None,
            ovn_loglevel_sb: None,
            ovn_loglevel_controller: default::LOGLEVEL_CONTROLLER.into(),
            ovn_loglevel_nbctld: default::LOGLEVEL_NBCTLD.into(),
            ovnkube_logfile_maxsize: default::LOGFILE_MAXSIZE.into(),
            ovnkube_logfile_maxbackups: default::LOGFILE_MAXBACKUPS.into(),
            ovnkube_logfile_maxage: default::LOGFILE_MAXAGE.into(),
            ssl: false,
            ovn_master_count: default::MASTER_COUNT.into(),
            ovn_nb_port: default::NB_PORT.into(),
            ovn_sb_port: default::SB_PORT.into(),
            ovn_nb_raft_port: None,
            ovn_sb_raft_port: None,
            ovn_nb_raft_election_timer: None,
            ovn_sb_raft_election_timer: None,
            hybrid_enabled: default::HYBRID_ENABLED.into(),
        }
    }
}

/// What ovnkube-master and ovnkube-node are rendered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlPlane {
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: String,
    /// `shared` or `local`.
    pub gateway_mode: String,
    /// Extra ovnkube node options, word-split by `ovnkube.sh`.
    pub gateway_options: String,
    /// Upstream's `--kind`: ovnkube-node privileged, with the host's network namespaces mounted
    /// bidirectionally.
    pub kind: bool,
    pub master_loglevel: u32,
    pub node_loglevel: u32,
    pub loglevel_northd: String,
    pub loglevel_controller: String,
    pub loglevel_nbctld: String,
    pub logfile_maxsize: u32,
    pub logfile_maxbackups: u32,
    pub logfile_maxage: u32,
    /// Always `false` from validation (refused until the DB pods serve TLS); the templates
    /// render upstream's SSL settings when set.
    pub ssl: bool,
    /// ovnkube-master replicas (leader-elected).
    pub master_count: u32,
    /// `--hybrid-enabled=true`.
    pub hybrid_overlay: bool,
}

/// The parsed ports of the DB clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub nb: u16,
    pub sb: u16,
}

/// Results of one validation: the settings and ports when every flag parsed, plus every
/// problem and warning.
#[derive(Debug)]
pub struct Checked {
    pub control_plane: Option<ControlPlane>,
    pub ports: Option<Ports>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

fn parse_number(
    text: &str,
    range: std::ops::RangeInclusive<u32>,
    example: &str,
) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` must be a whole number from {} to {}, e.g. {example}",
            range.start(),
            range.end()
        )),
    }
}

fn parse_port(text: &str, example: &str) -> Result<u16, String> {
    parse_number(text, 1..=u32::from(u16::MAX), example).map(|n| n as u16)
}

fn parse_pull_policy(text: &str) -> Result<String, String> {
    match text {
        "Always" | "IfNotPresent" | "Never" => Ok(text.to_string()),
        _ => Err(format!(
            "`{text}` is not an image pull policy; give Always, IfNotPresent or Never"
        )),
    }
}

fn parse_gateway_mode(text: &str) -> Result<String, String> {
    match text.trim() {
        // Upstream's default is empty, which ovnkube.sh reads as shared.
        "" | "shared" => Ok("shared".into()),
        "local" => Ok("local".into()),
        _ => Err(format!(
            "`{text}` is not a gateway mode; give shared or local, e.g. --gateway-mode=local"
        )),
    }
}

fn parse_bool(text: &str, example: &str) -> Result<bool, String> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{text}` must be true or false, e.g. {example}")),
    }
}

fn parse_hybrid(text: &str) -> Result<bool, String> {
    if text.trim().is_empty() {
        return Ok(false);
    }
    parse_bool(text, "--hybrid-enabled=true")
}

/// Options that `ovnkube.sh` splits into words unquoted: each word an option (`-…`), made of
/// characters the shell passes through literally (no quotes, globs or control characters).
fn check_option_words(text: &str, example: &str) -> Result<String, String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || ":_.=/,+@-".contains(c);
    for word in text.split_ascii_whitespace() {
        if !word.starts_with('-') || !word.chars().all(ok_char) {
            return Err(format!(
                "`{word}` in `{text}` is not an option of letters, digits and : _ . = / , + @ -; \
                 give space-separated options such as {example}"
            ));
        }
    }
    if text.chars().any(|c| c.is_control() && c != ' ') {
        return Err(format!(
            "`{text}` contains control characters; separate options with single spaces, e.g. {example}"
        ));
    }
    Ok(text.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
}

fn check_vlog(text: &str) -> Result<String, String> {
    check_option_words(text, "\"-vconsole:info -vfile:info\"")
}

/// Collects problems and warnings of the upstream flags.
struct Collector {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Collector {
    fn take<T>(&mut self, field: Field, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.problems.push(Problem::new(field, m)))
            .ok()
    }

    /// A flag accepted for compatibility that changes nothing here: checked, then one warning.
    fn ignored(&mut self, field: Field, given: Option<&str>, check: Result<(), String>, why: &str) {
        if given.is_none() {
            return;
        }
        match check {
            Err(m) => self.problems.push(Problem::new(field, m)),
            Ok(()) => self
                .warnings
                .push(Problem::new(field, format!("is ignored: {why}"))),
        }
    }
}

impl UpstreamInput {
    /// Validates every upstream flag: problems name their flag and fix; flags that mean nothing
    /// with the Pacemaker DB add a warning.
    pub fn check(&self) -> Checked {
        let mut c = Collector {
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let pull = c.take(
            Field::ImagePullPolicy,
            parse_pull_policy(&self.image_pull_policy),
        );
        let gateway_mode = c.take(Field::GatewayMode, parse_gateway_mode(&self.gateway_mode));
        let gateway_options = c.take(
            Field::GatewayOptions,
            check_option_words(&self.gateway_options, "\"--gateway-interface=eth1\""),
        );
        let kind = c.take(
            Field::Kind,
            parse_bool(&self.kind, "--kind or --kind=false"),
        );
        let master_loglevel = c.take(
            Field::MasterLoglevel,
            parse_number(&self.master_loglevel, 0..=10, "--master-loglevel=4"),
        );
        let node_loglevel = c.take(
            Field::NodeLoglevel,
            parse_number(&self.node_loglevel, 0..=10, "--node-loglevel=4"),
        );
        let northd = c.take(
            Field::OvnLoglevelNorthd,
            check_vlog(&self.ovn_loglevel_northd),
        );
        let controller = c.take(
            Field::OvnLoglevelController,
            check_vlog(&self.ovn_loglevel_controller),
        );
        let nbctld = c.take(
            Field::OvnLoglevelNbctld,
            check_vlog(&self.ovn_loglevel_nbctld),
        );
        let maxsize = c.take(
            Field::OvnkubeLogfileMaxsize,
            parse_number(
                &self.ovnkube_logfile_maxsize,
                1..=100_000,
                "--ovnkube-logfile-maxsize=100",
            ),
        );
        let maxbackups = c.take(
            Field::OvnkubeLogfileMaxbackups,
            parse_number(
                &self.ovnkube_logfile_maxbackups,
                0..=1000,
                "--ovnkube-logfile-maxbackups=5",
            ),
        );
        let maxage = c.take(
            Field::OvnkubeLogfileMaxage,
            parse_number(
                &self.ovnkube_logfile_maxage,
                0..=3650,
                "--ovnkube-logfile-maxage=5",
            ),
        );
        let master_count = c.take(
            Field::OvnMasterCount,
            parse_number(&self.ovn_master_count, 1..=9, "--ovn-master-count=3"),
        );
        let hybrid = c.take(Field::HybridEnabled, parse_hybrid(&self.hybrid_enabled));

        let nb = c.take(
            Field::OvnNbPort,
            parse_port(&self.ovn_nb_port, "--ovn-nb-port=6641"),
        );
        let sb = c.take(
            Field::OvnSbPort,
            parse_port(&self.ovn_sb_port, "--ovn-sb-port=6642"),
        );
        for (field, port) in [(Field::OvnNbPort, nb), (Field::OvnSbPort, sb)] {
            if let Some(port) = port
                && let Some((_, what)) = DB_OWN_PORTS.iter().find(|(p, _)| *p == port)
            {
                c.problems.push(Problem::new(
                    field,
                    format!("{port} is {what} in the DB pods; give another port, e.g. the default"),
                ));
            }
        }
        if let (Some(n), Some(s)) = (nb, sb)
            && n == s
        {
            c.problems.push(Problem::new(
                Field::OvnSbPort,
                format!("{s} is also --ovn-nb-port; the two databases need two ports, e.g. 6641 and 6642"),
            ));
        }

        // Flags of upstream's own DB pods: accepted, checked, and ignored with a reason.
        let raft = "it sets a RAFT port of upstream's clustered DB, and these DB pods run \
                    active/standby under Pacemaker (standbys follow the active on 6643/6644)";
        for (field, given, example) in [
            (
                Field::OvnNbRaftPort,
                &self.ovn_nb_raft_port,
                "--ovn-nb-raft-port=6643",
            ),
            (
                Field::OvnSbRaftPort,
                &self.ovn_sb_raft_port,
                "--ovn-sb-raft-port=6644",
            ),
        ] {
            let check = given
                .as_deref()
                .map_or(Ok(()), |t| parse_port(t, example).map(drop));
            c.ignored(field, given.as_deref(), check, raft);
        }
        let timer = "it sets a RAFT election timer of upstream's clustered DB; here Pacemaker \
                     and corosync decide failover";
        for (field, given, example) in [
            (
                Field::OvnNbRaftElectionTimer,
                &self.ovn_nb_raft_election_timer,
                "--ovn_nb_raft_election_timer=1000",
            ),
            (
                Field::OvnSbRaftElectionTimer,
                &self.ovn_sb_raft_election_timer,
                "--ovn_sb_raft_election_timer=1000",
            ),
        ] {
            let check = given
                .as_deref()
                .map_or(Ok(()), |t| parse_number(t, 1..=600_000, example).map(drop));
            c.ignored(field, given.as_deref(), check, timer);
        }
        let vlog = "it set the log options of upstream's DB containers; here the OCF agent starts \
                    ovsdb-server with its own";
        for (field, given) in [
            (Field::OvnLoglevelNb, &self.ovn_loglevel_nb),
            (Field::OvnLoglevelSb, &self.ovn_loglevel_sb),
        ] {
            let check = given.as_deref().map_or(Ok(()), |t| check_vlog(t).map(drop));
            c.ignored(field, given.as_deref(), check, vlog);
        }
        if pull
            .as_deref()
            .is_some_and(|p| p != default::IMAGE_PULL_POLICY)
        {
            c.warnings.push(Problem::new(
                Field::ImagePullPolicy,
                "applies to ovnkube-master and ovnkube-node; the DB pods keep IfNotPresent",
            ));
        }

        let control_plane = match (
            pull,
            gateway_mode,
            gateway_options,
            kind,
            master_loglevel,
            node_loglevel,
            (northd, controller, nbctld),
            (maxsize, maxbackups, maxage),
            master_count,
            hybrid,
        ) {
            (
                Some(image_pull_policy),
                Some(gateway_mode),
                Some(gateway_options),
                Some(kind),
                Some(master_loglevel),
                Some(node_loglevel),
                (Some(loglevel_northd), Some(loglevel_controller), Some(loglevel_nbctld)),
                (Some(logfile_maxsize), Some(logfile_maxbackups), Some(logfile_maxage)),
                Some(master_count),
                Some(hybrid_overlay),
            ) => Some(ControlPlane {
                image_pull_policy,
                gateway_mode,
                gateway_options,
                kind,
                master_loglevel,
                node_loglevel,
                loglevel_northd,
                loglevel_controller,
                loglevel_nbctld,
                logfile_maxsize,
                logfile_maxbackups,
                logfile_maxage,
                ssl: self.ssl,
                master_count,
                hybrid_overlay,
            }),
            _ => None,
        };
        let ports = match (nb, sb) {
            (Some(nb), Some(sb)) => Some(Ports { nb, sb }),
            _ => None,
        };
        Checked {
            control_plane,
            ports,
            problems: c.problems,
            warnings: c.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults;

    #[test]
    fn defaults_are_upstreams() {
        let c = UpstreamInput::default().check();
        assert!(c.problems.is_empty() && c.warnings.is_empty(), "{c:?}");
        let cp = c.control_plane.unwrap();
        assert_eq!(cp.gateway_mode, "shared");
        assert_eq!((cp.master_loglevel, cp.node_loglevel), (4, 4));
        assert_eq!(cp.loglevel_northd, "-vconsole:info -vfile:info");
        assert_eq!(
            (cp.logfile_maxsize, cp.logfile_maxbackups, cp.logfile_maxage),
            (100, 5, 5)
        );
        assert_eq!(cp.master_count, 1);
        assert!(!cp.kind && !cp.ssl && !cp.hybrid_overlay);
        assert_eq!(
            c.ports,
            Some(Ports {
                nb: defaults::NB_PORT,
                sb: defaults::SB_PORT
            })
        );
    }

    #[test]
    fn accepted_values() {
        let input = UpstreamInput {
            image_pull_policy: "Always".into(),
            gateway_mode: "".into(),
            gateway_options: "--gateway-interface=eth1  --gateway-nexthop=10.0.0.1".into(),
            kind: "true".into(),
            ovn_master_count: "3".into(),
            hybrid_enabled: "true".into(),
            ovn_nb_port: "7641".into(),
            ovn_sb_port: "7642".into(),
            ..UpstreamInput::default()
        };
        let c = input.check();
        assert!(c.problems.is_empty(), "{c:?}");
        let cp = c.control_plane.unwrap();
        assert_eq!(cp.gateway_mode, "shared");
        assert_eq!(
            cp.gateway_options,
            "--gateway-interface=eth1 --gateway-nexthop=10.0.0.1"
        );
        assert!(cp.kind && cp.hybrid_overlay);
        assert_eq!(cp.master_count, 3);
        assert_eq!(c.ports, Some(Ports { nb: 7641, sb: 7642 }));
        assert_eq!(c.warnings.len(), 1, "pull policy note: {:?}", c.warnings);
        assert_eq!(c.warnings[0].field, Field::ImagePullPolicy);
    }

    #[test]
    fn db_only_flags_warn_and_are_still_checked() {
        let input = UpstreamInput {
            ovn_nb_raft_port: Some("6643".into()),
            ovn_sb_raft_port: Some("7000".into()),
            ovn_nb_raft_election_timer: Some("1000".into()),
            ovn_sb_raft_election_timer: Some("2000".into()),
            ovn_loglevel_nb: Some("-vconsole:info -vfile:info".into()),
            ovn_loglevel_sb: Some("-vconsole:dbg".into()),
            ..UpstreamInput::default()
        };
        let c = input.check();
        assert!(c.problems.is_empty(), "{c:?}");
        let fields: Vec<Field> = c.warnings.iter().map(|w| w.field).collect();
        assert_eq!(
            fields,
            [
                Field::OvnNbRaftPort,
                Field::OvnSbRaftPort,
                Field::OvnNbRaftElectionTimer,
                Field::OvnSbRaftElectionTimer,
                Field::OvnLoglevelNb,
                Field::OvnLoglevelSb,
            ]
        );
        assert!(
            c.warnings
                .iter()
                .all(|w| w.message.starts_with("is ignored: "))
        );
        assert!(c.warnings[0].message.contains("Pacemaker"));
        let bad = UpstreamInput {
            ovn_nb_raft_port: Some("x".into()),
            ..UpstreamInput::default()
        };
        let c = bad.check();
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].field, Field::OvnNbRaftPort);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn each_bad_value_names_its_flag() {
        type Edit = fn(&mut UpstreamInput);
        let cases: &[(Edit, Field, &str)] = &[
            (
                |i| i.image_pull_policy = "always".into(),
                Field::ImagePullPolicy,
                "IfNotPresent",
            ),
            (
                |i| i.gateway_mode = "spare".into(),
                Field::GatewayMode,
                "shared or local",
            ),
            (
                |i| i.gateway_options = "'--x'".into(),
                Field::GatewayOptions,
                "space-separated",
            ),
            (
                |i| i.gateway_options = "eth1".into(),
                Field::GatewayOptions,
                "option",
            ),
            (|i| i.kind = "yes".into(), Field::Kind, "true or false"),
            (
                |i| i.master_loglevel = "11".into(),
                Field::MasterLoglevel,
                "0 to 10",
            ),
            (
                |i| i.node_loglevel = "-1".into(),
                Field::NodeLoglevel,
                "0 to 10",
            ),
            (
                |i| i.ovn_loglevel_northd = "info".into(),
                Field::OvnLoglevelNorthd,
                "-vconsole",
            ),
            (
                |i| i.ovn_loglevel_controller = "-v*".into(),
                Field::OvnLoglevelController,
                "options",
            ),
            (
                |i| i.ovn_loglevel_nbctld = "-v\t-x".into(),
                Field::OvnLoglevelNbctld,
                "control",
            ),
            (
                |i| i.ovnkube_logfile_maxsize = "0".into(),
                Field::OvnkubeLogfileMaxsize,
                "1 to",
            ),
            (
                |i| i.ovnkube_logfile_maxbackups = "x".into(),
                Field::OvnkubeLogfileMaxbackups,
                "whole",
            ),
            (
                |i| i.ovnkube_logfile_maxage = "9999".into(),
                Field::OvnkubeLogfileMaxage,
                "3650",
            ),
            (
                |i| i.ovn_master_count = "0".into(),
                Field::OvnMasterCount,
                "1 to 9",
            ),
            (
                |i| i.ovn_nb_port = "70000".into(),
                Field::OvnNbPort,
                "65535",
            ),
            (
                |i| i.ovn_nb_port = "6643".into(),
                Field::OvnNbPort,
                "replication",
            ),
            (
                |i| i.ovn_sb_port = "5405".into(),
                Field::OvnSbPort,
                "corosync",
            ),
            (
                |i| i.ovn_sb_port = "6641".into(),
                Field::OvnSbPort,
                "two ports",
            ),
            (
                |i| i.hybrid_enabled = "yes".into(),
                Field::HybridEnabled,
                "true or false",
            ),
        ];
        for (edit, field, word) in cases {
            let mut input = UpstreamInput::default();
            edit(&mut input);
            let c = input.check();
            assert_eq!(c.problems.len(), 1, "{field:?}: {:?}", c.problems);
            let p = &c.problems[0];
            assert_eq!(p.field, *field);
            assert!(p.to_string().contains(field.flag()), "{p}");
            assert!(p.message.contains(word), "{field:?}: {p}");
        }
    }
}
