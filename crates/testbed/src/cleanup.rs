//! Removal of everything a bed creates, found by the bed's name prefix: processes in its
//! namespaces (killed by pid), mounts under its state directory, network namespaces, root-side
//! veths, the bridge, and the state directory. Idempotent; works on the leftovers of a killed
//! run as well as on a live bed.

use crate::error::{BedError, Result};
use crate::exec::{run_quiet, run_text};
use crate::plan::{BedSpec, indexed_name, validate_prefix};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long killed processes may take to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Removes every leftover of the bed named `prefix` under the default state root.
pub fn teardown_by_name(prefix: &str) -> Result<()> {
    validate_prefix(prefix)?;
    let spec = BedSpec {
        name: prefix.to_string(),
        subnet: 0,
        hosts: 1,
        state_root: PathBuf::from(crate::plan::DEFAULT_STATE_ROOT),
    };
    teardown_spec(&spec)
}

/// Removes every leftover of the bed `spec` names (its host count is not trusted: all
/// namespaces and links with the prefix are removed).
pub(crate) fn teardown_spec(spec: &BedSpec) -> Result<()> {
    let prefix = spec.name.as_str();
    let mut problems = Vec::new();
    let namespaces = bed_namespaces(prefix).unwrap_or_else(|e| {
        problems.push(e.to_string());
        Vec::new()
    });

    // 1. Processes: those in the bed's network namespaces and those in its mount namespaces.
    let mut pids = BTreeSet::new();
    for ns in &namespaces {
        if let Ok(text) = run_text("ip", &["netns", "pids", ns]) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids.extend(pids_in_mount_namespaces(&spec.ns_dir()));
    pids.remove(&(std::process::id() as i32));
    kill_and_wait(&pids);

    // 2. Mounts below the state directory, deepest first.
    for mount in mounts_under(&spec.state_dir()) {
        let m = mount.to_string_lossy().into_owned();
        if run_quiet("umount", &[&m]).is_err()
            && let Err(e) = run_quiet("umount", &["-l", &m])
        {
            problems.push(e.to_string());
        }
    }

    // 3. Network namespaces, veths, bridge.
    for ns in &namespaces {
        if let Err(e) = run_quiet("ip", &["netns", "del", ns]) {
            problems.push(e.to_string());
        }
    }
    for link in bed_links(prefix).unwrap_or_default() {
        // A veth may vanish together with its peer's namespace meanwhile: check again.
        if link_exists(&link)
            && let Err(e) = run_quiet("ip", &["link", "del", &link])
            && link_exists(&link)
        {
            problems.push(e.to_string());
        }
    }

    // 4. The state directory, only once nothing is mounted below it.
    let state_dir = spec.state_dir();
    if mounts_under(&state_dir).is_empty() {
        if state_dir.exists()
            && let Err(source) = std::fs::remove_dir_all(&state_dir)
        {
            problems.push(
                BedError::Io {
                    path: state_dir.clone(),
                    source,
                }
                .to_string(),
            );
        }
    } else {
        problems.push(format!("mounts remain under {}", state_dir.display()));
    }

    // 5. Check.
    problems.extend(
        bed_namespaces(prefix)
            .unwrap_or_default()
            .into_iter()
            .map(|ns| format!("network namespace {ns}")),
    );
    problems.extend(
        bed_links(prefix)
            .unwrap_or_default()
            .into_iter()
            .map(|l| format!("link {l}")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BedError::Leftovers {
            prefix: prefix.to_string(),
            leftovers: problems,
        })
    }
}

/// Names of the bed's network namespaces (`P-h<digits>`).
pub(crate) fn bed_namespaces(prefix: &str) -> Result<Vec<String>> {
    let text = run_text("ip", &["netns", "list"])?;
    Ok(parse_netns_list(&text)
        .into_iter()
        .filter(|n| indexed_name(prefix, 'h', n).is_some())
        .collect())
}

/// Names of the bed's links in the root namespace: its veths and bridge.
pub(crate) fn bed_links(prefix: &str) -> Result<Vec<String>> {
    let text = run_text("ip", &["-o", "link", "show"])?;
    let bridge = format!("{prefix}-br");
    Ok(parse_link_names(&text)
        .into_iter()
        .filter(|l| {
            *l == bridge
                || indexed_name(prefix, 'v', l).is_some()
                || indexed_name(prefix, 'e', l).is_some()
        })
        .collect())
}

fn link_exists(name: &str) -> bool {
    run_quiet("ip", &["link", "show", "dev", name]).is_ok()
}

/// First word of each line of `ip netns list` (`NAME (id: N)`).
pub(crate) fn parse_netns_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Interface names from `ip -o link show` (`N: NAME[@PEER]: <...`).
pub(crate) fn parse_link_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// Mount points at or below `dir`, deepest (longest) first, from `/proc/self/mountinfo`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = parse_mount_points(&text)
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    found
}

/// Mount points (field 5) of mountinfo text, with `\NNN` octal escapes decoded.
pub(crate) fn parse_mount_points(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_octal(m)))
        .collect()
}

fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(v) = bytes
                .get(i + 1..i + 4)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pids of processes whose mount namespace is one of the bed's pinned ones.
fn pids_in_mount_namespaces(ns_dir: &Path) -> BTreeSet<i32> {
    let Ok(nsfs_dev) = std::fs::metadata("/proc/self/ns/mnt").map(|m| m.dev()) else {
        return BTreeSet::new();
    };
    let mut inodes = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(ns_dir) {
        for entry in entries.flatten() {
            if let Ok(meta) = std::fs::metadata(entry.path()) {
                // Only a bound namespace file lives on nsfs; a bare placeholder file does not.
                if meta.dev() == nsfs_dev {
                    inodes.insert(meta.ino());
                }
            }
        }
    }
    let mut pids = BTreeSet::new();
    if inodes.is_empty() {
        return pids;
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Ok(meta) = std::fs::metadata(entry.path().join("ns/mnt"))
                && inodes.contains(&meta.ino())
            {
                pids.insert(pid);
            }
        }
    }
    pids
}

/// SIGKILLs each pid, then waits (bounded) until none is alive (zombies count as gone).
fn kill_and_wait(pids: &BTreeSet<i32>) {
    for pid in pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + KILL_WAIT;
    while Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.state != 'Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netns_list() {
        let text = "t4-h2 (id: 5)\nt4-h1 (id: 4)\nother\n";
        assert_eq!(parse_netns_list(text), ["t4-h2", "t4-h1", "other"]);
    }

    #[test]
    fn parses_link_names() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n\
                    7: t4-br: <BROADCAST,MULTICAST,UP> mtu 1500\n\
                    8: t4-v1@if2: <BROADCAST,MULTICAST,UP> mtu 1500 master t4-br\n";
        assert_eq!(parse_link_names(text), ["lo", "t4-br", "t4-v1"]);
    }

    #[test]
    fn parses_mountinfo_with_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    40 35 0:5 / /var/tmp/ovn-ha-testbed/t4/ns rw - ext4 /dev/sda rw\n";
        assert_eq!(
            parse_mount_points(text),
            [
                PathBuf::from("/mnt/a b"),
                PathBuf::from("/var/tmp/ovn-ha-testbed/t4/ns")
            ]
        );
    }
}
