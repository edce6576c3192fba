//! Copies of the agent on three test-bed hosts (network + mount namespaces on a bridge,
//! 198.18.3.0/24, names `oa3-*`) with real ovsdb-servers and a VIP moved by hand the way
//! IPaddr2 would: promote A, write through the VIP, B (and C) replicate without any
//! notification; switch over to B, every row is there and A follows B; cut A's replication
//! with iptables and A's promotion score drops below B's; later the active (B) dies, and the
//! standby cut first (A) ranks below the one that replicated until the end (C). Skipped with a message when not root or when the
//! OVN / iproute2 / iptables tools are missing. Everything is stopped by pid and removed even
//! on failure (the bed and the guard below tear down on drop).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use ovn_ha_testbed::{Bed, BedSpec, Host, teardown_by_name};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

const PREFIX: &str = "oa3";
const SUBNET: u8 = 3;
const INSTANCE: &str = "ovndb_servers";

fn have(cmd: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(cmd).exists())
}

struct Copy<'a> {
    host: &'a Host,
    vip: String,
    /// `inactive_probe_interval_to_master` (ms): short on A and B, the default on C, so C
    /// notices a dead connection to the active only through the post-promote notification.
    probe_to_master: &'static str,
}

impl Copy<'_> {
    fn agent(&self, action: &str, extra: &[(&str, &str)]) -> (i32, String) {
        let mut cmd = self.host.command(env!("CARGO_BIN_EXE_ovndb-servers"));
        cmd.arg(action)
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESOURCE_INSTANCE", INSTANCE)
            .env("OCF_RESKEY_master_ip", &self.vip)
            .env(
                "OCF_RESKEY_inactive_probe_interval_to_master",
                self.probe_to_master,
            )
            .env("OCF_RESKEY_inactive_probe_interval", "7000")
            .env("OCF_RESKEY_CRM_meta_timeout", "20000");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, action: &str) {
        let (rc, err) = self.agent(action, &[]);
        assert_eq!(rc, 0, "{action} on {}: {err}", self.host.name());
    }

    fn monitor(&self, role: &str) -> (i32, String) {
        self.agent(
            "monitor",
            &[
                (
                    "OCF_RESKEY_CRM_meta_interval",
                    if role == "Promoted" { "1000" } else { "2000" },
                ),
                ("OCF_RESKEY_CRM_meta_role", role),
            ],
        )
    }

    fn sh(&self, script: &str) -> Output {
        self.host
            .command("sh")
            .args(["-c", script])
            .output()
            .unwrap()
    }

    /// The promotion score the agent last computed (its cache; no cluster here).
    fn score(&self) -> Option<i32> {
        let out = self.sh(&format!(
            "cat /run/ovndb-servers/{INSTANCE}.score 2>/dev/null"
        ));
        parse_record_score(&String::from_utf8_lossy(&out.stdout))
    }

    fn rows(&self, db: &str, list_cmd: &str) -> Vec<String> {
        let out = self.sh(&format!(
            "{db} --no-leader-only --timeout=5 --db=unix:/run/ovn/ovn{}_db.sock {list_cmd}",
            if db == "ovn-nbctl" { "nb" } else { "sb" }
        ));
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v
    }

    /// Adds the VIP and announces it with a gratuitous ARP, as IPaddr2 does.
    fn add_vip(&self) {
        let out = self.sh(&format!("ip addr add {}/24 dev eth0", self.vip));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = self.sh(&format!(
            "[ -x /usr/libexec/heartbeat/send_arp ] && /usr/libexec/heartbeat/send_arp -i 50 -r 2 \
             eth0 {} $(cat /sys/class/net/eth0/address) not_used not_used",
            self.vip
        ));
    }

    /// Runs a client write, retrying for a bounded time (a client sees the VIP move).
    fn write(&self, cmd: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.sh(cmd);
            if out.status.success() {
                return;
            }
            let last = String::from_utf8_lossy(&out.stderr);
            assert!(Instant::now() < deadline, "{cmd}: {last}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn del_vip(&self) {
        let _ = self.sh(&format!("ip addr del {}/24 dev eth0", self.vip));
    }

    /// Kills what may be left by pid (daemon and its --monitor parent).
    fn kill_leftovers(&self) {
        let _ = self.sh(
            "for f in /run/ovn/*.pid; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); \
             pp=$(awk '{print $4}' /proc/$p/stat 2>/dev/null); kill -9 $p 2>/dev/null; \
             [ -n \"$pp\" ] && [ \"$(cat /proc/$pp/comm 2>/dev/null)\" = ovsdb-server ] && kill -9 $pp; done",
        );
    }
}

