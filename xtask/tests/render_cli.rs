//! The render command end to end, through `dist/images/daemonset.sh` as operators run it:
//! the seed command's output against the committed golden files, strict schema validation with
//! `kubernetes-validate`, bad input, `--help`, and the corosync authkey kept across re-renders
//! into one directory (given by `--corosync-authkey-file`, refused when unreadable).
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
    let o = render_into(dir, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The seed command with `extra` flags (a later one wins), into `dir`.
fn render_into(dir: &Path, extra: &[&str]) -> Output {
    let mut args = SEED.to_vec();
    args.extend(["--output-dir", dir.to_str().unwrap()]);
    args.extend(extra);
    daemonset(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every rendered file's bytes, by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    FILES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// The corosync authkey in the rendered `ovn-setup.yaml`, decoded.
fn rendered_authkey(dir: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join("ovn-setup.yaml")).unwrap();
    let secrets = ovn_ha_local::secrets::parse(&text).unwrap();
    secrets["ovnkube-db-corosync-authkey"]["authkey"].clone()
}

/// The Secret's document in the rendered `ovn-setup.yaml`, as text.
fn secret_document(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("ovn-setup.yaml")).unwrap();
    text.split("\n---\n")
        .find(|d| d.contains("\nkind: Secret\n"))
        .unwrap()
        .to_string()
}

/// The authkey is random at each first render: replace it for comparison.
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
        ovn_ha_testbed::golden::check(&golden.join(name), &got);
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
        "--db-memory-limit=256Mi",
        "--output-dir",
        d.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--db-ha-vip"), "{err}");
    assert!(err.contains("--db-replicas"), "{err}");
    assert!(err.contains("--db-memory-limit=512Mi"), "{err}");
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
        "--db-memory-limit",
    ]
    .into_iter()
    .chain(UPSTREAM_FLAGS.iter().map(|f| f.split('=').next().unwrap()))
    {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    for default in [
        "10.128.0.0/14/23",
        "172.30.0.0/16",
        "https://10.0.2.16:6443",
        "dist/yaml",
        "1Gi",
    ] {
        assert!(help.contains(default), "{default} missing from --help");
    }
}

/// Every flag upstream's daemonset.sh took at the pinned revision, in its `--flag=value` form.
const UPSTREAM_FLAGS: &[&str] = &[
    "--image-pull-policy=Always",
    "--gateway-mode=local",
    "--gateway-options=--gateway-interface=eth1",
    "--kind",
    "--master-loglevel=5",
    "--node-loglevel=5",
    "--ovn-loglevel-northd=-vconsole:info -vfile:info",
    "--ovn-loglevel-nb=-vconsole:info -vfile:info",
    "--ovn-loglevel-sb=-vconsole:info -vfile:info",
    "--ovn-loglevel-controller=-vconsole:info",
    "--ovn-loglevel-nbctld=-vconsole:info",
    "--ovnkube-logfile-maxsize=100",
    "--ovnkube-logfile-maxbackups=5",
    "--ovnkube-logfile-maxage=5",
    "--ovn-master-count=3",
    "--ovn-nb-port=6641",
    "--ovn-sb-port=6642",
    "--ovn-nb-raft-port=6643",
    "--ovn-sb-raft-port=6644",
    "--ovn_nb_raft_election_timer=1000",
    "--ovn_sb_raft_election_timer=1000",
    "--hybrid-enabled=true",
    "--ssl",
];

#[test]
fn every_upstream_flag_is_accepted_or_ignored_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("yaml");
    let without_ssl: Vec<&str> = UPSTREAM_FLAGS
        .iter()
        .copied()
        .filter(|f| *f != "--ssl")
        .collect();
    let o = render_into(&dir, &without_ssl);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // Flags of upstream's own DB pods: one warning each, naming the flag and why.
    for flag in [
        "--ovn-loglevel-nb",
        "--ovn-loglevel-sb",
        "--ovn-nb-raft-port",
        "--ovn-sb-raft-port",
        "--ovn_nb_raft_election_timer",
        "--ovn_sb_raft_election_timer",
    ] {
        assert!(
            err.contains(&format!("warning: {flag}: is ignored: ")),
            "{flag}: {err}"
        );
    }
    let master = std::fs::read_to_string(dir.join("ovnkube-master.yaml")).unwrap();
    assert!(master.contains("replicas: 3"), "{master}");
    assert!(master.contains("imagePullPolicy: Always"));
    let node = std::fs::read_to_string(dir.join("ovnkube-node.yaml")).unwrap();
    assert!(
        node.contains("value: \"--gateway-interface=eth1\""),
        "{node}"
    );
    assert!(node.contains("mountPropagation: Bidirectional"), "--kind");

    // --ssl, rendered into the same directory: certificates are made once, then kept.
    let o = render_into(&dir, UPSTREAM_FLAGS);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("TLS certificates: a new CA and keys"), "{err}");
    let setup = std::fs::read_to_string(dir.join("ovn-setup.yaml")).unwrap();
    assert!(setup.contains("ovnkube-db-tls") && setup.contains("ovncontroller-cert.pem"));
    let master = std::fs::read_to_string(dir.join("ovnkube-master.yaml")).unwrap();
    assert!(master.contains("ssl:"), "{master}");
    let o = render_into(&dir, UPSTREAM_FLAGS);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("TLS certificates: kept from"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("ovn-setup.yaml")).unwrap(),
        setup,
        "a re-render changed the certificates or the authkey"
    );
}

