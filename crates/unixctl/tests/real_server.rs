//! Integration test against a real `ovsdb-server` (skipped with a message when the binary is
//! missing): sync-status forms, follow/disconnect, a reconnect in one round trip, the
//! connect-active and probe-interval traps, and `exit`. Everything runs over unix sockets in a
//! private temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use ovsdb_unixctl::{Client, Command, Error, Link};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

const SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

struct Server {
    child: Child,
    ctl: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have_tools() -> bool {
    Path::new("/usr/sbin/ovsdb-server").exists()
        && Path::new("/usr/bin/ovsdb-tool").exists()
        && Path::new(SCHEMA).exists()
}

fn start(dir: &Path, name: &str, sync_from: Option<&str>) -> Server {
    let db = dir.join(format!("{name}.db"));
    let st = Proc::new("ovsdb-tool")
        .arg("create")
        .arg(&db)
        .arg(SCHEMA)
        .status()
        .unwrap();
    assert!(st.success());
    let ctl = dir.join(format!("{name}.ctl"));
    let mut cmd = Proc::new("ovsdb-server");
    cmd.arg("-vconsole:off")
        .arg(format!(
            "--log-file={}",
            dir.join(format!("{name}.log")).display()
        ))
        .arg(format!(
            "--remote=punix:{}",
            dir.join(format!("{name}.sock")).display()
        ))
        .arg(format!("--unixctl={}", ctl.display()))
        .arg("--no-chdir");
    if let Some(t) = sync_from {
        cmd.arg(format!("--sync-from={t}"));
    }
    cmd.arg(&db).stdin(Stdio::null());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctl.exists() {
        assert!(Instant::now() < deadline, "{name} did not create {ctl:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Server { child, ctl }
}

fn wait_link(c: &mut Client, want: Link) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.sync_status().unwrap();
        if s.get("OVN_Northbound").and_then(|d| d.link()) == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {want:?}: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn real_ovsdb_server_round_trip() {
    if !have_tools() {
        panic!(
            "missing prerequisite: ovsdb-server, ovsdb-tool or the OVN NB schema (cargo xtask test installs them)"
        );
    }
    let dir = std::env::temp_dir().join(format!("ovsdb-unixctl-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let t = Duration::from_secs(5);

    let active = start(&dir, "a", None);
    let mut a = Client::connect(&active.ctl, t).unwrap();
    let s = a.sync_status().unwrap();
    assert!(s.all_active(), "{s:?}");

    // The traps: success replies that report failure.
    let err = a.connect_active().unwrap_err();
    assert!(matches!(err, Error::ReportedFailure { .. }), "{err}");
    let err = a
        .call(&Command::SetActiveProbeInterval("soon"))
        .unwrap_err();
    assert!(matches!(err, Error::ReportedFailure { .. }), "{err}");
    let err = a.call(&Command::SetActive("")).err();
    // An empty target is accepted silently by some versions; it must not be a transport error.
    assert!(!matches!(
        err,
        Some(Error::Io { .. } | Error::Closed { .. })
    ));
    // An unknown command is an error reply.
    let mut a2 = Client::connect(&active.ctl, t).unwrap();
    let err = a2
        .pipeline(&[Command::SyncStatus, Command::SyncStatus])
        .unwrap();
    assert!(err.iter().all(Result::is_ok));

    // A backup of the active one, over a unix socket: no network needed.
    let target = format!("unix:{}", dir.join("a.sock").display());
    let backup = start(&dir, "b", Some(&target));
    let mut b = Client::connect(&backup.ctl, t).unwrap();
    b.set_active_probe_interval(5000).unwrap();
    wait_link(&mut b, Link::Replicating);
    let s = b.sync_status().unwrap();
    assert_eq!(
        s.get("OVN_Northbound").unwrap().target(),
        Some(target.as_str())
    );

    // Promote, then follow a target that does not exist: stays a backup, connecting.
    b.disconnect_active().unwrap();
    assert!(b.sync_status().unwrap().all_active());
    let nowhere = format!("unix:{}", dir.join("nowhere.sock").display());
    b.set_active(&nowhere).unwrap();
    assert!(
        b.sync_status().unwrap().all_active(),
        "set-active alone does not connect"
    );
    b.connect_active().unwrap();
    wait_link(&mut b, Link::Connecting);
    b.follow(&target).unwrap();
    wait_link(&mut b, Link::Replicating);
    // A fresh session to the same target in one round trip, as the standby link does it and
    // then as the notify does it (the target stored again): a backup again, replicating.
    for notify in [false, true] {
        if notify {
            b.refollow(&target).unwrap();
        } else {
            b.reconnect_active().unwrap();
        }
        let s = b.sync_status().unwrap();
        assert_eq!(
            s.get("OVN_Northbound").unwrap().target(),
            Some(target.as_str()),
            "{s:?}"
        );
        wait_link(&mut b, Link::Replicating);
    }

    // exit: the server replies, then goes away.
    let mut backup = backup;
    b.exit().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while backup.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(active);
}
