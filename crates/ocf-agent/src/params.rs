//! The agent's parameters: one table drives both parsing (with defaults) and the meta-data.
//! Names, types and defaults of the first group are those of OVN's shell agent, so existing
//! Pacemaker configurations keep working; the second group adds the paths ovn-ctl uses.

use crate::env::Env;
use crate::ocf::{OcfError, Rc};
use ovn_ha_contract::Db;
use std::net::IpAddr;
use std::path::PathBuf;

/// One parameter as shown in the meta-data.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// `OCF_RESKEY_<name>`.
    pub name: &'static str,
    /// Effective default (`None`: no default).
    pub default: Option<&'static str>,
    /// Mandatory.
    pub required: bool,
    /// One-line description.
    pub short: &'static str,
    /// Longer description.
    pub long: &'static str,
}

const fn p(
    name: &'static str,
    default: Option<&'static str>,
    short: &'static str,
    long: &'static str,
) -> ParamDef {
    ParamDef {
        name,
        default,
        required: false,
        short,
        long,
    }
}

/// Every parameter, in meta-data order.
pub const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "master_ip",
        default: None,
        required: true,
        short: "Address the active copy serves (the floating IP)",
        long: "IP address (IPv4 or IPv6) that the promoted copy serves, normally a floating \
               address managed by the cluster and started after the promotion. Standby copies \
               replicate from this address; it must never be an address of the standby's own host.",
    },
    p(
        "ovn_ctl",
        Some("/usr/share/ovn/scripts/ovn-ctl"),
        "Path of ovn-ctl (accepted for compatibility)",
        "Path of the ovn-ctl script. Accepted for compatibility with OVN's shell agent; this agent starts and controls ovsdb-server itself and does not run ovn-ctl.",
    ),
    p(
        "nb_master_port",
        Some("6641"),
        "Northbound database port",
        "TCP port of the Northbound database on master_ip.",
    ),
    p(
        "nb_master_protocol",
        Some("tcp"),
        "Northbound database protocol",
        "Protocol of the Northbound database: tcp or ssl.",
    ),
    p(
        "sb_master_port",
        Some("6642"),
        "Southbound database port",
        "TCP port of the Southbound database on master_ip.",
    ),
    p(
        "sb_master_protocol",
        Some("tcp"),
        "Southbound database protocol",
        "Protocol of the Southbound database: tcp or ssl.",
    ),
    p(
        "nb_replication_port",
        None,
        "Northbound replication port (empty: nb_master_port)",
        "TCP port on master_ip where the active Northbound copy also listens for its standbys, which replicate from it. A port of their own lets the active tell its replicas from its clients exactly (the entrypoint's replication fence judges only these connections). Empty: standbys replicate from nb_master_port, as OVN's shell agent does.",
    ),
    p(
        "sb_replication_port",
        None,
        "Southbound replication port (empty: sb_master_port)",
        "TCP port on master_ip where the active Southbound copy also listens for its standbys. Empty: sb_master_port.",
    ),
    p(
        "manage_northd",
        Some("no"),
        "Manage ovn-northd (only no is supported)",
        "Whether the agent starts ovn-northd on the promoted copy. Only no is supported: ovn-northd runs elsewhere (in ovnkube-master), not under Pacemaker.",
    ),
    p(
        "inactive_probe_interval",
        Some("5000"),
        "Inactivity probe for clients (ms)",
        "Inactivity probe interval in milliseconds for client connections to the promoted copy. Must not be 0.",
    ),
    p(
        "inactive_probe_interval_to_master",
        Some("60000"),
        "Inactivity probe to the active server (ms)",
        "Inactivity probe interval in milliseconds of a standby's connection to the active server. It bounds how long a standby takes to notice a silent active.",
    ),
    p(
        "listen_on_master_ip_only",
        Some("yes"),
        "Listen on master_ip only (yes) or on all addresses (no)",
        "yes: the databases listen on master_ip only (use with a cluster-managed floating IP). no: they listen on all addresses (use with an external load balancer).",
    ),
    p(
        "ovn_nb_db_privkey",
        Some("/etc/openvswitch/ovnnb-privkey.pem"),
        "Northbound SSL private key",
        "Private key file for nb_master_protocol=ssl.",
    ),
    p(
        "ovn_nb_db_cert",
        Some("/etc/openvswitch/ovnnb-cert.pem"),
        "Northbound SSL certificate",
        "Certificate file for nb_master_protocol=ssl.",
    ),
    p(
        "ovn_nb_db_cacert",
        Some("/etc/openvswitch/cacert.pem"),
        "Northbound SSL CA certificate",
        "CA certificate file for nb_master_protocol=ssl.",
    ),
    p(
        "ovn_sb_db_privkey",
        Some("/etc/openvswitch/ovnsb-privkey.pem"),
        "Southbound SSL private key",
        "Private key file for sb_master_protocol=ssl.",
    ),
    p(
        "ovn_sb_db_cert",
        Some("/etc/openvswitch/ovnsb-cert.pem"),
        "Southbound SSL certificate",
        "Certificate file for sb_master_protocol=ssl.",
    ),
    p(
        "ovn_sb_db_cacert",
        Some("/etc/openvswitch/cacert.pem"),
        "Southbound SSL CA certificate",
        "CA certificate file for sb_master_protocol=ssl.",
    ),
    p(
        "run_dir",
        Some(ovn_ha_contract::DEFAULT_RUN_DIR),
        "Run directory (pid files, sockets)",
        "Directory of ovnnb_db.pid/.ctl/.sock and ovnsb_db.pid/.ctl/.sock, as ovn-ctl uses.",
    ),
    p(
        "db_nb_file",
        Some(Db::Nb.default_file()),
        "Northbound database file",
        "Northbound database file; created from the schema if missing; converted online, while a backup, to the schema the active serves.",
    ),
    p(
        "db_sb_file",
        Some(Db::Sb.default_file()),
        "Southbound database file",
        "Southbound database file; created from the schema if missing; converted online, while a backup, to the schema the active serves.",
    ),
    p(
        "db_nb_schema",
        Some(Db::Nb.image_schema()),
        "Northbound schema",
        "Northbound schema file.",
    ),
    p(
        "db_sb_schema",
        Some(Db::Sb.image_schema()),
        "Southbound schema",
        "Southbound schema file.",
    ),
    p(
        "log_dir",
        Some("/var/log/ovn"),
        "Log directory",
        "Directory of ovsdb-server-nb.log and ovsdb-server-sb.log.",
    ),
    p(
        "ovsdb_server",
        Some("/usr/sbin/ovsdb-server"),
        "ovsdb-server binary",
        "Path of the ovsdb-server binary.",
    ),
    p(
        "ovsdb_tool",
        Some("/usr/bin/ovsdb-tool"),
        "ovsdb-tool binary",
        "Path of the ovsdb-tool binary.",
    ),
    p(
        "ovsdb_client",
        Some("/usr/bin/ovsdb-client"),
        "ovsdb-client binary",
        "Path of the ovsdb-client binary (online schema conversions of an upgrade).",
    ),
    p(
        "state_dir",
        Some("/run/ovndb-servers"),
        "Agent state directory",
        "Directory (on a tmpfs) where the agent caches the last promotion score it set and when replication was last seen.",
    ),
    p(
        "promotion_gate",
        Some(""),
        "Promotion gate file (empty: none)",
        "A file another process on this host writes: while it reads closed this copy is not promotable (its promotion score is -INFINITY), e.g. during a cold start until the copies' data positions have been compared. Empty: no gate.",
    ),
    p(
        "client_proxy",
        Some("no"),
        "Clients and standbys reach the server through a proxy (yes/no)",
        "yes: another process on this host listens on the client and replication ports (e.g. the ovnkube-db-ha entrypoint's semi-synchronous proxy) and joins each connection to the server's unix socket; the server itself listens on no TCP port. no: the server listens on them itself.",
    ),
];

