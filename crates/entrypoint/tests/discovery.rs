//! Peer discovery through the Kubernetes API, on the test bed (198.18.7.0/24, names `t4kd-*`):
//! the hosts' entrypoints get only `OVN_DB_HA_PEER_SELECTOR`, `POD_NAMESPACE`,
//! `OVN_DB_HA_REPLICAS`, `OVN_DB_HA_DEPLOYMENT` and a `KUBECONFIG` pointing at a mock API server
//! on the bed's bridge address (`mock_api`: the only mock, since no Kubernetes API server can
//! run on the project's machines; traffic stays on the bed).
//!
//! Checks: an unreachable API server makes `run` exit non-zero naming the server and the Role,
//! with nothing started; three hosts discover each other, reach quorum, promote one copy and the
//! VIP takes `ovn-nbctl` writes; labelled pods that are not the Deployment's own (no owner, on
//! host 2's node at another address; another ReplicaSet's, on the spare fourth host) change no
//! node list and are logged once each, naming the pod and why; then the mock reschedules the third pod onto a fourth host
//! (SIGTERM to host 3's entrypoint, its pod deleted, a new pod on host 4): hosts 1 and 2
//! rewrite their node list and reload corosync without their entrypoints restarting, and host
//! 4 joins (online, a replicating copy) while the departed node leaves Pacemaker. After the
//! bootstrap and after the move, the promoted copy's pod carries the deletion cost
//! (`controller.kubernetes.io/pod-deletion-cost`, merge-patched by its entrypoint) and no other
//! pod does, so a rolling update would replace the active last.
//!
//! Needs root, corosync, pacemaker, resource-agents and ovn-central; skipped otherwise. Every
//! process is killed by pid and the bed removed, also when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod mock_api;

use mock_api::{DEPLOYMENT, MockApi};
mod common;

use common::{agent_binary, have, random_key, until};
use nix::sys::signal::Signal;
use ovn_ha_testbed::{Bed, BedSpec, Host, HostChild, teardown_by_name};
use serde_json::json;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "t4kd";
const SUBNET: u8 = 7;
const VIP: &str = "198.18.7.100";
const NS: &str = "ovn-kubernetes";
const SELECTOR: &str = "app.kubernetes.io/name=ovnkube-db,app.kubernetes.io/component=database";
const BIN: &str = env!("CARGO_BIN_EXE_ovnkube-db-ha");

