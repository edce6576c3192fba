//! Starting ovsdb-server the way ovn-ctl does, without a shell: database file preparation
//! with ovsdb-tool, the server command line (pure), and the spawn itself.

use crate::layout::{DbLayout, host_part};
use crate::params::{Params, Proto};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The ovsdb-server arguments for one database (pure).
pub fn server_args(params: &Params, l: &DbLayout, sync_from: &str) -> Vec<OsString> {
    let schema = l.db.schema_name();
    let mut a: Vec<OsString> = vec![
        "-vconsole:off".into(),
        "-vfile:info".into(),
        format!("--log-file={}", l.log.display()).into(),
        format!("--remote=punix:{}", l.sock.display()).into(),
        format!("--pidfile={}", l.pidfile.display()).into(),
        format!("--unixctl={}", l.ctl.display()).into(),
        "--detach".into(),
        // No --monitor: it would restart a crashed server with this command line, as a backup
        // of master_ip — on the promoted copy, a backup of itself. The entrypoint's crash
        // watcher restarts the promoted copy's server in place as active; a standby's crash is
        // its monitor's to report.
        format!("--remote=db:{schema},{},connections", l.db.global_table()).into(),
    ];
    match l.endpoint.proto {
        Proto::Ssl => {
            a.push(format!("--private-key={}", l.endpoint.privkey.display()).into());
            a.push(format!("--certificate={}", l.endpoint.cert.display()).into());
            a.push(format!("--ca-cert={}", l.endpoint.cacert.display()).into());
        }
        Proto::Tcp => {
            a.push(format!("--private-key=db:{schema},SSL,private_key").into());
            a.push(format!("--certificate=db:{schema},SSL,certificate").into());
            a.push(format!("--ca-cert=db:{schema},SSL,ca_cert").into());
            a.push(format!("--ssl-protocols=db:{schema},SSL,ssl_protocols").into());
            a.push(format!("--ssl-ciphers=db:{schema},SSL,ssl_ciphers").into());
        }
    }
    if !params.client_proxy {
        a.push(format!("--remote={}", listen_target(params, l)).into());
    }
    if l.endpoint.replication_port != l.endpoint.port && !params.client_proxy {
        a.push(format!("--remote={}", replication_listen_target(params, l)).into());
    }
    a.push(format!("--sync-from={sync_from}").into());
    a.push(l.file.as_os_str().to_owned());
    a
}

/// The clients' listening remote, e.g. `ptcp:6641:192.0.2.10` (or `ptcp:6641` on all
/// addresses); the unix socket when a proxy listens on the port.
pub fn listen_target(params: &Params, l: &DbLayout) -> String {
    if params.client_proxy {
        return format!("punix:{}", l.sock.display());
    }
    listener(params, l, l.endpoint.port)
}

/// The standbys' listening remote (the same as the clients' unless a replication port is
/// configured), e.g. `ptcp:6643:192.0.2.10`.
pub fn replication_listen_target(params: &Params, l: &DbLayout) -> String {
    listener(params, l, l.endpoint.replication_port)
}

fn listener(params: &Params, l: &DbLayout, port: u16) -> String {
    let proto = l.endpoint.proto.as_str();
    if params.listen_on_master_ip_only {
        format!("p{proto}:{port}:{}", host_part(params.master_ip))
    } else {
        format!("p{proto}:{port}")
    }
}

/// The `ovn-nbctl`/`ovn-sbctl` arguments that make the database's only connection the
/// listening remote with `inactivity_probe` (pure). The target equals the command-line
/// remote, so ovsdb-server merges the two instead of binding the port twice.
pub fn connection_args(params: &Params, l: &DbLayout) -> Vec<String> {
    vec![
        format!("--db=unix:{}", l.sock.display()),
        "--timeout=10".into(),
        "--".into(),
        "--id=@c".into(),
        "create".into(),
        "Connection".into(),
        format!("target=\"{}\"", listen_target(params, l)),
        format!("inactivity_probe={}", params.inactive_probe_interval),
        "--".into(),
        "set".into(),
        l.db.global_table().into(),
        ".".into(),
        "connections=@c".into(),
    ]
}

/// The client program for a database.
pub fn ctl_program(l: &DbLayout) -> &'static str {
    match l.db {
        crate::layout::Db::Nb => "ovn-nbctl",
        crate::layout::Db::Sb => "ovn-sbctl",
    }
}

