//! Which files and names belong to each database (NB, SB), derived from the parameters the
//! way ovn-ctl lays them out.

use crate::params::{Endpoint, Params};
use std::net::IpAddr;
use std::path::PathBuf;

/// One of the two databases (the names the agent shares with the entrypoint).
pub use ovn_ha_contract::Db;

/// Files and endpoints of one database server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLayout {
    /// Which database.
    pub db: Db,
    /// Database file.
    pub file: PathBuf,
    /// Schema file.
    pub schema: PathBuf,
    /// Pid file.
    pub pidfile: PathBuf,
    /// unixctl socket.
    pub ctl: PathBuf,
    /// Local client socket.
    pub sock: PathBuf,
    /// Log file.
    pub log: PathBuf,
    /// Listener / TLS settings.
    pub endpoint: Endpoint,
}

impl DbLayout {
    /// The layout of `db` under `params`.
    pub fn new(params: &Params, db: Db) -> Self {
        let (file, schema, endpoint) = match db {
            Db::Nb => (&params.db_nb_file, &params.db_nb_schema, &params.nb),
            Db::Sb => (&params.db_sb_file, &params.db_sb_schema, &params.sb),
        };
        Self {
            db,
            file: file.clone(),
            schema: schema.clone(),
            pidfile: db.pidfile(&params.run_dir),
            ctl: db.ctl(&params.run_dir),
            sock: db.sock(&params.run_dir),
            log: params
                .log_dir
                .join(format!("ovsdb-server-{}.log", db.short())),
            endpoint: endpoint.clone(),
        }
    }

    /// Both layouts, NB first.
    pub fn both(params: &Params) -> [DbLayout; 2] {
        [Self::new(params, Db::Nb), Self::new(params, Db::Sb)]
    }

    /// The remote a standby follows: `PROTO:IP:PORT` at master_ip, on the replication port.
    pub fn active_target(&self, master_ip: IpAddr) -> String {
        format!(
            "{}:{}:{}",
            self.endpoint.proto.as_str(),
            host_part(master_ip),
            self.endpoint.replication_port
        )
    }

    /// The stand-in target used while master_ip is an address of this host: a unix socket
    /// that never exists, so the server stays a backup and sends nothing on the network.
    pub fn placeholder_target(&self) -> String {
        format!("unix:{}", self.ctl.with_extension("no-active").display())
    }
}

/// An address as it appears inside an ovsdb remote (IPv6 in brackets).
pub fn host_part(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    #[test]
    fn ovn_ctl_layout() {
        let p =
            Params::from_env(&Env::from_pairs([("OCF_RESKEY_master_ip", "192.0.2.10")])).unwrap();
        let [nb, sb] = DbLayout::both(&p);
        assert_eq!(nb.pidfile, PathBuf::from("/var/run/ovn/ovnnb_db.pid"));
        assert_eq!(nb.ctl, PathBuf::from("/var/run/ovn/ovnnb_db.ctl"));
        assert_eq!(sb.sock, PathBuf::from("/var/run/ovn/ovnsb_db.sock"));
        assert_eq!(sb.log, PathBuf::from("/var/log/ovn/ovsdb-server-sb.log"));
        assert_eq!(nb.file, PathBuf::from("/var/lib/ovn/ovnnb_db.db"));
        assert_eq!(sb.schema, PathBuf::from("/usr/share/ovn/ovn-sb.ovsschema"));
        assert_eq!(nb.active_target(p.master_ip), "tcp:192.0.2.10:6641");
        assert_eq!(sb.active_target(p.master_ip), "tcp:192.0.2.10:6642");
        assert_eq!(
            nb.active_target("2001:db8::1".parse().unwrap()),
            "tcp:[2001:db8::1]:6641"
        );
        let p = Params::from_env(&Env::from_pairs([
            ("OCF_RESKEY_master_ip", "192.0.2.10"),
            ("OCF_RESKEY_sb_replication_port", "6644"),
        ]))
        .unwrap();
        let [nb, sb] = DbLayout::both(&p);
        assert_eq!(nb.active_target(p.master_ip), "tcp:192.0.2.10:6641");
        assert_eq!(sb.active_target(p.master_ip), "tcp:192.0.2.10:6644");
        assert_eq!(
            nb.placeholder_target(),
            "unix:/var/run/ovn/ovnnb_db.no-active"
        );
        assert_eq!(Db::Sb.schema_name(), "OVN_Southbound");
    }
}
