//! The render command end to end, through `dist/images/daemonset.sh` as operators run it:
//! the seed command's output against the committed golden files, strict schema validation with
//! `kubernetes-validate`, bad input, and `--help`.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after an intended change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::root;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `daemonset.sh` with the xtask binary cargo built for this test.
fn daemonset(args: &[&str]) -> Output {
    Command::new(root().join("dist/images/daemonset.sh"))
        .args(args)
        .env("OVN_HA_XTASK", env!("CARGO_BIN_EXE_xtask"))
        .output()
        .unwrap()
}

/// The seed document's command.
const SEED: &[&str] = &[
    "--image=docker.io/ovnkube/ovn-daemonset-u:latest",
    "--k8s-apiserver=https://10.0.2.15:6443",
    "--net-cidr=192.168.0.0/16",
    "--svc-cidr=172.16.1.0/24",
    "--db-replicas=3",
    "--db-ha-vip=10.0.2.100",
];

const FILES: &[&str] = &[
    "ovn-setup.yaml",
    "ovnkube-db-ha.yaml",
    "ovnkube-master.yaml",
    "ovnkube-node.yaml",
];

fn render_seed(dir: &Path) {
    let mut args = SEED.to_vec();
    let out = dir.to_str().unwrap();
    args.extend(["--output-dir", out]);
    let o = daemonset(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The authkey is random at each render: replace it for comparison.
fn redact_authkey(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once("authkey: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}authkey: <redacted>"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn seed_command_matches_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    render_seed(tmp.path());
    let golden = root().join("xtask/tests/data/seed");
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, FILES);
    for name in FILES {
        let got = redact_authkey(&std::fs::read_to_string(tmp.path().join(name)).unwrap());
        let path = golden.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "{name} differs from {}; rerun with UPDATE_GOLDEN=1 if the change is intended",
            path.display()
        );
    }
}

#[test]
fn secret_file_is_private_and_authkey_fresh() {
    use std::os::unix::fs::PermissionsExt;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    render_seed(a.path());
    render_seed(b.path());
    let setup = |d: &Path| std::fs::read_to_string(d.join("ovn-setup.yaml")).unwrap();
    assert_ne!(
        setup(a.path()),
        setup(b.path()),
        "the authkey must differ per render"
    );
    let mode = std::fs::metadata(a.path().join("ovn-setup.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn rendered_files_pass_strict_schema_validation() {
    let tmp = tempfile::tempdir().unwrap();
    render_seed(tmp.path());
    let paths: Vec<PathBuf> = FILES.iter().map(|f| tmp.path().join(f)).collect();
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&paths)
        .output()
        .expect("kubernetes-validate is missing: `cargo xtask test` installs it (pip install kubernetes-validate)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERROR") && !text.contains("WARN"), "{text}");
}

#[test]
fn bad_input_exits_2_names_every_field_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("D");
    std::fs::create_dir(&d).unwrap();
    let o = daemonset(&[
        "--db-ha-vip=not-an-ip",
        "--db-replicas=1",
        "--output-dir",
        d.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--db-ha-vip"), "{err}");
    assert!(err.contains("--db-replicas"), "{err}");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no staging left"
    );
    // A missing VIP is also a clean exit 2, and the missing output dir is not created.
    let missing = tmp.path().join("never");
    let o = daemonset(&["--output-dir", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!missing.exists());
}

#[test]
fn help_documents_every_flag_with_its_default() {
    let o = daemonset(&["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--image",
        "--db-vip-image",
        "--k8s-apiserver",
        "--net-cidr",
        "--svc-cidr",
        "--db-replicas",
        "--db-ha-vip",
        "--db-vip",
        "--output-dir",
        "--corosync-authkey-file",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    for default in [
        "10.128.0.0/14/23",
        "172.30.0.0/16",
        "https://10.0.2.16:6443",
        "dist/yaml",
    ] {
        assert!(help.contains(default), "{default} missing from --help");
    }
}
