//! The cluster test of the entrypoint on the test bed (198.18.5.0/24, names `t4cl-*`): three
//! hosts run `ovnkube-db-ha run` (binaries from target/, the OCF agent `ovndb-servers`
//! bind-mounted where Pacemaker looks, inside each host's mount namespace only). They reach
//! quorum and promote one copy; the VIP takes `ovn-nbctl` writes from the machine; `status
//! --json` agrees with what the test sees; SIGTERM to the active's entrypoint moves the VIP and
//! the process exits 0; a host cut off from the other two stops serving while the others take
//! over; a host started with the wrong authkey never joins. At every sample at most one
//! reachable host holds the VIP.
//!
//! Needs root, corosync, pacemaker, resource-agents and ovn-central; skipped with a message
//! otherwise. `OVNKUBE_DB_HA_TEST_AGENT=/path` picks another agent (e.g. OVN's shell agent).
//! Every process is killed by pid and the bed removed, also when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use common::{agent_binary, have, random_key, until};
use nix::sys::signal::Signal;
use ovn_ha_testbed::{Bed, BedSpec, Host, HostChild, teardown_by_name};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "t4cl";
const SUBNET: u8 = 5;
const VIP: &str = "198.18.5.100";
const BIN: &str = env!("CARGO_BIN_EXE_ovnkube-db-ha");