/// The `score=N` field of the agent's record.
fn parse_record_score(text: &str) -> Option<i32> {
    text.split_whitespace()
        .find_map(|f| f.strip_prefix("score="))
        .and_then(|v| v.parse().ok())
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops both copies through the agent, then by pid; the bed removes the rest.
struct Guard<'a> {
    copies: Vec<Copy<'a>>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        for c in &self.copies {
            let _ = c.agent("stop", &[]);
            c.kill_leftovers();
        }
    }
}

#[test]
fn switchover_replication_and_scores() {
    if !nix::unistd::geteuid().is_root() {
        panic!("missing prerequisite: root (for network namespaces)");
    }
    for tool in [
        "ovsdb-server",
        "ovsdb-tool",
        "ovn-nbctl",
        "ovn-sbctl",
        "ip",
        "iptables",
        "nsenter",
    ] {
        assert!(
            have(tool),
            "missing prerequisite: {tool} (cargo xtask test installs it)"
        );
    }
    let _ = teardown_by_name(PREFIX);
    let bed = Bed::create(&BedSpec::new(PREFIX, SUBNET, 3).unwrap()).unwrap();
    let vip = bed.spec().addr(100).to_string();
    let guard = Guard {
        copies: bed
            .hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| Copy {
                host,
                vip: vip.clone(),
                probe_to_master: if i == 2 { "60000" } else { "1000" },
            })
            .collect(),
    };
    let (a, b, c) = (&guard.copies[0], &guard.copies[1], &guard.copies[2]);

    // Both start as backups of the VIP, which nobody holds yet.
    a.ok("start");
    b.ok("start");
    c.ok("start");
    assert_eq!(a.monitor("Unpromoted").0, 0);
    assert_eq!(b.monitor("Unpromoted").0, 0);
    assert_eq!(a.score(), Some(10), "a copy that never replicated");

    // Promote A, then bring the VIP up on it (the order constraint Pacemaker applies).
    a.ok("promote");
    a.ok("promote"); // idempotent
    a.add_vip();
    assert_eq!(a.monitor("Promoted").0, 8);

    // A non-default client probe is recorded on the connection rows at promotion.
    assert_eq!(
        a.rows(
            "ovn-nbctl",
            "--bare --columns=target,inactivity_probe list Connection"
        ),
        vec!["7000".to_owned(), format!("ptcp:6641:{vip}")]
    );
    assert_eq!(
        a.rows(
            "ovn-sbctl",
            "--bare --columns=inactivity_probe list Connection"
        ),
        vec!["7000".to_owned()]
    );

    // B follows the VIP from its start, without any notification.
    wait_for("B replicating from A", Duration::from_secs(30), || {
        b.monitor("Unpromoted").0 == 0 && b.score() == Some(100)
    });

    // Writes through the VIP (from B's host, across the bridge).
    let mut want_ls = Vec::new();
    for i in 0..10 {
        b.write(&format!(
            "ovn-nbctl --timeout=5 --db=tcp:{vip}:6641 --may-exist ls-add sw{i}"
        ));
        want_ls.push(format!("sw{i}"));
    }
    b.write(&format!(
        "ovn-sbctl --timeout=5 --db=tcp:{vip}:6642 --may-exist chassis-add ch-a geneve 198.18.3.11"
    ));
    want_ls.sort();
    let names = |c: &Copy| -> Vec<String> {
        c.rows("ovn-nbctl", "--bare --columns=name list Logical_Switch")
    };
    wait_for("B has every switch", Duration::from_secs(20), || {
        names(b) == want_ls
    });
    wait_for("B has the chassis", Duration::from_secs(20), || {
        b.rows("ovn-sbctl", "--bare --columns=name list Chassis") == vec!["ch-a".to_owned()]
    });

    // Switchover: VIP off A, demote A, promote B, VIP on B.
    a.del_vip();
    a.ok("demote");
    a.ok("demote"); // idempotent
    b.ok("promote");
    b.add_vip();
    assert_eq!(b.monitor("Promoted").0, 8);
    assert_eq!(names(b), want_ls, "every row survived the switchover");

    // Post-promote notification on A and C (Pacemaker sends it to every copy). C's connection
    // to the VIP still looks established but leads to A, which lost the address before it
    // could close it, and C (default 60 s probe) would not notice for a minute: the
    // notification makes it reconnect, to B.
    for copy in [a, c] {
        let (rc, err) = copy.agent(
            "notify",
            &[
                ("OCF_RESKEY_CRM_meta_notify_type", "post"),
                ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
                ("OCF_RESKEY_CRM_meta_notify_promote_uname", b.host.name()),
                ("OCF_RESKEY_CRM_meta_notify_demote_uname", " "),
                ("OCF_RESKEY_CRM_meta_on_node", copy.host.name()),
            ],
        );
        assert_eq!(rc, 0, "{err}");
    }

    // More writes, now through B; A replicates them as B's backup.
    for i in 10..15 {
        a.write(&format!(
            "ovn-nbctl --timeout=5 --db=tcp:{vip}:6641 --may-exist ls-add sw{i}"
        ));
        want_ls.push(format!("sw{i}"));
    }
    want_ls.sort();
    wait_for("A replicating from B", Duration::from_secs(30), || {
        a.monitor("Unpromoted").0 == 0 && a.score() == Some(100)
    });
    wait_for("A has every switch", Duration::from_secs(20), || {
        names(a) == want_ls
    });
    wait_for("C has every switch", Duration::from_secs(10), || {
        names(c) == want_ls
    });
    assert_eq!(b.monitor("Promoted").0, 8);
    assert_eq!(b.score(), Some(100));

    // Cut A's replication (drop what comes back from the DB ports): A's score drops, B's
    // stays, so A is not the one Pacemaker would promote.
    let out = a.sh("iptables -A INPUT -p tcp -m multiport --sports 6641,6642 -j DROP");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.score().is_none_or(|s| s >= 100) {
        if Instant::now() > deadline {
            let diag = a.sh(
                "ovs-appctl -t /run/ovn/ovnnb_db.ctl ovsdb-server/sync-status; \
                 iptables -L INPUT -v -n; cat /run/ovndb-servers/*.score; ss -tn; \
                 tail -5 /var/log/ovn/ovsdb-server-nb.log",
            );
            panic!(
                "A's score did not drop:\n{}{}",
                String::from_utf8_lossy(&diag.stdout),
                String::from_utf8_lossy(&diag.stderr)
            );
        }
        a.monitor("Unpromoted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(a.score(), Some(50), "recently lost");
    assert_eq!(b.monitor("Promoted").0, 8);
    assert!(a.score() < b.score());

    // Freshest standby first: once A's loss is old, the active (B) dies; C, which replicated
    // until then, ranks above A.
    wait_for("C replicating from B", Duration::from_secs(30), || {
        c.monitor("Unpromoted").0 == 0 && c.score() == Some(100)
    });
    wait_for("A's loss to age", Duration::from_secs(45), || {
        a.monitor("Unpromoted");
        a.score() == Some(10)
    });

    // kill -9 of the promoted NB server: the promoted monitor reports 9 (failed promoted);
    // a demote then brings the copy back as a backup (0) instead of answering "not running".
    let out = b.sh("kill -9 $(cat /run/ovn/ovnnb_db.pid)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "B's promoted monitor to fail",
        Duration::from_secs(10),
        || b.monitor("Promoted").0 == 9,
    );
    wait_for("C's score to drop", Duration::from_secs(30), || {
        c.monitor("Unpromoted");
        c.score() == Some(50)
    });
    assert!(a.score() < c.score(), "the copy cut first ranks lower");
    b.del_vip();
    b.ok("demote");
    assert_eq!(b.monitor("Unpromoted").0, 0);

    // Stop all through the agent: no server left.
    a.ok("stop");
    b.ok("stop");
    c.ok("stop");
    assert_eq!(a.monitor("Unpromoted").0, 7);
    assert_eq!(b.monitor("Promoted").0, 7);
    assert_eq!(c.monitor("Unpromoted").0, 7);
    drop(guard);
    bed.teardown().unwrap();
}