/// `tcp` or `ssl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Plain TCP.
    Tcp,
    /// TLS.
    Ssl,
}

impl Proto {
    /// The word used in ovsdb remotes.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Ssl => "ssl",
        }
    }
}

/// Listener and TLS settings of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// TCP port of the clients.
    pub port: u16,
    /// TCP port standbys replicate from (equals `port` unless configured).
    pub replication_port: u16,
    /// tcp or ssl.
    pub proto: Proto,
    /// TLS private key.
    pub privkey: PathBuf,
    /// TLS certificate.
    pub cert: PathBuf,
    /// TLS CA certificate.
    pub cacert: PathBuf,
}

/// Parsed, validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The floating address of the active copy.
    pub master_ip: IpAddr,
    /// Northbound.
    pub nb: Endpoint,
    /// Southbound.
    pub sb: Endpoint,
    /// Client inactivity probe (ms).
    pub inactive_probe_interval: u64,
    /// Standby → active probe (ms).
    pub inactive_probe_interval_to_master: u64,
    /// Listen on master_ip only.
    pub listen_on_master_ip_only: bool,
    /// Accepted, unused.
    pub ovn_ctl: PathBuf,
    /// Run directory.
    pub run_dir: PathBuf,
    /// NB database file.
    pub db_nb_file: PathBuf,
    /// SB database file.
    pub db_sb_file: PathBuf,
    /// NB schema.
    pub db_nb_schema: PathBuf,
    /// SB schema.
    pub db_sb_schema: PathBuf,
    /// Log directory.
    pub log_dir: PathBuf,
    /// ovsdb-server binary.
    pub ovsdb_server: PathBuf,
    /// ovsdb-tool binary.
    pub ovsdb_tool: PathBuf,
    /// ovsdb-client binary.
    pub ovsdb_client: PathBuf,
    /// Agent state directory.
    pub state_dir: PathBuf,
    /// The promotion gate file, if any (see [`crate::score::gate_closed`]).
    pub promotion_gate: Option<PathBuf>,
    /// A proxy on this host listens on the TCP ports; the server only on its unix socket.
    pub client_proxy: bool,
}

