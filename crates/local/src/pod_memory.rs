//! A DB pod's memory as a kubelet enforces it: the container's memory cgroup, its limit (the
//! rendered `resources.limits.memory`, which `runtime_spec` gives runc) and how many times the
//! kernel's OOM killer acted inside it, and its peak usage (page cache included: what the limit
//! is enforced against, though the kernel reclaims cache before it kills). cgroup v1
//! (`memory.limit_in_bytes`, `memory.max_usage_in_bytes`, `memory.oom_control`) or v2
//! (`memory.max`, `memory.peak`, `memory.events`). The parsing is pure;
//! [`of_host`] reads `/proc/<pid>/cgroup` and `/sys/fs/cgroup`.

use std::path::PathBuf;

/// What the container's memory cgroup says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMemory {
    /// Bytes; `None` when the cgroup has no limit.
    pub limit: Option<u64>,
    /// Processes the OOM killer ended in the container since it started.
    pub oom_kills: u64,
    /// Bytes at the cgroup's peak, if the kernel reports it.
    pub peak: Option<u64>,
}

/// Where a process's memory cgroup is, from its `/proc/<pid>/cgroup`: the v1 `memory`
/// hierarchy's directory, else the v2 unified one's.
pub fn cgroup_dir(proc_cgroup: &str) -> Option<PathBuf> {
    let mut unified = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            return Some(PathBuf::from("/sys/fs/cgroup/memory").join(rel));
        }
        if controllers.is_empty() {
            unified = Some(PathBuf::from("/sys/fs/cgroup").join(rel));
        }
    }
    unified
}

/// The `oom_kill N` line of v1's `memory.oom_control` or v2's `memory.events`.
pub fn oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// A limit file's bytes: v2's `max` and v1's page-rounded `i64::MAX` mean no limit.
pub fn limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    (n < 1 << 62).then_some(n)
}

/// The memory cgroup of `host`'s container (`runc state` gives its init's pid).
pub fn of_host(host: &str) -> Option<PodMemory> {
    let pid = crate::observe::container_pid(host)?;
    let dir = cgroup_dir(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)?;
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let (limit_text, events, peak) = match read("memory.limit_in_bytes") {
        Some(l) => (
            l,
            read("memory.oom_control")?,
            read("memory.max_usage_in_bytes"),
        ),
        None => (
            read("memory.max")?,
            read("memory.events")?,
            read("memory.peak"),
        ),
    };
    Some(PodMemory {
        limit: limit(&limit_text),
        oom_kills: oom_kills(&events)?,
        peak: peak.and_then(|p| p.trim().parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_memory_cgroup_of_either_version() {
        let v1 = "9:name=systemd:/ovnha-h1\n4:memory:/process_api/e4c5/ovnha-h1\n1:cpu:/ovnha-h1\n0::/ovnha-h1\n";
        assert_eq!(
            cgroup_dir(v1),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/process_api/e4c5/ovnha-h1"
            ))
        );
        let v2 = "0::/system.slice/ovnha-h1\n";
        assert_eq!(
            cgroup_dir(v2),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/ovnha-h1"))
        );
        assert_eq!(cgroup_dir("4:cpu,cpuacct:/x\n"), None);
        assert_eq!(
            cgroup_dir("4:cpu,memory:/x\n"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/x"))
        );
    }

    #[test]
    fn reads_oom_kills_and_limits() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(oom_kills(v1), Some(1));
        let v2 = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(oom_kills(v2), Some(2));
        assert_eq!(oom_kills("low 0\n"), None);
        assert_eq!(limit("1073741824\n"), Some(1 << 30));
        assert_eq!(limit("max\n"), None);
        assert_eq!(limit("9223372036854771712\n"), None);
    }
}
