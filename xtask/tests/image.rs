//! End-to-end checks of `cargo xtask image`: one build (cold the first time on a machine: it
//! runs mmdebstrap against deb.debian.org) checked in sequence by skopeo, umoci, `file` and runc,
//! then a second build that must give the identical manifest digest, a push to Debian's
//! docker-registry on loopback read back with skopeo, and the error paths. Needs root; skips
//! (with a message) when not root or when a tool is missing. Everything it starts is stopped by
//! pid and everything it creates is removed by Drop guards, also on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::root;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn xtask(args: &[&str]) -> Output {
    xtask_with_env(args, &[])
}

fn xtask_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "xtask {}: {}\n--- stdout\n{}--- stderr (tail)\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    out
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn stdout_field(out: &Output, key: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no `{key}` line in the output"))
}

fn tool(program: &str, args: &[&str]) -> Output {
    eprintln!("$ {program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn missing_prerequisite() -> Option<String> {
    if !nix_is_root() {
        return Some("not root".into());
    }
    for program in [
        "mmdebstrap",
        "skopeo",
        "umoci",
        "runc",
        "file",
        "docker-registry",
    ] {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
        if !found {
            return Some(format!(
                "{program} is not installed (`cargo xtask test` installs it)"
            ));
        }
    }
    None
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

/// Scratch space under target/image (same file system as the cache, so blobs are hard links).
fn scratch() -> tempfile::TempDir {
    let dir = root().join("target").join("image");
    std::fs::create_dir_all(&dir).unwrap();
    tempfile::Builder::new()
        .prefix(".test-image-")
        .tempdir_in(dir)
        .unwrap()
}

/// A runc container removed (with `runc delete --force`) when dropped.
struct Container {
    id: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `args` in the unpacked bundle under runc; returns (exit code, stdout, stderr).
/// `extra_caps` are added to umoci's default (unprivileged) capability sets.
fn run_in_bundle(
    bundle: &Path,
    name: &str,
    args: &[&str],
    extra_caps: &[&str],
) -> (i32, String, String) {
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!(args);
    if let Some(sets) = config["process"]["capabilities"].as_object_mut() {
        for set in sets.values_mut() {
            let list = set.as_array_mut().unwrap();
            for cap in extra_caps {
                if !list.iter().any(|c| c == cap) {
                    list.push(serde_json::json!(cap));
                }
            }
        }
    }
    config["process"]["terminal"] = serde_json::json!(false);
    config["process"]["noNewPrivileges"] = serde_json::json!(true);
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("resources");
    }
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/run");
    mounts.push(serde_json::json!({
        "destination": "/run", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=755"]
    }));
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let id = format!("xtask-image-test-{}-{name}", std::process::id());
    let _container = Container { id: id.clone() };
    let stdout_path = bundle.join(format!("{name}.stdout"));
    let stderr_path = bundle.join(format!("{name}.stderr"));
    eprintln!(
        "$ runc run --bundle {} {id}  # {}",
        bundle.display(),
        args.join(" ")
    );
    let mut child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.unwrap_or(-1), read(&stdout_path), read(&stderr_path))
}

/// Waits up to `limit` for `child`; kills it (by pid) when it overstays.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// How the test registry treats pushes.
enum Mode {
    Open,
    ReadOnly,
    /// Basic authentication with this `user:bcrypt-hash` line.
    Htpasswd(String),
}

/// A bcrypt htpasswd line for `user:password` (Python's crypt module, Debian 12's python3).
fn htpasswd_line(user: &str, password: &str) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ])
        .output()
        .ok()?;
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && hash.starts_with("$2")).then(|| format!("{user}:{hash}"))
}

