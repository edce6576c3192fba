//! Runs resource-agents' `ocf-tester` against the built agent inside a private network and
//! mount namespace (`unshare -n -m`, loopback only, tmpfs over /run, /var/lib/ovn,
//! /var/log/ovn and /etc/ovn), so nothing on the machine is touched. Skipped with a message
//! when not root or when ocf-tester / ovsdb-server / xmllint are missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script run inside the namespace. `$1` is the agent. On exit it stops whatever the
/// agent left running (by pid file), so a failed run leaves no daemon behind.
const SCRIPT: &str = r#"
set -u
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/ovn /run/lock
for d in /var/lib/ovn /var/log/ovn /etc/ovn; do mount -t tmpfs tmpfs "$d"; done
ip link set lo up
cleanup() {
    OCF_RESKEY_master_ip=127.0.0.1 OCF_RESOURCE_INSTANCE=ovndb "$1" stop >/dev/null 2>&1
    for f in /run/ovn/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)
        kill -9 "$pid" 2>/dev/null
        [ -n "$ppid" ] && [ "$(cat /proc/$ppid/comm 2>/dev/null)" = ovsdb-server ] && kill -9 "$ppid"
    done
}
trap 'cleanup "$1"' EXIT
ocf-tester -v -n ovndb -o master_ip=127.0.0.1 "$1"
"#;

fn have(cmd: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(cmd).exists())
}

#[test]
fn ocf_tester_passes_in_a_private_namespace() {
    if !nix::unistd::geteuid().is_root() {
        panic!("missing prerequisite: root (for unshare -n -m)");
    }
    for tool in [
        "ocf-tester",
        "ovsdb-server",
        "ovsdb-tool",
        "xmllint",
        "unshare",
        "ip",
    ] {
        assert!(
            have(tool),
            "missing prerequisite: {tool} (cargo xtask test installs it)"
        );
    }
    let agent = env!("CARGO_BIN_EXE_ovndb-servers");
    let mut child = Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", SCRIPT, "ocf-tester-ns", agent])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            // Kill the whole group (unshare, sh, ocf-tester); the servers detach into their
            // own sessions but die with the namespace's cleanup trap.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = status.expect("ocf-tester did not finish within 120 s");
    assert!(
        status.success() && out.contains("passed all tests"),
        "ocf-tester failed ({status}):\n{out}\n{err}"
    );
}

use std::os::unix::process::CommandExt;
