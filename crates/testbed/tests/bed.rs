//! Builds real beds (needs root, iproute2, util-linux): connectivity, mount isolation, link
//! faults, child guards, and teardown that leaves nothing — also after a "killed" run.

#![allow(clippy::unwrap_used)] // test helpers may unwrap, like the tests

use ovn_ha_testbed::{Bed, BedSpec, teardown_by_name};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(500);

fn sock(addr: &str) -> SocketAddr {
    addr.parse().unwrap()
}

fn root_connects(addr: &str) -> bool {
    TcpStream::connect_timeout(&sock(addr), SHORT).is_ok()
}

/// Retries `check` up to 5 times within ~5 s.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..5 {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn text(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn assert_nothing_left(prefix: &str) {
    let netns = text(Command::new("ip").args(["netns", "list"]).output().unwrap());
    assert!(
        !netns.lines().any(|l| l.starts_with(&format!("{prefix}-"))),
        "{netns}"
    );
    let links = text(Command::new("ip").args(["-o", "link"]).output().unwrap());
    assert!(!links.contains(&format!(" {prefix}-")), "{links}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = format!("/var/tmp/ovn-ha-testbed/{prefix}");
    assert!(!mounts.contains(&dir), "{mounts}");
    assert!(!std::path::Path::new(&dir).exists());
}

#[test]
fn three_host_bed_works_and_leaves_nothing() {
    if !ovn_ha_testbed::prereq::check("testbed", &ovn_ha_testbed::prereq::missing_root()) {
        return;
    }
    let _ = teardown_by_name("t4tb");
    let bed = Bed::create(&BedSpec::new("t4tb", 4, 3).unwrap()).unwrap();
    let [h1, h2, h3] = [&bed.hosts()[0], &bed.hosts()[1], &bed.hosts()[2]];
    assert_eq!(h1.name(), "t4tb-h1");
    assert_eq!(h2.addr().to_string(), "198.18.4.12");

    // Host to host, host to the machine, and the machine to a host, through the bridge.
    let on_h2 = h2
        .in_netns(|| TcpListener::bind("198.18.4.12:7400"))
        .unwrap()
        .unwrap();
    let on_h3 = h3
        .in_netns(|| TcpListener::bind("198.18.4.13:7400"))
        .unwrap()
        .unwrap();
    let on_root = TcpListener::bind("198.18.4.1:7400").unwrap();
    assert!(eventually(
        || h1.tcp_connects(sock("198.18.4.12:7400"), SHORT)
    ));
    assert!(eventually(
        || h3.tcp_connects(sock("198.18.4.1:7400"), SHORT)
    ));
    assert!(eventually(|| root_connects("198.18.4.13:7400")));
    // Namespaces are separate: h1 has no listener of its own on h2's port.
    assert!(!h1.tcp_connects(sock("127.0.0.1:7400"), SHORT));

    // Mount isolation: a file written in h1's /etc/corosync is not seen by h2 or the machine.
    h1.run("touch", &["/etc/corosync/t4tb-marker"]).unwrap();
    assert!(h1.run("test", &["-e", "/etc/corosync/t4tb-marker"]).is_ok());
    assert!(
        h2.run("test", &["-e", "/etc/corosync/t4tb-marker"])
            .is_err()
    );
    assert!(!std::path::Path::new("/etc/corosync/t4tb-marker").exists());
    // The original's skeleton was copied, Pacemaker's state dirs have their owner.
    assert!(
        h2.run("test", &["-e", "/etc/corosync/corosync.conf"])
            .is_ok()
    );
    let owner = text(
        h3.run("stat", &["-c", "%U:%G", "/var/lib/pacemaker/cib"])
            .unwrap(),
    );
    assert_eq!(owner, "hacluster:haclient");
    // /run and /dev/shm are private tmpfs.
    h1.run("touch", &["/run/t4tb-run", "/dev/shm/t4tb-shm"])
        .unwrap();
    assert!(h2.run("test", &["-e", "/run/t4tb-run"]).is_err());
    assert!(h2.run("test", &["-e", "/dev/shm/t4tb-shm"]).is_err());
    assert!(!std::path::Path::new("/run/t4tb-run").exists());
    let fs = text(h1.run("stat", &["-f", "-c", "%T", "/run"]).unwrap());
    assert_eq!(fs, "tmpfs");

    // Link cut and restore.
    bed.cut_link(h2).unwrap();
    assert!(!h1.tcp_connects(sock("198.18.4.12:7400"), SHORT));
    assert!(!root_connects("198.18.4.12:7400"));
    bed.restore_link(h2).unwrap();
    assert!(eventually(
        || h1.tcp_connects(sock("198.18.4.12:7400"), SHORT)
    ));
    drop((on_h2, on_h3, on_root));

    // A spawned child dies with its guard.
    let mut cmd = h1.command("sleep");
    cmd.arg("300");
    let child = h1.spawn(cmd).unwrap();
    let pid = child.pid();
    // nsenter joins the namespace right after it starts: look until it is there.
    assert!(eventually(|| {
        let pids = text(
            Command::new("ip")
                .args(["netns", "pids", "t4tb-h1"])
                .output()
                .unwrap(),
        );
        pids.lines().any(|p| p == pid.to_string())
    }));
    drop(child);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());

    // A process left running inside a host does not stop teardown.
    let mut stray = h3.command("sleep");
    stray.arg("300");
    std::mem::forget(h3.spawn(stray).unwrap());

    bed.teardown().unwrap();
    bed.teardown().unwrap();
    assert_nothing_left("t4tb");
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_name() {
    if !ovn_ha_testbed::prereq::check("testbed", &ovn_ha_testbed::prereq::missing_root()) {
        return;
    }
    let _ = teardown_by_name("t4tk");
    let bed = Bed::create(&BedSpec::new("t4tk", 14, 2).unwrap()).unwrap();
    let mut cmd = bed.hosts()[1].command("sleep");
    cmd.arg("300");
    std::mem::forget(bed.hosts()[1].spawn(cmd).unwrap());
    // Simulate a killed test: the bed is never dropped.
    std::mem::forget(bed);
    assert!(matches!(
        Bed::create(&BedSpec::new("t4tk", 14, 2).unwrap()),
        Err(ovn_ha_testbed::BedError::Exists(_))
    ));
    teardown_by_name("t4tk").unwrap();
    teardown_by_name("t4tk").unwrap();
    assert_nothing_left("t4tk");
}
