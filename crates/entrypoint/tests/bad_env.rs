//! A bad environment makes `run` exit 2 with one message per bad variable, before anything is
//! written or started (the machine's /etc/corosync/corosync.conf stays untouched).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ovnkube-db-ha");

fn conf_mtime() -> Option<std::time::SystemTime> {
    std::fs::metadata("/etc/corosync/corosync.conf")
        .and_then(|m| m.modified())
        .ok()
}

#[test]
fn bad_environment_exits_2_and_writes_nothing() {
    let before = conf_mtime();
    let out = Command::new(BIN)
        .arg("run")
        .env_clear()
        .env("OVN_DB_VIP", "not-an-ip")
        .env("OVN_NB_PORT", "99999")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "OVN_DB_VIP",
        "OVN_NB_PORT",
        "K8S_NODE",
        "POD_IP",
        "OVN_DB_HA_PEERS",
    ] {
        assert_eq!(
            stderr
                .lines()
                .filter(|l| l.contains(&format!("configuration: {var}:")))
                .count(),
            1,
            "{var} in {stderr}"
        );
    }
    assert_eq!(conf_mtime(), before);
}

#[test]
fn unreadable_authkey_exits_2() {
    let out = Command::new(BIN)
        .arg("run")
        .env_clear()
        .env("OVN_DB_VIP", "198.18.5.100")
        .env("K8S_NODE", "a")
        .env("POD_IP", "198.18.5.11")
        .env("OVN_DB_HA_PEERS", "a=198.18.5.11")
        .env("OVN_DB_HA_AUTHKEY_FILE", "/nonexistent/t4-authkey")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("OVN_DB_HA_AUTHKEY_FILE"));
}

#[test]
fn print_shows_the_generated_files_without_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("authkey");
    std::fs::write(&key, [7u8; 256]).unwrap();
    let run = |what: &str| {
        Command::new(BIN)
            .args(["print", what])
            .env_clear()
            .env("OVN_DB_VIP", "198.18.5.100/24")
            .env("K8S_NODE", "t4cl-h1")
            .env("POD_IP", "198.18.5.11")
            .env(
                "OVN_DB_HA_PEERS",
                "t4cl-h1=198.18.5.11,t4cl-h2=198.18.5.12,t4cl-h3=198.18.5.13",
            )
            .env("OVN_DB_HA_AUTHKEY_FILE", &key)
            .output()
            .unwrap()
    };
    let conf = run("corosync-conf");
    assert!(conf.status.success(), "{conf:?}");
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    ovn_ha_testbed::golden::check(
        &testdata.join("corosync.conf"),
        &String::from_utf8_lossy(&conf.stdout),
    );
    let cib = run("cib");
    assert!(cib.status.success(), "{cib:?}");
    ovn_ha_testbed::golden::check(
        &testdata.join("cib.xml"),
        &String::from_utf8_lossy(&cib.stdout),
    );
}