#[test]
fn rerendering_into_the_same_directory_keeps_the_authkey() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("yaml");
    let first = render_into(&dir, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains("corosync authkey: new (256 random bytes)"),
        "{}",
        stderr(&first)
    );
    let before = snapshot(&dir);
    let secret = secret_document(&dir);

    // The same flags again: byte-identical files, the key said to be kept.
    let again = render_into(&dir, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    let kept = format!(
        "corosync authkey: kept from {}",
        dir.join("ovn-setup.yaml").display()
    );
    assert!(stderr(&again).contains(&kept), "{}", stderr(&again));
    assert_eq!(snapshot(&dir), before);

    // An image bump: new workloads, the same Secret.
    let bump = render_into(&dir, &["--db-vip-image=example.com/ovn-db:v2"]);
    assert!(bump.status.success(), "{}", stderr(&bump));
    assert_eq!(secret_document(&dir), secret);
    let db = |snap: &[(String, Vec<u8>)]| snap[1].1.clone();
    assert_ne!(db(&snapshot(&dir)), db(&before), "the DB image changed");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("ovn-setup.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_given_authkey_file_is_used_and_then_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("yaml");
    let key_a: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(7)).collect();
    let key_b = vec![0x5au8; 128];
    let file_a = tmp.path().join("authkey-a");
    let file_b = tmp.path().join("authkey-b");
    std::fs::write(&file_a, &key_a).unwrap();
    std::fs::write(&file_b, &key_b).unwrap();
    let given =
        |file: &Path| render_into(&dir, &["--corosync-authkey-file", file.to_str().unwrap()]);

    let o = given(&file_a);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rendered_authkey(&dir), key_a);
    let from = format!(
        "corosync authkey: from --corosync-authkey-file {}",
        file_a.display()
    );
    assert!(stderr(&o).contains(&from), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // Another key over it is the operator's choice, with a warning.
    let o = given(&file_b);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rendered_authkey(&dir), key_b);
    assert!(
        stderr(&o).contains("replaces a different one"),
        "{}",
        stderr(&o)
    );

    // Without the flag, the last given key stays.
    let o = render_into(&dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rendered_authkey(&dir), key_b);
}

/// `text` with the Secret's `authkey:` value replaced.
fn set_authkey_value(text: &str, value: &str) -> String {
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split_once("authkey: ") {
            Some((indent, _)) if indent == "  " => format!("{indent}authkey: {value}"),
            _ => l.to_string(),
        })
        .collect();
    out.join("\n") + "\n"
}

#[test]
fn an_unreadable_earlier_render_is_one_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("yaml");
    render_seed(&dir);
    let setup = dir.join("ovn-setup.yaml");
    let good = std::fs::read_to_string(&setup).unwrap();
    let short = set_authkey_value(&good, "AQEBAQEBAQEBAQ==");
    assert_ne!(short, good);
    for (text, why) in [
        ("kind: [\n", "not valid YAML"),
        (short.as_str(), "is 10 bytes long"),
    ] {
        std::fs::write(&setup, text).unwrap();
        let before = snapshot(&dir);
        let o = render_into(&dir, &["--db-vip-image=example.com/ovn-db:v2"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("error: 1 problem; nothing was written"),
            "{err}"
        );
        for want in [
            &format!("{}: ", setup.display()),
            why,
            "--corosync-authkey-file",
            &format!("delete {}", setup.display()),
        ] {
            assert!(err.contains(want), "{want:?} missing from: {err}");
        }
        assert_eq!(snapshot(&dir), before, "nothing changed");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["yaml"], "no staging left");
    }

    // The two ways out the error names.
    let key = tmp.path().join("authkey");
    std::fs::write(&key, [9u8; 256]).unwrap();
    let o = render_into(&dir, &["--corosync-authkey-file", key.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rendered_authkey(&dir), [9u8; 256]);
    std::fs::remove_file(&setup).unwrap();
    let o = render_into(&dir, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("corosync authkey: new"),
        "{}",
        stderr(&o)
    );
}
