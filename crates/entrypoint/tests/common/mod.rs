//! Helpers shared by the entrypoint's test-bed tests: tool checks, the agent binary, bounded
//! polling and a random authkey.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn have(path: &str) -> bool {
    if path.starts_with('/') {
        return Path::new(path).exists();
    }
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(path).exists())
}

/// The agent: `OVNKUBE_DB_HA_TEST_AGENT`, else the workspace's `ovndb-servers` built into the
/// same target directory as this test's binary.
pub fn agent_binary() -> PathBuf {
    if let Ok(path) = std::env::var("OVNKUBE_DB_HA_TEST_AGENT") {
        return PathBuf::from(path);
    }
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_ovnkube-db-ha"))
        .parent()
        .unwrap();
    let target_dir = exe_dir.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "ovndb-servers", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if exe_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "building the ovndb-servers agent failed");
    exe_dir.join("ovndb-servers")
}

/// Polls `check` every `every` until it holds or `limit` passes (bounded count too).
pub fn until(limit: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    let max_rounds = (limit.as_millis() / every.as_millis().max(1)) as usize + 1;
    for _ in 0..max_rounds {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(every);
    }
    false
}

pub fn random_key(path: &Path) {
    let mut key = vec![0u8; 256];
    use std::io::Read;
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut key)
        .unwrap();
    std::fs::write(path, key).unwrap();
}
