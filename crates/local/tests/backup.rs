//! Backup and restore, end to end: on a cluster of its own (hosts `bkp-h1..3`,
//! 198.18.50.0/24) it writes switches A1..A5 through the VIP, takes a backup from the active
//! (`ovnkube-db-ha backup` inside its container, through `ovn_ha_local::backup`), writes
//! B1..B5, restores, and checks through the VIP that A1..A5 are back and B1..B5 gone, and on
//! every host's own copy (its unix socket, read inside the host) that the standbys hold exactly
//! the restored content. A backup with one byte changed is refused with the checksum error and
//! changes nothing. Needs root and the image `cargo xtask image` builds; holds the e2e lock for
//! the whole test and removes its cluster by name even when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovn_ha_local::backup;
use ovn_ha_local::cluster::{self, Site};
use ovn_ha_local::e2e::{self, TestCluster};
use ovn_ha_local::observe;
use ovn_ha_local::writer;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Held for the whole test: no other end-to-end run (fault suite, chaos, a bench) at once.
fn serial() -> nix::fcntl::Flock<std::fs::File> {
    e2e::lock(|| eprintln!("  waiting for another end-to-end run (lock)")).unwrap()
}

const HOSTS: usize = 3;

/// This test's own site (the plan is in `ovn_ha_local::e2e`).
fn site() -> Site {
    Site::named("bkp", 50)
}

fn up() -> TestCluster {
    e2e::up(site(), HOSTS).unwrap()
}

/// Waits (bounded) until one host is active for both databases and the others replicate both.
fn wait_converged(site: &Site, limit: Duration) {
    let end = Instant::now() + limit;
    loop {
        let views = observe::sample(site);
        if observe::converged(&views, HOSTS) {
            return;
        }
        if Instant::now() >= end {
            // The hosts' own story (their container logs' last lines) before failing.
            for v in &views {
                let log = site.state_dir.join("logs").join(format!("{}.log", v.host));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("---- last lines of {} ----", v.host);
                for l in &lines[lines.len().saturating_sub(60)..] {
                    eprintln!("{l}");
                }
            }
            panic!("not converged after {limit:?}: {views:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn names(prefix: &str) -> Vec<String> {
    (1..=5).map(|i| format!("{prefix}{i}")).collect()
}

fn write_all(remote: &str, names: &[String]) {
    for n in names {
        assert!(
            writer::write_once(remote, 10, &["ls-add", n]),
            "write {n} not acknowledged"
        );
    }
}

/// The switch names at the VIP.
fn at_vip(remote: &str) -> BTreeSet<String> {
    writer::switches(remote, 10)
        .expect("the VIP answers")
        .into_iter()
        .collect()
}

/// The switch names in `host`'s own NB copy, read over its unix socket inside the host.
fn in_copy(host: &str) -> Option<BTreeSet<String>> {
    let query = r#"["OVN_Northbound",{"op":"select","table":"Logical_Switch","where":[],"columns":["name"]}]"#;
    let out = cluster::exec_in(
        host,
        &[
            "ovsdb-client",
            "--timeout=5",
            "transact",
            "unix:/var/run/ovn/ovnnb_db.sock",
            query,
        ],
    )
    .ok()
    .filter(|o| o.status.success())?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        v[0]["rows"]
            .as_array()?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect(),
    )
}

/// Waits (bounded) until every host's copy holds exactly `want`; panics naming the ones that
/// do not.
fn every_copy_holds(site: &Site, want: &BTreeSet<String>, limit: Duration) {
    let end = Instant::now() + limit;
    loop {
        let hosts = cluster::running_hosts(site);
        let seen: Vec<(String, Option<BTreeSet<String>>)> =
            hosts.iter().map(|h| (h.clone(), in_copy(h))).collect();
        if seen.len() == HOSTS && seen.iter().all(|(_, s)| s.as_ref() == Some(want)) {
            return;
        }
        assert!(
            Instant::now() < end,
            "copies differ from {want:?} after {limit:?}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn backup_then_restore_round_trip() {
    let _serial = serial();
    let started = Instant::now();
    let c = up();
    let site = c.site.clone();
    wait_converged(&site, Duration::from_secs(90));

    let a = names("A");
    let b = names("B");
    write_all(&c.remote, &a);
    let a_set: BTreeSet<String> = a.iter().cloned().collect();
    assert_eq!(at_vip(&c.remote), a_set);

    let dir = tempfile::tempdir().unwrap();
    let bk = dir.path().join("bk");
    let done = backup::backup(&site, &bk).unwrap();
    eprintln!("backup on {}:\n{}", done.host, done.output);
    for f in ["ovnnb_db.db", "ovnsb_db.db", "manifest.json", "SHA256SUMS"] {
        assert!(bk.join(f).is_file(), "{f} missing from the backup");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bk.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["role"], "active");
    assert_eq!(manifest["node"], done.host.as_str());
    // A second backup into the same directory is refused.
    assert!(backup::backup(&site, &bk).is_err());
    // On a standby the entrypoint refuses and names the active; --from-standby labels it.
    let standby = cluster::running_hosts(&site)
        .into_iter()
        .find(|h| *h != done.host)
        .unwrap();
    let entry = "/usr/bin/ovnkube-db-ha";
    let out = cluster::exec_in(&standby, &[entry, "backup", "--output", "/tmp/bk-s"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a standby took a backup: {stderr}");
    assert!(stderr.contains("is not the active"), "{stderr}");
    assert!(stderr.contains(&done.host), "{stderr}");
    let args = [entry, "backup", "--from-standby", "--output", "/tmp/bk-s"];
    let out = cluster::exec_in(&standby, &args).unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = cluster::exec_in(&standby, &["cat", "/tmp/bk-s/manifest.json"]).unwrap();
    let labelled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(labelled["role"], "standby");

    write_all(&c.remote, &b);
    let ab: BTreeSet<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(at_vip(&c.remote), ab);

    let restored_at = Instant::now();
    let done = backup::restore(&site, &bk).unwrap();
    eprintln!("restore on {}:\n{}", done.host, done.output);
    assert_eq!(at_vip(&c.remote), a_set, "the VIP after the restore");
    wait_converged(&site, Duration::from_secs(60));
    every_copy_holds(&site, &a_set, Duration::from_secs(30));
    eprintln!(
        "  every copy holds the restored content {:.2} s after the restore began",
        restored_at.elapsed().as_secs_f64()
    );

    // One byte changed: refused with the checksum error, nothing changed.
    write_all(&c.remote, &["C1".to_string()]);
    let mut now: BTreeSet<String> = a_set.clone();
    now.insert("C1".into());
    let tampered = dir.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    for e in std::fs::read_dir(&bk).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tampered.join(e.file_name())).unwrap();
    }
    let nb = tampered.join("ovnnb_db.db");
    let mut bytes = std::fs::read(&nb).unwrap();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    std::fs::write(&nb, &bytes).unwrap();
    let e = backup::restore(&site, &tampered).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(e.contains("nothing was restored"), "{e}");
    assert_eq!(
        at_vip(&c.remote),
        now,
        "a refused restore changed the VIP's data"
    );
    every_copy_holds(&site, &now, Duration::from_secs(30));
    eprintln!(
        "  backup round trip: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    drop(c);
}