/// Creates the database file if missing. An existing file is never converted here, whatever
/// its schema: a copy on another schema than the active's cannot replicate it, so the schema
/// moves only online, the active last (see [`crate::schema`]).
pub fn prepare_db(ovsdb_tool: &Path, l: &DbLayout) -> Result<()> {
    if let Some(dir) = l.file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !l.file.exists() {
        run(Command::new(ovsdb_tool)
            .arg("create")
            .arg(&l.file)
            .arg(&l.schema))?;
    }
    Ok(())
}

/// Spawns one detaching ovsdb-server in its own process group (so a timeout that kills the
/// agent's group cannot reach it; `--detach` also calls setsid). Returns the launcher child,
/// which exits once the daemon is ready.
pub fn spawn(params: &Params, l: &DbLayout, sync_from: &str) -> Result<std::process::Child> {
    for dir in [l.pidfile.parent(), l.log.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Command::new(&params.ovsdb_server)
        .args(server_args(params, l, sync_from))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {}", params.ovsdb_server.display()))
}

/// Waits for a launcher started by [`spawn`]; fails with its stderr if it failed.
pub fn wait_launcher(l: &DbLayout, child: std::process::Child) -> Result<()> {
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for the {} server to start", l.db.short()))?;
    if !out.status.success() {
        bail!(
            "ovsdb-server for {} failed to start ({}): {}",
            l.db.schema_name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    output(cmd).map(|_| ())
}

/// Runs a tool of the start path (ovsdb-tool) through the tools' subprocess layer; unbounded
/// here, as Pacemaker's operation timeout bounds the whole action.
fn output(cmd: &mut Command) -> Result<String> {
    Ok(ovn_ha_exec::Exec::new(cmd).text()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::layout::Db;

    fn args(extra: &[(&str, &str)], db: Db) -> Vec<String> {
        let mut pairs = vec![("OCF_RESKEY_master_ip", "192.0.2.10")];
        pairs.extend_from_slice(extra);
        let p = Params::from_env(&Env::from_pairs(pairs)).unwrap();
        let l = DbLayout::new(&p, db);
        let t = l.active_target(p.master_ip);
        server_args(&p, &l, &t)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn nb_tcp_command_line() {
        let a = args(&[], Db::Nb);
        for want in [
            "-vconsole:off",
            "--log-file=/var/log/ovn/ovsdb-server-nb.log",
            "--remote=punix:/var/run/ovn/ovnnb_db.sock",
            "--pidfile=/var/run/ovn/ovnnb_db.pid",
            "--unixctl=/var/run/ovn/ovnnb_db.ctl",
            "--detach",
            "--remote=db:OVN_Northbound,NB_Global,connections",
            "--private-key=db:OVN_Northbound,SSL,private_key",
            "--remote=ptcp:6641:192.0.2.10",
            "--sync-from=tcp:192.0.2.10:6641",
        ] {
            assert!(a.iter().any(|x| x == want), "missing {want} in {a:?}");
        }
        assert_eq!(a.last().unwrap(), "/var/lib/ovn/ovnnb_db.db");
        assert!(!a.iter().any(|x| x == "--active" || x == "--monitor"));
        assert_eq!(
            a.iter().filter(|x| x.starts_with("--remote=ptcp:")).count(),
            1
        );
    }

    /// With a replication port the server listens on both ports and follows the active's
    /// replication port.
    #[test]
    fn replication_listener() {
        let a = args(&[("OCF_RESKEY_nb_replication_port", "6643")], Db::Nb);
        for want in [
            "--remote=ptcp:6641:192.0.2.10",
            "--remote=ptcp:6643:192.0.2.10",
            "--sync-from=tcp:192.0.2.10:6643",
        ] {
            assert!(a.iter().any(|x| x == want), "missing {want} in {a:?}");
        }
    }

    /// Behind a proxy the server listens on its unix socket only (the proxy holds the TCP
    /// ports) and the connection row names that socket; standbys still follow the
    /// replication port on master_ip, where the active's proxy listens.
    #[test]
    fn behind_a_proxy() {
        let env = [
            ("OCF_RESKEY_nb_replication_port", "6643"),
            ("OCF_RESKEY_client_proxy", "yes"),
        ];
        let a = args(&env, Db::Nb);
        assert!(!a.iter().any(|x| x.starts_with("--remote=ptcp:")), "{a:?}");
        assert!(
            a.iter().any(|x| x == "--sync-from=tcp:192.0.2.10:6643"),
            "{a:?}"
        );
        let mut pairs = vec![("OCF_RESKEY_master_ip", "192.0.2.10")];
        pairs.extend_from_slice(&env);
        let p = Params::from_env(&Env::from_pairs(pairs)).unwrap();
        let c = connection_args(&p, &DbLayout::new(&p, Db::Nb));
        assert!(
            c.contains(&"target=\"punix:/var/run/ovn/ovnnb_db.sock\"".to_owned()),
            "{c:?}"
        );
    }

    /// A missing database is created; one made from an older schema is left as it is (the
    /// schema moves online, the active last), and both versions read back from the files. Runs
    /// the real ovsdb-tool.
    #[test]
    fn prepare_creates_and_never_converts() {
        let tool = Path::new("/usr/bin/ovsdb-tool");
        let schema = Path::new("/usr/share/ovn/ovn-nb.ovsschema");
        if !tool.exists() || !schema.exists() {
            panic!(
                "missing prerequisite: ovsdb-tool or the NB schema (cargo xtask test installs them)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        // An "older" schema: one table fewer and a lower version.
        let mut old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
        old["version"] = "1.0.0".into();
        old["tables"].as_object_mut().unwrap().remove("Meter_Band");
        old["tables"]["Meter"]["columns"]
            .as_object_mut()
            .unwrap()
            .remove("bands");
        let old_schema = dir.path().join("old.ovsschema");
        std::fs::write(&old_schema, old.to_string()).unwrap();

        let p =
            Params::from_env(&Env::from_pairs([("OCF_RESKEY_master_ip", "192.0.2.10")])).unwrap();
        let mut l = DbLayout::new(&p, Db::Nb);
        l.file = dir.path().join("nb.db");
        l.schema = old_schema;
        prepare_db(tool, &l).unwrap();
        assert!(l.file.exists(), "created");
        l.schema = schema.to_path_buf();
        prepare_db(tool, &l).unwrap();
        let version = Command::new(tool)
            .arg("db-version")
            .arg(&l.file)
            .output()
            .unwrap();
        assert_eq!(version.stdout, b"1.0.0\n", "left on its schema");
        assert_eq!(
            crate::schema_change::file_version(&l).unwrap(),
            crate::schema::Version(1, 0, 0)
        );
        let image = crate::schema_change::image_version(&l).unwrap();
        assert!(image > crate::schema::Version(1, 0, 0), "{image}");
        assert!(crate::schema_change::behind_image(&l));
    }

    #[test]
    fn connection_rows() {
        let p = Params::from_env(&Env::from_pairs([
            ("OCF_RESKEY_master_ip", "2001:db8::10"),
            ("OCF_RESKEY_inactive_probe_interval", "7000"),
        ]))
        .unwrap();
        let l = DbLayout::new(&p, Db::Sb);
        let a = connection_args(&p, &l);
        assert_eq!(ctl_program(&l), "ovn-sbctl");
        assert!(a.contains(&"--db=unix:/var/run/ovn/ovnsb_db.sock".to_owned()));
        assert!(
            a.contains(&"target=\"ptcp:6642:[2001:db8::10]\"".to_owned()),
            "{a:?}"
        );
        assert!(a.contains(&"inactivity_probe=7000".to_owned()));
        assert!(a.contains(&"SB_Global".to_owned()));
    }

    #[test]
    fn sb_ssl_all_addresses_ipv6() {
        let a = args(
            &[
                ("OCF_RESKEY_master_ip", "2001:db8::10"),
                ("OCF_RESKEY_sb_master_protocol", "ssl"),
                ("OCF_RESKEY_listen_on_master_ip_only", "no"),
            ],
            Db::Sb,
        );
        for want in [
            "--remote=db:OVN_Southbound,SB_Global,connections",
            "--private-key=/etc/openvswitch/ovnsb-privkey.pem",
            "--certificate=/etc/openvswitch/ovnsb-cert.pem",
            "--ca-cert=/etc/openvswitch/cacert.pem",
            "--remote=pssl:6642",
            "--sync-from=ssl:[2001:db8::10]:6642",
        ] {
            assert!(a.iter().any(|x| x == want), "missing {want} in {a:?}");
        }
        let a = args(&[("OCF_RESKEY_master_ip", "2001:db8::10")], Db::Sb);
        assert!(
            a.iter().any(|x| x == "--remote=ptcp:6642:[2001:db8::10]"),
            "{a:?}"
        );
    }
}