/// Debian's docker-registry on 127.0.0.1:<free port>, stopped by pid when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(dir: &Path, mode: Mode) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join(format!("storage-{port}"));
        std::fs::create_dir_all(&storage).unwrap();
        let config = dir.join(format!("registry-{port}.yml"));
        let (maintenance, auth) = match mode {
            Mode::Open => (String::new(), String::new()),
            Mode::ReadOnly => (
                "  maintenance:\n    readonly:\n      enabled: true\n".to_owned(),
                String::new(),
            ),
            Mode::Htpasswd(line) => {
                let file = dir.join(format!("htpasswd-{port}"));
                std::fs::write(&file, format!("{line}\n")).unwrap();
                (
                    String::new(),
                    format!(
                        "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                        file.display()
                    ),
                )
            }
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n{maintenance}{auth}http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join(format!("registry-{port}.log"))).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_static(file_output: &str) -> bool {
    file_output.contains("statically linked") || file_output.contains("static-pie linked")
}

#[test]
fn image_builds_runs_reproduces_and_pushes() {
    if let Some(why) = missing_prerequisite() {
        panic!("missing prerequisite for the image test: {why}");
    }
    let work = scratch();
    let layout = work.path().join("layout");
    let layout_arg = layout.to_str().unwrap();
    let tag = "test";

    // 1. Build (cold on a fresh machine).
    let first = xtask(&["image", "--tag", tag, "--output", layout_arg]);
    assert!(first.status.success(), "cargo xtask image failed");
    let digest = stdout_field(&first, "manifest digest:");
    assert!(stdout_field(&first, "image:").ends_with(":test"));
    assert!(stdout_field(&first, "compressed size:").contains("MB"));

    // 2. skopeo accepts the layout; the config carries the entrypoint and annotations.
    let oci_ref = format!("oci:{layout_arg}:{tag}");
    let inspect: serde_json::Value =
        serde_json::from_slice(&tool("skopeo", &["inspect", &oci_ref]).stdout).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);
    let config: serde_json::Value =
        serde_json::from_slice(&tool("skopeo", &["inspect", "--config", &oci_ref]).stdout).unwrap();
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/ovnkube-db-ha"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["run"]));
    let head = String::from_utf8(
        tool(
            "git",
            &["-C", root().to_str().unwrap(), "rev-parse", "HEAD"],
        )
        .stdout,
    )
    .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&tool("skopeo", &["inspect", "--raw", &oci_ref]).stdout).unwrap();
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.revision"],
        head.trim()
    );
    for key in ["source", "version", "created"] {
        assert!(
            annotations[format!("org.opencontainers.image.{key}")].is_string(),
            "annotation {key} missing: {annotations}"
        );
    }
    assert_eq!(
        config["created"],
        annotations["org.opencontainers.image.created"]
    );
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        format!("{}:{tag}", ovn_ha_config::defaults::DB_IMAGE_REPOSITORY)
    );

    // 3. umoci unpacks it; the binaries are regular, static files at their paths.
    let bundle = work.path().join("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{layout_arg}:{tag}"),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    for path in [
        "usr/bin/ovnkube-db-ha",
        "usr/lib/ocf/resource.d/ovn/ovndb-servers",
    ] {
        let p = rootfs.join(path);
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(
            meta.is_file(),
            "{path} is not a regular file (the base's symlink must be replaced)"
        );
        let described = String::from_utf8(tool("file", &[p.to_str().unwrap()]).stdout).unwrap();
        assert!(is_static(&described), "{path} is not static: {described}");
    }
    // What IPaddr2 needs for the VIP and its gratuitous ARP.
    for path in [
        "usr/lib/ocf/resource.d/heartbeat/IPaddr2",
        "usr/libexec/heartbeat/send_arp",
        "usr/bin/ip",
        "usr/bin/arping",
        "usr/sbin/corosync",
        "usr/sbin/pacemakerd",
        "usr/sbin/ovsdb-server",
        "usr/share/ovn/scripts/ovn-ctl",
        // OVN's shell agent and what it needs: `cargo xtask bench failover --stacks shell,…`
        // bind-mounts it over our agent.
        "usr/share/ovn/scripts/ovndb-servers.ocf",
        "usr/share/ovn/scripts/ovn-lib",
        "usr/lib/ocf/lib/heartbeat/ocf-shellfuncs",
        "usr/sbin/crm_master",
        "usr/bin/bash",
    ] {
        assert!(
            rootfs.join(path).exists(),
            "{path} is missing from the image"
        );
    }
    assert!(
        !rootfs.join("usr/share/man/man8").exists(),
        "man pages must be excluded"
    );
    assert!(
        !rootfs.join("etc/pacemaker/authkey").exists(),
        "a generated Pacemaker key must not ship in the image"
    );

    // 4. The rootfs runs both binaries under runc (not privileged, private namespaces).
    let (code, out, err) =
        run_in_bundle(&bundle, "help", &["/usr/bin/ovnkube-db-ha", "--help"], &[]);
    eprintln!("ovnkube-db-ha --help → {code}\n{out}{err}");
    assert_eq!(code, 0, "ovnkube-db-ha --help failed under runc: {err}");
    assert!(out.contains("Usage"), "unexpected --help output: {out}");
    let (code, out, err) = run_in_bundle(
        &bundle,
        "meta",
        &["/usr/lib/ocf/resource.d/ovn/ovndb-servers", "meta-data"],
        &[],
    );
    eprintln!("ovndb-servers meta-data → {code}\n{}{err}", tail(&out, 5));
    assert_eq!(code, 0, "ovndb-servers meta-data failed under runc: {err}");
    assert!(
        out.contains("<resource-agent"),
        "unexpected meta-data: {out}"
    );
    // IPaddr2 adds a VIP and sends gratuitous ARP with send_arp, inside the container's own
    // network namespace (a veth pair there), with NET_ADMIN as the rendered pod grants it.
    let script = "set -e
        ip link add v0 type veth peer name v1
        ip link set v0 up; ip link set v1 up
        ip addr add 198.18.9.1/24 dev v0
        export OCF_ROOT=/usr/lib/ocf OCF_RESKEY_ip=198.18.9.100 OCF_RESKEY_cidr_netmask=24 OCF_RESKEY_nic=v0
        /usr/lib/ocf/resource.d/heartbeat/IPaddr2 start
        /usr/lib/ocf/resource.d/heartbeat/IPaddr2 monitor
        ip -4 -o addr show dev v0";
    let (code, out, err) = run_in_bundle(
        &bundle,
        "ipaddr2",
        &["/bin/sh", "-c", script],
        &["CAP_NET_ADMIN", "CAP_NET_RAW"],
    );
    eprintln!("IPaddr2 start + monitor → {code}\n{out}{err}");
    assert_eq!(code, 0, "IPaddr2 failed in the image: {err}");
    assert!(out.contains("198.18.9.100/24"), "VIP not added: {out}");
    assert!(
        format!("{out}{err}").contains("send_arp"),
        "no gratuitous ARP sent"
    );

    // 5. Nothing changed: the same manifest digest, from the cache.
    // Other work in the same tree may change a binary's source between two builds; then cargo
    // recompiles and the digest may legitimately differ, so try again (bounded).
    let mut previous = digest.clone();
    let mut reproduced = false;
    for _ in 0..3 {
        let again = xtask(&["image", "--tag", tag, "--output", layout_arg]);
        assert!(again.status.success());
        assert!(stdout_field(&again, "this build:").contains("base cached"));
        let next = stdout_field(&again, "manifest digest:");
        if next == previous {
            reproduced = true;
            break;
        }
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("Compiling"),
            "the digest changed ({previous} → {next}) although nothing was rebuilt"
        );
        previous = next;
    }
    assert!(reproduced, "no two consecutive builds gave the same digest");
    let digest = previous;

    // 6. Push to a loopback registry and read it back.
    let registry = Registry::start(work.path(), Mode::Open);
    let target = format!("127.0.0.1:{}/ovndb-ha/ovn-daemonset:{tag}", registry.port);
    let pushed = xtask(&[
        "image", "--tag", tag, "--output", layout_arg, "--push", &target,
    ]);
    assert!(pushed.status.success(), "push failed");
    let remote: serde_json::Value = serde_json::from_slice(
        &tool(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{target}"),
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(remote["Digest"], digest.as_str());
    drop(registry);

    // 7. A registry that refuses writes, and one that is gone: one clear error each.
    let read_only = Registry::start(work.path(), Mode::ReadOnly);
    let target = format!("127.0.0.1:{}/ovn-daemonset:{tag}", read_only.port);
    let refused = xtask(&[
        "image", "--tag", tag, "--output", layout_arg, "--push", &target,
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("error: --push") && err.contains("refused"),
        "{err}"
    );
    let gone_port = read_only.port;
    drop(read_only);
    let target = format!("127.0.0.1:{gone_port}/ovn-daemonset:{tag}");
    let gone = xtask(&[
        "image", "--tag", tag, "--output", layout_arg, "--push", &target,
    ]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("error: --push"));
    // The layout itself stays complete and unchanged.
    assert_eq!(stdout_field(&gone, "manifest digest:"), digest);

    // 8. Basic authentication: refused without credentials, accepted with them.
    let Some(line) = htpasswd_line("ci", "s3cret-pw") else {
        panic!(
            "missing prerequisite for the authenticated push: python3 (its crypt module) cannot make a bcrypt hash"
        );
    };
    let guarded = Registry::start(work.path(), Mode::Htpasswd(line));
    let target = format!("127.0.0.1:{}/ovn-daemonset:{tag}", guarded.port);
    let push_args = [
        "image", "--tag", tag, "--output", layout_arg, "--push", &target,
    ];
    let anonymous = xtask(&push_args);
    assert!(!anonymous.status.success());
    let err = String::from_utf8_lossy(&anonymous.stderr);
    assert!(
        err.contains("error: --push") && err.contains("REGISTRY_USERNAME"),
        "{err}"
    );
    let with_credentials = xtask_with_env(
        &push_args,
        &[
            ("REGISTRY_USERNAME", "ci"),
            ("REGISTRY_PASSWORD", "s3cret-pw"),
        ],
    );
    assert!(
        with_credentials.status.success(),
        "authenticated push failed"
    );
    let remote: serde_json::Value = serde_json::from_slice(
        &tool(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                "--creds",
                "ci:s3cret-pw",
                &format!("docker://{target}"),
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(remote["Digest"], digest.as_str());
}

/// Flag errors come before any build, name the flag, and write nothing.
#[test]
fn bad_flags_fail_early_with_one_clear_error() {
    let work = scratch();
    let not_a_layout = work.path().join("not-a-layout");
    std::fs::create_dir_all(&not_a_layout).unwrap();
    std::fs::write(not_a_layout.join("keep-me"), "x").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--output".into(), "/proc/no-such-dir/layout".into()],
            "--output",
        ),
        (
            vec![
                "--output".into(),
                not_a_layout.to_string_lossy().into_owned(),
            ],
            "--output",
        ),
        (vec!["--push".into(), "ovn-daemonset".into()], "--push"),
        (
            vec!["--push".into(), "127.0.0.1:5000/Not Valid".into()],
            "--push",
        ),
        (vec!["--tag".into(), "bad/tag".into()], "--tag"),
    ];
    for (args, flag) in cases {
        let mut full = vec!["image".to_owned()];
        full.extend(args);
        let started = Instant::now();
        let out = xtask(&full.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(flag), "{flag}: {err}");
        assert!(
            !err.contains("cargo build"),
            "{flag}: must fail before building"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    assert!(not_a_layout.join("keep-me").is_file());
    let mut leftovers = String::new();
    for e in std::fs::read_dir(work.path()).unwrap().flatten() {
        leftovers.push_str(&e.file_name().to_string_lossy());
    }
    assert_eq!(leftovers, "not-a-layout");
}