fn configured(name: &str, reason: impl std::fmt::Display) -> OcfError {
    OcfError::new(Rc::ErrConfigured, format!("parameter {name}: {reason}"))
}

/// Parses `yes/no` the way OCF agents usually accept booleans.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" | "y" => Some(true),
        "no" | "false" | "0" | "off" | "n" => Some(false),
        _ => None,
    }
}

struct Reader<'a> {
    env: &'a Env,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        if let Some(v) = self.env.reskey(name) {
            return Some(v.to_owned());
        }
        PARAMS
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.default)
            .map(str::to_owned)
    }

    fn string(&self, name: &str) -> String {
        self.raw(name).unwrap_or_default()
    }

    fn path(&self, name: &str) -> Result<PathBuf, OcfError> {
        let v = self.string(name);
        if !v.starts_with('/') {
            return Err(configured(name, format!("{v:?} is not an absolute path")));
        }
        Ok(PathBuf::from(v))
    }

    fn port(&self, name: &str) -> Result<u16, OcfError> {
        let v = self.string(name);
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(configured(
                name,
                format!("{v:?} is not a port number (1-65535)"),
            )),
        }
    }

    /// A port that may be left empty (then `fallback`).
    fn port_or(&self, name: &str, fallback: u16) -> Result<u16, OcfError> {
        match self.raw(name) {
            Some(v) if !v.trim().is_empty() => self.port(name),
            _ => Ok(fallback),
        }
    }

    fn proto(&self, name: &str) -> Result<Proto, OcfError> {
        match self.string(name).to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "ssl" => Ok(Proto::Ssl),
            other => Err(configured(
                name,
                format!("{other:?} is neither tcp nor ssl"),
            )),
        }
    }

    fn millis(&self, name: &str, min: u64) -> Result<u64, OcfError> {
        let v = self.string(name);
        match v.parse::<u64>() {
            Ok(n) if n >= min && n <= i32::MAX as u64 => Ok(n),
            _ => Err(configured(
                name,
                format!("{v:?} is not a number of milliseconds >= {min}"),
            )),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, OcfError> {
        let v = self.string(name);
        parse_bool(&v).ok_or_else(|| configured(name, format!("{v:?} is neither yes nor no")))
    }
}

impl Params {
    /// Parses and validates the parameters from the environment (pure).
    pub fn from_env(env: &Env) -> Result<Self, OcfError> {
        let r = Reader { env };
        let master_ip = match env.reskey("master_ip") {
            None => return Err(configured("master_ip", "is required")),
            Some(v) => v
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| configured("master_ip", format!("{v:?} is not an IP address")))?,
        };
        if master_ip.is_unspecified() || master_ip.is_multicast() {
            return Err(configured(
                "master_ip",
                format!("{master_ip} cannot be a server address"),
            ));
        }
        if r.boolean("manage_northd")? {
            return Err(configured(
                "manage_northd",
                "yes is not supported: ovn-northd runs outside Pacemaker (in ovnkube-master)",
            ));
        }
        let endpoint = |db: &str| -> Result<Endpoint, OcfError> {
            let port = r.port(&format!("{db}_master_port"))?;
            Ok(Endpoint {
                port,
                replication_port: r.port_or(&format!("{db}_replication_port"), port)?,
                proto: r.proto(&format!("{db}_master_protocol"))?,
                privkey: r.path(&format!("ovn_{db}_db_privkey"))?,
                cert: r.path(&format!("ovn_{db}_db_cert"))?,
                cacert: r.path(&format!("ovn_{db}_db_cacert"))?,
            })
        };
        let nb = endpoint("nb")?;
        let sb = endpoint("sb")?;
        if nb.port == sb.port {
            return Err(configured(
                "sb_master_port",
                format!("equals nb_master_port ({})", nb.port),
            ));
        }
        // A replication port may equal its own database's client port (the default), never
        // the other database's ports.
        let nb_ports = [
            ("nb_master_port", nb.port),
            ("nb_replication_port", nb.replication_port),
        ];
        for (name, port, others) in [
            (
                "nb_replication_port",
                nb.replication_port,
                &[("sb_master_port", sb.port)][..],
            ),
            ("sb_replication_port", sb.replication_port, &nb_ports[..]),
        ] {
            if let Some((other, _)) = others.iter().find(|(_, p)| *p == port) {
                return Err(configured(
                    name,
                    format!(
                        "{port} is already {other}; give each database its own replication port, or leave it empty"
                    ),
                ));
            }
        }
        Ok(Self {
            master_ip,
            nb,
            sb,
            inactive_probe_interval: r.millis("inactive_probe_interval", 1)?,
            inactive_probe_interval_to_master: r.millis("inactive_probe_interval_to_master", 1)?,
            listen_on_master_ip_only: r.boolean("listen_on_master_ip_only")?,
            ovn_ctl: r.path("ovn_ctl")?,
            run_dir: r.path("run_dir")?,
            db_nb_file: r.path("db_nb_file")?,
            db_sb_file: r.path("db_sb_file")?,
            db_nb_schema: r.path("db_nb_schema")?,
            db_sb_schema: r.path("db_sb_schema")?,
            log_dir: r.path("log_dir")?,
            ovsdb_server: r.path("ovsdb_server")?,
            ovsdb_tool: r.path("ovsdb_tool")?,
            ovsdb_client: r.path("ovsdb_client")?,
            state_dir: r.path("state_dir")?,
            promotion_gate: match r.string("promotion_gate").as_str() {
                "" => None,
                _ => Some(r.path("promotion_gate")?),
            },
            client_proxy: r.boolean("client_proxy")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![("OCF_RESKEY_master_ip", "192.0.2.10")];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_match_the_shell_agent() {
        let p = Params::from_env(&env(&[])).unwrap();
        assert_eq!(p.master_ip.to_string(), "192.0.2.10");
        assert_eq!((p.nb.port, p.nb.proto), (6641, Proto::Tcp));
        assert_eq!((p.sb.port, p.sb.proto), (6642, Proto::Tcp));
        // Standbys replicate from the client port unless told otherwise (the shell agent's way).
        assert_eq!((p.nb.replication_port, p.sb.replication_port), (6641, 6642));
        assert_eq!(p.inactive_probe_interval, 5000);
        assert_eq!(p.inactive_probe_interval_to_master, 60000);
        assert!(p.listen_on_master_ip_only);
        assert_eq!(p.ovn_ctl, PathBuf::from("/usr/share/ovn/scripts/ovn-ctl"));
        assert_eq!(
            p.nb.privkey,
            PathBuf::from("/etc/openvswitch/ovnnb-privkey.pem")
        );
        assert_eq!(p.sb.cacert, PathBuf::from("/etc/openvswitch/cacert.pem"));
        assert_eq!(p.run_dir, PathBuf::from("/var/run/ovn"));
        assert_eq!(p.db_sb_file, PathBuf::from("/var/lib/ovn/ovnsb_db.db"));
        assert_eq!(p.state_dir, PathBuf::from("/run/ovndb-servers"));
    }

    #[test]
    fn shell_agent_parameter_names_are_all_present() {
        for name in [
            "ovn_ctl",
            "master_ip",
            "nb_master_port",
            "nb_master_protocol",
            "sb_master_port",
            "sb_master_protocol",
            "manage_northd",
            "inactive_probe_interval",
            "inactive_probe_interval_to_master",
            "listen_on_master_ip_only",
            "ovn_nb_db_privkey",
            "ovn_nb_db_cert",
            "ovn_nb_db_cacert",
            "ovn_sb_db_privkey",
            "ovn_sb_db_cert",
            "ovn_sb_db_cacert",
        ] {
            assert!(PARAMS.iter().any(|d| d.name == name), "{name}");
        }
        // No duplicates.
        for (i, a) in PARAMS.iter().enumerate() {
            assert!(
                PARAMS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn values_are_read() {
        let p = Params::from_env(&env(&[
            ("OCF_RESKEY_master_ip", "2001:db8::5"),
            ("OCF_RESKEY_nb_master_port", "16641"),
            ("OCF_RESKEY_sb_master_protocol", "SSL"),
            ("OCF_RESKEY_listen_on_master_ip_only", "no"),
            ("OCF_RESKEY_manage_northd", "no"),
            ("OCF_RESKEY_inactive_probe_interval_to_master", "1000"),
            ("OCF_RESKEY_run_dir", "/tmp/x"),
            ("OCF_RESKEY_nb_replication_port", "6643"),
            ("OCF_RESKEY_sb_replication_port", ""),
        ]))
        .unwrap();
        assert_eq!((p.nb.replication_port, p.sb.replication_port), (6643, 6642));
        assert_eq!(p.master_ip.to_string(), "2001:db8::5");
        assert_eq!(p.nb.port, 16641);
        assert_eq!(p.sb.proto, Proto::Ssl);
        assert!(!p.listen_on_master_ip_only);
        assert_eq!(p.inactive_probe_interval_to_master, 1000);
        assert_eq!(p.run_dir, PathBuf::from("/tmp/x"));
        let p = Params::from_env(&env(&[("OCF_RESKEY_master_ip", "[2001:db8::5]")])).unwrap();
        assert_eq!(p.master_ip.to_string(), "2001:db8::5");
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("OCF_RESKEY_master_ip", "")], "master_ip"),
            (&[("OCF_RESKEY_master_ip", "vip.example")], "master_ip"),
            (&[("OCF_RESKEY_master_ip", "0.0.0.0")], "master_ip"),
            (&[("OCF_RESKEY_nb_master_port", "0")], "nb_master_port"),
            (&[("OCF_RESKEY_sb_master_port", "70000")], "sb_master_port"),
            (&[("OCF_RESKEY_sb_master_port", "6641")], "sb_master_port"),
            (
                &[("OCF_RESKEY_nb_replication_port", "6642")],
                "nb_replication_port",
            ),
            (
                &[("OCF_RESKEY_sb_replication_port", "6641")],
                "sb_replication_port",
            ),
            (
                &[
                    ("OCF_RESKEY_nb_replication_port", "6643"),
                    ("OCF_RESKEY_sb_replication_port", "6643"),
                ],
                "sb_replication_port",
            ),
            (
                &[("OCF_RESKEY_sb_replication_port", "x")],
                "sb_replication_port",
            ),
            (
                &[("OCF_RESKEY_nb_master_protocol", "udp")],
                "nb_master_protocol",
            ),
            (&[("OCF_RESKEY_manage_northd", "yes")], "manage_northd"),
            (&[("OCF_RESKEY_manage_northd", "maybe")], "manage_northd"),
            (
                &[("OCF_RESKEY_inactive_probe_interval", "0")],
                "inactive_probe_interval",
            ),
            (
                &[("OCF_RESKEY_inactive_probe_interval_to_master", "soon")],
                "inactive_probe_interval_to_master",
            ),
            (
                &[("OCF_RESKEY_listen_on_master_ip_only", "perhaps")],
                "listen_on_master_ip_only",
            ),
            (&[("OCF_RESKEY_run_dir", "relative/dir")], "run_dir"),
            (
                &[("OCF_RESKEY_ovn_nb_db_cert", "cert.pem")],
                "ovn_nb_db_cert",
            ),
        ];
        for (extra, name) in cases {
            let err = Params::from_env(&env(extra)).unwrap_err();
            assert_eq!(err.rc, Rc::ErrConfigured, "{extra:?}");
            assert!(err.reason.contains(name), "{extra:?}: {}", err.reason);
        }
        let err = Params::from_env(&Env::default()).unwrap_err();
        assert!(err.reason.contains("master_ip") && err.reason.contains("required"));
    }

    #[test]
    fn booleans() {
        for (v, want) in [
            ("yes", Some(true)),
            ("No", Some(false)),
            ("1", Some(true)),
            ("off", Some(false)),
            ("x", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v}");
        }
    }
}
