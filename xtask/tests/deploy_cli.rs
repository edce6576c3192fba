//! `cargo xtask deploy` from the command line: `--dry-run` prints the ordered objects without
//! any cluster (even with an unreadable kubeconfig), bad input fails clearly, and — only when
//! `OVN_HA_E2E_KUBECONFIG` names a real cluster — a full deploy and delete. The mocked-API
//! tests of the deploy logic itself are in `crates/deploy/tests/mock_api.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn xtask(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("KUBECONFIG")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn render(dir: &Path, vip: &str) {
    let o = xtask(
        &[
            "render",
            "--db-ha-vip",
            vip,
            "--net-cidr=192.168.0.0/16",
            "--output-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn dry_run_prints_ordered_objects_without_a_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    render(tmp.path(), "10.0.2.100");
    let dir = tmp.path().to_str().unwrap();
    for kubeconfig in ["", "/nonexistent/kubeconfig", "/dev/null"] {
        let o = xtask(
            &["deploy", "--dry-run", "--manifests", dir],
            &[("KUBECONFIG", kubeconfig)],
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let kinds: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(kinds.first(), Some(&"Namespace"));
        assert_eq!(kinds.last(), Some(&"DaemonSet"));
        let pdb = out.find("kind: PodDisruptionBudget").unwrap();
        let stage2 = out.find("# stage 2: ovnkube-master").unwrap();
        let stage3 = out.find("# stage 3: ovnkube-node").unwrap();
        let daemonset = out.find("kind: DaemonSet").unwrap();
        assert!(pdb < stage2 && stage2 < stage3 && stage3 < daemonset);
    }
}

#[test]
fn missing_manifests_and_missing_cluster_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let o = xtask(&["deploy", "--dry-run", "--manifests", dir], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("ovn-setup.yaml is missing") && err.contains("render"),
        "{err}"
    );
    render(tmp.path(), "10.0.2.100");
    let o = xtask(
        &[
            "deploy",
            "--manifests",
            dir,
            "--kubeconfig",
            "/nonexistent/kc",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("--kubeconfig") && err.contains("/nonexistent/kc"),
        "{err}"
    );
}

#[test]
fn bad_flags_for_the_local_cluster_start_nothing() {
    // No cluster named: the local cluster's path. The flags are checked before packages,
    // images or containers: nothing is announced as started.
    let o = xtask(&["deploy", "--db-memory-limit", "100Mi", "--mtu", "9"], &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("2 problems; nothing was installed, built or started"),
        "{err}"
    );
    assert!(
        err.contains("--db-memory-limit=512Mi") && err.contains("--mtu"),
        "{err}"
    );
    assert!(
        !err.contains("==>") && !err.contains("apt packages"),
        "something was started: {err}"
    );
}

/// Deploys to the cluster of `OVN_HA_E2E_KUBECONFIG` (VIP from `OVN_HA_E2E_VIP`, DB nodes from
/// `OVN_HA_E2E_DB_NODES`, comma-separated), then deletes everything again.
#[test]
#[ignore = "needs a real cluster: set OVN_HA_E2E_KUBECONFIG, OVN_HA_E2E_VIP, OVN_HA_E2E_DB_NODES and run with --ignored"]
fn real_cluster_deploy_and_delete() {
    let kubeconfig =
        std::env::var("OVN_HA_E2E_KUBECONFIG").expect("OVN_HA_E2E_KUBECONFIG is not set");
    let vip = std::env::var("OVN_HA_E2E_VIP").expect("OVN_HA_E2E_VIP is not set");
    let nodes = std::env::var("OVN_HA_E2E_DB_NODES").unwrap_or_default();
    let tmp = tempfile::tempdir().unwrap();
    render(tmp.path(), &vip);
    let dir = tmp.path().to_str().unwrap();
    let mut args = vec!["deploy", "--manifests", dir, "--kubeconfig", &kubeconfig];
    if !nodes.is_empty() {
        args.extend(["--label-db-nodes", &nodes]);
    }
    let o = xtask(&args, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = xtask(
        &[
            "deploy",
            "--delete",
            "--manifests",
            dir,
            "--kubeconfig",
            &kubeconfig,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