fn nbctl(args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .arg("5")
        .arg("ovn-nbctl")
        .arg("--timeout=2")
        .arg(format!("--db=tcp:{VIP}:6641"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Node {
    host: Host,
    log: PathBuf,
    child: Option<HostChild>,
}

/// The bed and its entrypoints. Field order is drop order: processes first, then the bed,
/// then the temporary directory.
struct Cluster {
    nodes: Vec<Node>,
    bed: Bed,
    dir: tempfile::TempDir,
    peers: String,
}

impl Cluster {
    fn start(&mut self, i: usize, key: &Path) {
        let node = &mut self.nodes[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let mut cmd = node.host.command(BIN);
        cmd.arg("run")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("OVN_DB_VIP", VIP)
            .env("OVN_DB_VIP_PREFIX", "24")
            .env("K8S_NODE", node.host.name())
            .env("POD_IP", node.host.addr().to_string())
            .env("OVN_DB_HA_PEERS", &self.peers)
            .env("OVN_DB_HA_AUTHKEY_FILE", key)
            .env("OVN_DB_HA_GRACE_SECONDS", "30")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        node.child = Some(node.host.spawn(cmd).unwrap());
    }

    /// SIGTERM to the entrypoint of node `i`; returns its exit code.
    fn stop(&mut self, i: usize) -> Option<i32> {
        let mut child = self.nodes[i].child.take()?;
        child.signal(Signal::SIGTERM).unwrap();
        let status = child.wait_timeout(Duration::from_secs(60)).unwrap();
        status.and_then(|s| s.code())
    }

    fn name(&self, i: usize) -> String {
        self.nodes[i].host.name().to_string()
    }

    fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.host.name() == name)
            .unwrap()
    }

    /// Hosts whose eth0 carries the VIP, except `skip` (a host cut off from everyone).
    fn vip_holders(&self, skip: Option<usize>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let o = Command::new("ip")
                .args([
                    "-n",
                    n.host.name(),
                    "-o",
                    "-4",
                    "addr",
                    "show",
                    "dev",
                    "eth0",
                ])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).contains(&format!(" {VIP}/")) {
                out.push(n.host.name().to_string());
            }
        }
        out
    }

    /// Asserts the safety invariant at this sample and returns the single holder, if any.
    fn sample_vip(&self, skip: Option<usize>) -> Option<String> {
        let holders = self.vip_holders(skip);
        assert!(
            holders.len() <= 1,
            "two reachable hosts hold the VIP: {holders:?}"
        );
        holders.into_iter().next()
    }

    /// Pids of the processes in host `i`'s network namespace.
    fn netns_pids(&self, i: usize) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", self.nodes[i].host.name()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Each host's NB sync status, for failure messages.
    fn sync_report(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let o = n
                .host
                .command("ovs-appctl")
                .args([
                    "-t",
                    "/var/run/ovn/ovnnb_db.ctl",
                    "ovsdb-server/sync-status",
                ])
                .output()
                .unwrap();
            out.push_str(&format!(
                "{}: {}\n",
                n.host.name(),
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .replace('\n', "; ")
            ));
        }
        out
    }

    fn status_json(&self, i: usize) -> Option<serde_json::Value> {
        let out = self.nodes[i]
            .host
            .command(BIN)
            .args(["status", "--json"])
            .env("K8S_NODE", self.nodes[i].host.name())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits until the VIP takes a write named `switch`, sampling the invariant.
    fn wait_for_write(
        &self,
        switch: &str,
        limit: Duration,
        skip: Option<usize>,
    ) -> Option<Duration> {
        let t0 = Instant::now();
        until(limit, Duration::from_millis(200), || {
            self.sample_vip(skip);
            nbctl(&["--may-exist", "ls-add", switch]).is_some()
        })
        .then(|| t0.elapsed())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.nodes {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                // The entrypoint's own lines tell the story; corosync's crypto complaints about
                // the wrong-key host would push them out of a plain tail.
                let tail: Vec<&str> = text
                    .lines()
                    .rev()
                    .filter(|l| l.contains("ovnkube-db-ha: "))
                    .take(120)
                    .collect();
                eprintln!("---- last lines of {} ----", n.host.name());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

#[test]
fn three_hosts_form_a_quorum_safe_authenticated_cluster() {
    let needed = [
        "corosync",
        "pacemakerd",
        "crm_mon",
        "cibadmin",
        "crm_attribute",
        "ovsdb-server",
        "ovn-nbctl",
        "ovs-appctl",
        "/usr/lib/ocf/resource.d/heartbeat/IPaddr2",
        "/usr/share/ovn/scripts/ovn-ctl",
    ];
    let mut missing = ovn_ha_testbed::prereq::missing_root();
    missing.extend(needed.iter().filter(|t| !have(t)).map(|t| (*t).to_string()));
    if !ovn_ha_testbed::prereq::check("cluster test", &missing) {
        return;
    }
    let agent = agent_binary();
    let _ = teardown_by_name(PREFIX);
    let bed = Bed::create(&BedSpec::new(PREFIX, SUBNET, 3).unwrap()).unwrap();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let agent_dir = dir.path().join("ocf-ovn");
    std::fs::create_dir(&agent_dir).unwrap();
    std::fs::copy(&agent, agent_dir.join("ovndb-servers")).unwrap();
    let key = dir.path().join("authkey");
    random_key(&key);
    let peers = bed
        .hosts()
        .iter()
        .map(|h| format!("{}={}", h.name(), h.addr()))
        .collect::<Vec<_>>()
        .join(",");
    let nodes = bed
        .hosts()
        .iter()
        .map(|h| {
            // Pacemaker finds ocf:ovn:ovndb-servers here, in this host's mount namespace only.
            h.bind_mount(&agent_dir, "/usr/lib/ocf/resource.d/ovn")
                .unwrap();
            Node {
                host: h.clone(),
                log: dir.path().join(format!("{}.log", h.name())),
                child: None,
            }
        })
        .collect();
    let mut c = Cluster {
        nodes,
        bed,
        dir,
        peers,
    };

    // 0. A bad environment inside a host: exit 2, nothing started, nothing written.
    let original_conf = std::fs::read("/etc/corosync/corosync.conf").unwrap_or_default();
    let out = c.nodes[0]
        .host
        .command(BIN)
        .arg("run")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OVN_DB_VIP", VIP)
        .env("K8S_NODE", c.nodes[0].host.name())
        .env("POD_IP", "198.18.5.99")
        .env("OVN_DB_HA_PEERS", &c.peers)
        .env("OVN_DB_HA_AUTHKEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("OVN_DB_HA_PEERS"));
    assert!(c.netns_pids(0).is_empty(), "something was started");
    let conf = c.nodes[0]
        .host
        .command("cat")
        .arg("/etc/corosync/corosync.conf")
        .output()
        .unwrap();
    assert_eq!(conf.stdout, original_conf, "corosync.conf was written");

    // 1. Bootstrap: quorum, one promoted copy, the VIP takes writes from the machine.
    let t0 = Instant::now();
    for i in 0..3 {
        c.start(i, &key);
    }
    let took = c
        .wait_for_write("t4-boot", Duration::from_secs(120), None)
        .expect("the VIP never took a write");
    eprintln!(
        "bootstrap: first write through the VIP after {:?}",
        t0.elapsed()
    );
    let _ = took;
    let active = c.sample_vip(None).expect("nobody holds the VIP");
    let a = c.index_of(&active);

    // status --json agrees with what the test sees.
    let other = (a + 1) % 3;
    assert!(until(
        Duration::from_secs(30),
        Duration::from_millis(500),
        || {
            c.status_json(other).is_some_and(|s| {
                s["cluster"]["quorum"] == true
                    && s["cluster"]["promoted"] == serde_json::json!([active])
                    && s["cluster"]["vip"] == serde_json::json!([active])
                    && s["cluster"]["unpromoted"]
                        .as_array()
                        .is_some_and(|u| u.len() == 2)
            })
        }
    ));

    // The kubelet's probes pass on the active and on a replica (once it replicates).
    for i in [a, other] {
        assert!(
            until(Duration::from_secs(20), Duration::from_millis(500), || {
                ["readiness", "liveness"].iter().all(|kind| {
                    c.nodes[i]
                        .host
                        .command(BIN)
                        .args(["probe", kind])
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
            }),
            "probes fail on {}",
            c.name(i)
        );
    }

    // 2. Graceful stop of the active's entrypoint: the VIP moves, the process exits 0.
    let t1 = Instant::now();
    let code = c.stop(a);
    assert_eq!(code, Some(0), "the entrypoint of {active} did not exit 0");
    eprintln!(
        "graceful stop of {active}: exited 0 after {:?}",
        t1.elapsed()
    );
    c.wait_for_write("t4-after-term", Duration::from_secs(30), None)
        .expect("no writes after the graceful stop");
    let second = c
        .sample_vip(None)
        .expect("nobody holds the VIP after the stop");
    assert_ne!(second, active);
    let listed = nbctl(&["ls-list"]).unwrap();
    assert!(
        listed.contains("t4-boot"),
        "t4-boot lost after the switchover: {listed}\n{}",
        c.sync_report()
    );

    // The stopped node comes back, clears its standby and rejoins as a replica.
    c.start(a, &key);
    assert!(until(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            c.sample_vip(None);
            c.status_json(a).is_some_and(|s| {
                s["cluster"]["unpromoted"]
                    .as_array()
                    .is_some_and(|u| u.len() == 2 && u.iter().any(|n| n == active.as_str()))
            })
        }
    ));

    // 3. Cut the active host off: the other two take over, the cut host stops serving.
    let cut_name = c.sample_vip(None).unwrap();
    let cut = c.index_of(&cut_name);
    let t2 = Instant::now();
    c.bed.cut_link(&c.nodes[cut].host).unwrap();
    // Server side: when another host holds the VIP (reported, not asserted as a timing).
    let moved = until(Duration::from_secs(30), Duration::from_millis(50), || {
        c.sample_vip(Some(cut)).is_some()
    });
    assert!(moved, "the VIP never moved off the cut host");
    eprintln!(
        "node loss of {cut_name}: VIP on another host after {:?}",
        t2.elapsed()
    );
    let gap = c
        .wait_for_write("t4-after-cut", Duration::from_secs(30), Some(cut))
        .expect("no writes after cutting the active host off");
    eprintln!(
        "node loss of {cut_name}: first write after {:?}",
        t2.elapsed().saturating_sub(gap) + gap
    );
    let third = c.sample_vip(Some(cut)).unwrap();
    assert_ne!(third, cut_name);
    // The cut host loses quorum and stops its copy and the VIP.
    assert!(
        until(Duration::from_secs(30), Duration::from_millis(250), || {
            c.vip_holders(None).len() == 1
        }),
        "the cut host kept the VIP: {:?}",
        c.vip_holders(None)
    );
    assert!(until(
        Duration::from_secs(30),
        Duration::from_millis(500),
        || {
            let out = c.nodes[cut]
                .host
                .command("ovs-appctl")
                .args([
                    "-t",
                    "/var/run/ovn/ovnnb_db.ctl",
                    "ovsdb-server/sync-status",
                ])
                .output()
                .unwrap();
            !String::from_utf8_lossy(&out.stdout).contains("state: active")
        }
    ));
    eprintln!("cut host stopped serving after {:?}", t2.elapsed());
    c.bed.restore_link(&c.nodes[cut].host).unwrap();
    assert!(until(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            c.sample_vip(None);
            c.status_json(c.index_of(&third)).is_some_and(|s| {
                s["cluster"]["unpromoted"]
                    .as_array()
                    .is_some_and(|u| u.len() == 2)
            })
        }
    ));

    // 4. A host restarted with the wrong authkey never joins.
    let victim = (0..3).find(|&i| c.name(i) != third).unwrap();
    let victim_name = c.name(victim);
    assert_eq!(c.stop(victim), Some(0));
    let bad_key = c.dir.path().join("wrong-authkey");
    random_key(&bad_key);
    c.start(victim, &bad_key);
    std::thread::sleep(Duration::from_secs(15));
    let s = c.status_json(c.index_of(&third)).unwrap();
    let joined = s["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == victim_name.as_str() && n["online"] == true);
    assert!(!joined, "{victim_name} joined with a wrong authkey: {s}");
    c.sample_vip(None);
    let log = std::fs::read_to_string(&c.nodes[victim].log).unwrap();
    assert!(
        log.contains("decrypt") || log.contains("Digest does not match"),
        "no crypto rejection logged"
    );
    // Every acknowledged write is still there.
    let listed = nbctl(&["ls-list"]).unwrap();
    for name in ["t4-boot", "t4-after-term", "t4-after-cut"] {
        assert!(listed.contains(name), "{name} lost: {listed}");
    }

    // 5. pacemakerd dies on the lone (wrong-key) host: its entrypoint stops corosync and exits
    //    non-zero, so the kubelet would restart the pod.
    let pcmk = c
        .netns_pids(victim)
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|n| n.trim() == "pacemakerd")
        })
        .expect("no pacemakerd on the host");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pcmk), Signal::SIGKILL).unwrap();
    let mut child = c.nodes[victim].child.take().unwrap();
    let status = child.wait_timeout(Duration::from_secs(30)).unwrap();
    let code = status.and_then(|s| s.code());
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit after pacemakerd died: {status:?}"
    );
    assert!(
        until(Duration::from_secs(10), Duration::from_millis(200), || {
            !c.netns_pids(victim).iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|n| n.trim() == "corosync")
            })
        }),
        "corosync still runs after pacemakerd died"
    );
    drop(child);
    // Pacemaker's orphaned subdaemons were adopted by the entrypoint and stopped by pid.
    assert!(
        until(Duration::from_secs(10), Duration::from_millis(200), || {
            c.netns_pids(victim).is_empty()
        }),
        "processes left on {victim_name}: {:?}",
        c.netns_pids(victim)
    );

    // 6. Stop everything; each entrypoint exits 0.
    for i in 0..3 {
        if let Some(child) = c.nodes[i].child.take() {
            child.signal(Signal::SIGTERM).unwrap();
            c.nodes[i].child = Some(child);
        }
    }
    for i in 0..3 {
        let Some(mut child) = c.nodes[i].child.take() else {
            continue;
        };
        let status = child.wait_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", c.name(i));
    }
    c.bed.teardown().unwrap();
}