fn nbctl(args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .args(["5", "ovn-nbctl", "--timeout=2"])
        .arg(format!("--db=tcp:{VIP}:6641"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn kubeconfig(path: &Path, server: SocketAddr) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n    server: http://{server}\n\
         users:\n- name: pod\n  user: {{}}\ncontexts:\n- name: mock\n  context:\n    cluster: mock\n    user: pod\n    namespace: {NS}\n\
         current-context: mock\n"
    );
    std::fs::write(path, text).unwrap();
}

struct Node {
    host: Host,
    log: PathBuf,
    child: Option<HostChild>,
}

/// Field order is drop order: processes, then the mock, the bed, the directory.
struct Cluster {
    nodes: Vec<Node>,
    mock: MockApi,
    bed: Bed,
    dir: tempfile::TempDir,
    key: PathBuf,
}

impl Cluster {
    fn command(&self, i: usize, kubeconfig: &Path) -> Command {
        let host = &self.nodes[i].host;
        let mut cmd = host.command(BIN);
        cmd.arg("run")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("OVN_DB_VIP", VIP)
            .env("OVN_DB_VIP_PREFIX", "24")
            .env("K8S_NODE", host.name())
            .env("POD_NAME", format!("ovnkube-db-{}", i + 1))
            .env("POD_IP", host.addr().to_string())
            .env("POD_NAMESPACE", NS)
            .env("OVN_DB_HA_PEER_SELECTOR", SELECTOR)
            .env("OVN_DB_HA_REPLICAS", "3")
            .env("OVN_DB_HA_DEPLOYMENT", DEPLOYMENT)
            .env("KUBECONFIG", kubeconfig)
            .env("OVN_DB_HA_AUTHKEY_FILE", &self.key)
            .env("OVN_DB_HA_GRACE_SECONDS", "30")
            .stdin(Stdio::null());
        cmd
    }

    fn start(&mut self, i: usize) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.nodes[i].log)
            .unwrap();
        let mut cmd = self.command(i, &self.dir.path().join("kubeconfig"));
        cmd.stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let child = self.nodes[i].host.spawn(cmd).unwrap();
        self.nodes[i].child = Some(child);
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(HostChild::pid)
    }

    fn running(&mut self, i: usize) -> bool {
        self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()))
    }

    fn stop(&mut self, i: usize) -> Option<i32> {
        let mut child = self.nodes[i].child.take()?;
        child.signal(Signal::SIGTERM).unwrap();
        child
            .wait_timeout(Duration::from_secs(60))
            .unwrap()
            .and_then(|s| s.code())
    }

    fn log_text(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Lines of host `i`'s log that contain every fragment.
    fn log_lines(&self, i: usize, fragments: &[&str]) -> Vec<String> {
        self.log_text(i)
            .lines()
            .filter(|l| fragments.iter().all(|f| l.contains(f)))
            .map(str::to_string)
            .collect()
    }

    fn name(&self, i: usize) -> String {
        self.nodes[i].host.name().to_string()
    }

    fn cat(&self, i: usize, path: &str) -> String {
        let out = self.nodes[i]
            .host
            .command("cat")
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

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

    fn nb_sync_status(&self, i: usize) -> String {
        let out = self.nodes[i]
            .host
            .command("ovs-appctl")
            .args([
                "-t",
                "/var/run/ovn/ovnnb_db.ctl",
                "ovsdb-server/sync-status",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for_write(&self, switch: &str, limit: Duration) -> bool {
        until(limit, Duration::from_millis(300), || {
            nbctl(&["--may-exist", "ls-add", switch]).is_some()
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.nodes {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("---- last lines of {} ----", n.host.name());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
            eprintln!("---- mock API requests ----\n{:#?}", self.mock.requests());
        }
    }
}

/// Waits (bounded) until the pod of the node holding the promoted copy, and no other of `pods`,
/// carries the deletion cost; the pod of host `i` is `ovnkube-db-<i+1>`.
fn deletion_cost_follows_the_active(c: &Cluster, pods: &[&str]) {
    use ovnkube_db_ha::deletion_cost::{ACTIVE_COST, cost_of};
    let mut last = String::new();
    let ok = until(Duration::from_secs(30), Duration::from_millis(250), || {
        let Some(promoted) = c
            .status_json(0)
            .and_then(|s| s["cluster"]["promoted"][0].as_str().map(str::to_string))
        else {
            return false;
        };
        let Some(i) = c.nodes.iter().position(|n| n.host.name() == promoted) else {
            return false;
        };
        let active_pod = format!("ovnkube-db-{}", i + 1);
        let costs: Vec<(String, Option<String>)> = pods
            .iter()
            .map(|p| {
                let cost = c
                    .mock
                    .pod_object(p)
                    .and_then(|o| cost_of(&o).map(str::to_string));
                (p.to_string(), cost)
            })
            .collect();
        last = format!("promoted {promoted}, costs {costs:?}");
        costs.iter().all(|(p, cost)| {
            let want = (*p == active_pod).then_some(ACTIVE_COST);
            cost.as_deref() == want
        })
    });
    assert!(ok, "the deletion cost does not follow the active: {last}");
}

#[test]
fn pods_found_through_the_api_form_a_cluster_and_a_rescheduled_pod_joins() {
    let needed = [
        "corosync",
        "corosync-cfgtool",
        "pacemakerd",
        "crm_mon",
        "crm_node",
        "cibadmin",
        "ovsdb-server",
        "ovn-nbctl",
        "ovs-appctl",
        "/usr/lib/ocf/resource.d/heartbeat/IPaddr2",
        "/usr/share/ovn/scripts/ovn-ctl",
    ];
    let mut missing = ovn_ha_testbed::prereq::missing_root();
    missing.extend(needed.iter().filter(|t| !have(t)).map(|t| (*t).to_string()));
    if !ovn_ha_testbed::prereq::check("discovery test", &missing) {
        return;
    }
    let t_all = Instant::now();
    let agent = agent_binary();
    let _ = teardown_by_name(PREFIX);
    let spec = BedSpec::new(PREFIX, SUBNET, 4).unwrap();
    let bed = Bed::create(&spec).unwrap();
    let mock = MockApi::start(
        SocketAddr::new(IpAddr::V4(spec.bridge_addr()), 0),
        NS,
        SELECTOR,
    );
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let agent_dir = dir.path().join("ocf-ovn");
    std::fs::create_dir(&agent_dir).unwrap();
    std::fs::copy(&agent, agent_dir.join("ovndb-servers")).unwrap();
    let key = dir.path().join("authkey");
    random_key(&key);
    kubeconfig(&dir.path().join("kubeconfig"), mock.addr);
    // A server address on the bridge where nothing listens.
    let closed = SocketAddr::new(IpAddr::V4(spec.bridge_addr()), 9);
    kubeconfig(&dir.path().join("kubeconfig-unreachable"), closed);
    let nodes = bed
        .hosts()
        .iter()
        .map(|h| {
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
        mock,
        bed,
        dir,
        key,
    };
    for i in 0..3 {
        let h = &c.nodes[i].host;
        c.mock.set_pod(
            &format!("ovnkube-db-{}", i + 1),
            h.name(),
            &h.addr().to_string(),
        );
    }

    // 0. API server unreachable: bounded retries, then a clear error; nothing started.
    let t0 = Instant::now();
    let out = c
        .command(0, &c.dir.path().join("kubeconfig-unreachable"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(code) if code != 0),
        "{out:?}"
    );
    assert!(stderr.contains(&closed.to_string()), "{stderr}");
    assert!(stderr.contains("Role"), "{stderr}");
    assert!(c.netns_pids(0).is_empty(), "something was started");
    assert!(!c.cat(0, "/etc/corosync/corosync.conf").contains(PREFIX));
    eprintln!(
        "unreachable API server: exit {:?} after {:?}",
        out.status.code(),
        t0.elapsed()
    );

    // 1. Three hosts find each other through the API and the VIP takes writes.
    let t1 = Instant::now();
    for i in 0..3 {
        c.start(i);
    }
    assert!(
        c.wait_for_write("t4kd-boot", Duration::from_secs(120)),
        "the VIP never took a write"
    );
    eprintln!(
        "bootstrap through API discovery: first write after {:?}",
        t1.elapsed()
    );
    let conf = c.cat(0, "/etc/corosync/corosync.conf");
    for i in 0..3 {
        assert!(conf.contains(&format!("name: {}", c.name(i))), "{conf}");
    }
    assert!(conf.contains("expected_votes: 3"), "{conf}");

    // 1a. The active's pod carries the deletion cost, the standbys' do not.
    let t_cost = Instant::now();
    let pods = ["ovnkube-db-1", "ovnkube-db-2", "ovnkube-db-3"];
    deletion_cost_follows_the_active(&c, &pods);
    eprintln!(
        "deletion cost on the active's pod only after {:?}",
        t_cost.elapsed()
    );

    // 1b. Labelled pods that are not the Deployment's own are ignored, each logged once with
    // why. The first has no owner, sorts before every DB pod and sits on host 2's node at
    // another address (it would have replaced host 2's ring address); the second belongs to
    // another ReplicaSet and sits on the spare fourth host (it would have added a member and
    // raised the expected votes). The first is sent twice (a second watch event).
    let t_rogue = Instant::now();
    let reloads: Vec<usize> = (0..3)
        .map(|i| c.log_lines(i, &["corosync reloaded"]).len())
        .collect();
    let confs: Vec<String> = (0..3)
        .map(|i| c.cat(i, "/etc/corosync/corosync.conf"))
        .collect();
    let (node2, node4) = (c.name(1), c.name(3));
    let mut orphan = c.mock.pod("a-debug-copy", &node2, "198.18.7.99");
    orphan["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    c.mock.put_pod(orphan.clone());
    let mut foreign = c.mock.pod(
        "ovnkube-db-other-x1",
        &node4,
        &c.nodes[3].host.addr().to_string(),
    );
    foreign["metadata"]["ownerReferences"][0]["name"] = json!("ovnkube-db-other-7f6c5");
    c.mock.put_pod(foreign);
    orphan["metadata"]["labels"]["debug"] = json!("yes");
    c.mock.put_pod(orphan);
    let (orphan_pod, foreign_pod) = (
        format!("pod a-debug-copy on {node2} is ignored"),
        format!("pod ovnkube-db-other-x1 on {node4} is ignored"),
    );
    let orphan_line = [orphan_pod.as_str(), "it has no controller"];
    let foreign_line = [
        foreign_pod.as_str(),
        "its controller is ReplicaSet ovnkube-db-other-7f6c5",
    ];
    for i in 0..3 {
        assert!(
            until(Duration::from_secs(15), Duration::from_millis(200), || {
                !c.log_lines(i, &orphan_line).is_empty()
                    && !c.log_lines(i, &foreign_line).is_empty()
            }),
            "{} did not log the ignored pods",
            c.name(i)
        );
    }
    // Several supervisor ticks to apply anything it would apply.
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..3 {
        for line in [&orphan_line, &foreign_line] {
            let found = c.log_lines(i, line);
            assert_eq!(found.len(), 1, "{}: {found:?}", c.name(i));
        }
        assert_eq!(
            c.log_lines(i, &["corosync reloaded"]).len(),
            reloads[i],
            "{} reloaded corosync",
            c.name(i)
        );
        let now = c.cat(i, "/etc/corosync/corosync.conf");
        assert_eq!(now, confs[i], "{} changed its node list", c.name(i));
    }
    assert!(
        !conf.contains("198.18.7.99") && !conf.contains(&node4),
        "{conf}"
    );
    eprintln!(
        "rogue labelled pods ignored and logged once (checked for {:?})",
        t_rogue.elapsed()
    );

    // 2. Reschedule: the third pod moves to a fourth host.
    let pids = [c.pid(0), c.pid(1)];
    let t2 = Instant::now();
    assert_eq!(c.stop(2), Some(0), "host 3's entrypoint did not exit 0");
    c.mock.delete_pod("ovnkube-db-3");
    let h4 = c.nodes[3].host.clone();
    c.mock
        .set_pod("ovnkube-db-4", h4.name(), &h4.addr().to_string());
    c.start(3);
    let (old, new) = (c.name(2), c.name(3));
    for i in [0, 1] {
        assert!(
            until(Duration::from_secs(30), Duration::from_millis(250), || {
                let conf = c.cat(i, "/etc/corosync/corosync.conf");
                conf.contains(&format!("name: {new}")) && !conf.contains(&format!("name: {old}"))
            }),
            "{} did not rewrite its node list",
            c.name(i)
        );
    }
    assert!(
        until(Duration::from_secs(90), Duration::from_millis(500), || {
            c.status_json(0).is_some_and(|s| {
                let online = s["cluster"]["nodes"].as_array().is_some_and(|n| {
                    n.iter()
                        .any(|n| n["name"] == new.as_str() && n["online"] == true)
                });
                let replica = s["cluster"]["unpromoted"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|n| n == new.as_str()));
                online && replica
            }) && c.nb_sync_status(3).contains("replicating")
        }),
        "{new} did not join as a replicating copy: {:?}",
        c.status_json(0)
    );
    eprintln!(
        "rescheduled pod on {new}: online and replicating after {:?}",
        t2.elapsed()
    );
    for i in [0, 1] {
        assert!(c.running(i), "{}'s entrypoint exited", c.name(i));
        assert_eq!(c.pid(i), pids[i], "{}'s entrypoint restarted", c.name(i));
        let log = std::fs::read_to_string(&c.nodes[i].log).unwrap();
        assert!(
            log.contains("corosync reloaded"),
            "{}: no reload logged",
            c.name(i)
        );
    }
    // The departed node leaves Pacemaker's node list.
    assert!(
        until(Duration::from_secs(30), Duration::from_millis(500), || {
            c.status_json(0).is_some_and(|s| {
                s["cluster"]["nodes"]
                    .as_array()
                    .is_some_and(|n| n.len() == 3 && !n.iter().any(|n| n["name"] == old.as_str()))
            })
        }),
        "{old} is still in Pacemaker's node list: {:?}",
        c.status_json(0)
    );
    assert!(c.wait_for_write("t4kd-after-move", Duration::from_secs(30)));
    deletion_cost_follows_the_active(&c, &["ovnkube-db-1", "ovnkube-db-2", "ovnkube-db-4"]);
    let listed = nbctl(&["ls-list"]).unwrap();
    assert!(listed.contains("t4kd-boot"), "{listed}");

    // 3. Stop everything; each entrypoint exits 0.
    for i in [0, 1, 3] {
        if let Some(child) = &c.nodes[i].child {
            child.signal(Signal::SIGTERM).unwrap();
        }
    }
    for i in [0, 1, 3] {
        let mut child = c.nodes[i].child.take().unwrap();
        let status = child.wait_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", c.name(i));
    }
    let log = std::fs::read_to_string(&c.nodes[0].log).unwrap();
    for line in log
        .lines()
        .filter(|l| l.contains("members:") || l.contains("discovery:"))
    {
        eprintln!("{}: {line}", c.name(0));
    }
    c.bed.teardown().unwrap();
    eprintln!("discovery test took {:?}", t_all.elapsed());
}
