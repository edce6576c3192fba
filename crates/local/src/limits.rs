//! The resource limits the containers get: what a runtime sets (open files 1048576, locked
//! memory unlimited), but never above this process's own hard limits, which a runtime without
//! CAP_SYS_RESOURCE cannot exceed; and, where the kernel schedules real-time tasks per cgroup,
//! a real-time budget so corosync's SCHED_RR request succeeds as it does on a Kubernetes node.

use crate::runtime_spec::NOFILE;

/// Hard limits a container may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    pub nofile: u64,
    pub memlock: u64,
}

impl Default for Rlimits {
    fn default() -> Self {
        Rlimits {
            nofile: NOFILE,
            memlock: u64::MAX,
        }
    }
}

fn hard_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let hard = line[name.len()..].split_whitespace().nth(1)?;
    match hard {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// Runtime defaults clamped to the hard limits in `/proc/self/limits` text. Pure.
pub fn clamp_to(limits: &str) -> Rlimits {
    let d = Rlimits::default();
    Rlimits {
        nofile: hard_limit(limits, "Max open files").map_or(d.nofile, |h| h.min(d.nofile)),
        memlock: hard_limit(limits, "Max locked memory").map_or(d.memlock, |h| h.min(d.memlock)),
    }
}

/// The limits for containers started by this process.
pub fn for_this_process() -> Rlimits {
    std::fs::read_to_string("/proc/self/limits")
        .map_or_else(|_| Rlimits::default(), |t| clamp_to(&t))
}

/// Real-time CPU time each container's cgroup may give its SCHED_RR tasks, per period.
///
/// corosync asks for SCHED_RR at start. On a cgroup-v1 kernel with real-time group scheduling
/// (this machine) a new cgroup has no real-time budget, the request fails, and corosync's token
/// then waits behind every busy task of the machine; Kubernetes nodes (cgroup v2, or no
/// real-time group scheduling) grant it. A budget is a hard cap: a group that used it up within
/// a period is not run again until the period ends. corosync averages ~13 ms per second here
/// but its start-up alone exceeded 100 ms in one second ("sched: RT throttling activated"), so
/// each container gets up to [`MAX_REALTIME_US`] of what the root has left, with one share kept
/// back for a container being restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimeBudget {
    pub runtime_us: u64,
    pub period_us: u64,
}

/// The most a container asks for, per period.
pub const MAX_REALTIME_US: u64 = 300_000;
/// Below this a budget would throttle corosync more than no real-time priority delays it.
pub const MIN_REALTIME_US: u64 = 100_000;
/// The period of the budget (the kernel's default).
pub const REALTIME_PERIOD_US: u64 = 1_000_000;

/// The budget each of `containers` new containers gets, given the text of the cgroup-v1
/// root's `cpu.rt_runtime_us` (`None` when the file does not exist: no real-time group
/// scheduling, nothing to ask) and the budgets its child groups already hold. Pure.
pub fn realtime_budget(
    root_rt_runtime_us: Option<&str>,
    taken_us: u64,
    containers: u64,
) -> Option<RealtimeBudget> {
    let root: i64 = root_rt_runtime_us?.trim().parse().ok()?;
    // -1: the root is not limited.
    let free = u64::try_from(root).map_or(u64::MAX, |r| r.saturating_sub(taken_us));
    // One share more than there are containers: a restarted container's new group can be
    // created while the old one still holds its budget.
    let each = (free / (containers + 1)).min(MAX_REALTIME_US);
    (each >= MIN_REALTIME_US).then_some(RealtimeBudget {
        runtime_us: each,
        period_us: REALTIME_PERIOD_US,
    })
}

const CPU_CGROUP: &str = "/sys/fs/cgroup/cpu";

/// The budget for `containers` new containers on this machine: the root's budget less what its
/// child groups hold.
pub fn realtime_for_this_machine(containers: u64) -> Option<RealtimeBudget> {
    let root = std::fs::read_to_string(format!("{CPU_CGROUP}/cpu.rt_runtime_us")).ok();
    let taken: u64 = std::fs::read_dir(CPU_CGROUP)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("cpu.rt_runtime_us")).ok())
        .filter_map(|t| t.trim().parse::<u64>().ok())
        .sum();
    realtime_budget(root.as_deref(), taken, containers)
}

/// How long [`await_grantable`] waits at most.
pub const GRANT_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Waits (up to `limit`) until the kernel can grant `containers` groups of `budget` at once;
/// how long it waited, or `None` if it cannot. The groups of containers removed a moment ago (the previous cluster's)
/// still hold their budgets for a while after their directories are gone, where nothing here
/// can count them, and a container asking then fails to start (`cpu.rt_runtime_us: invalid
/// argument`). A probe group `probe` asks for the whole amount until the kernel accepts it, and
/// is removed.
pub fn await_grantable(
    budget: &RealtimeBudget,
    containers: u64,
    probe: &str,
    limit: std::time::Duration,
) -> Option<std::time::Duration> {
    let dir = std::path::Path::new(CPU_CGROUP).join(probe);
    if std::fs::create_dir(&dir).is_err() && !dir.is_dir() {
        return None;
    }
    let period = std::fs::write(dir.join("cpu.rt_period_us"), budget.period_us.to_string());
    let ask = (budget.runtime_us * containers).to_string();
    let start = std::time::Instant::now();
    let mut granted = None;
    while period.is_ok() && start.elapsed() < limit {
        if std::fs::write(dir.join("cpu.rt_runtime_us"), &ask).is_ok() {
            granted = Some(start.elapsed());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = std::fs::write(dir.join("cpu.rt_runtime_us"), "0");
    let _ = std::fs::remove_dir(&dir);
    granted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_budget_shares_what_the_root_has_left() {
        let b = |us| {
            Some(RealtimeBudget {
                runtime_us: us,
                period_us: REALTIME_PERIOD_US,
            })
        };
        for (root, taken, n, want) in [
            (None, 0, 3, None),
            (Some("950000\n"), 0, 3, b(237_500)),
            (Some("950000\n"), 0, 2, b(300_000)),
            (Some("950000\n"), 0, 6, b(135_714)),
            (Some("950000\n"), 450_000, 3, b(125_000)),
            (Some("950000\n"), 600_000, 3, None),
            (Some("-1\n"), 0, 3, b(300_000)),
            (Some("garbage"), 0, 3, None),
        ] {
            assert_eq!(
                realtime_budget(root, taken, n),
                want,
                "{root:?} {taken} {n}"
            );
        }
    }

    #[test]
    fn clamps_to_hard_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max open files            1024                 20000                files     \n\
                    Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(
            clamp_to(text),
            Rlimits {
                nofile: 20000,
                memlock: 8_388_608
            }
        );
        let open = "Max open files            1048576              4194304              files\nMax locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(clamp_to(open), Rlimits::default());
        assert_eq!(clamp_to(""), Rlimits::default());
    }
}
