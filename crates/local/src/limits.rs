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
/// real-time group scheduling) grant it. corosync used ~13 ms of CPU per second here; 150 ms
/// per second leaves ten times that for bursts, and six containers (two clusters) still fit in
/// the root's default 950 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealtimeBudget {
    pub runtime_us: u64,
    pub period_us: u64,
}

pub const REALTIME_BUDGET: RealtimeBudget = RealtimeBudget {
    runtime_us: 150_000,
    period_us: 1_000_000,
};

/// The budget to ask for, given the text of the cgroup-v1 root's `cpu.rt_runtime_us` (`None`
/// when the file does not exist: no real-time group scheduling, nothing to ask). Pure.
pub fn realtime_budget(root_rt_runtime_us: Option<&str>) -> Option<RealtimeBudget> {
    let root: i64 = root_rt_runtime_us?.trim().parse().ok()?;
    // -1 means unlimited; a root with less than one budget cannot give one.
    (root < 0 || root as u64 >= REALTIME_BUDGET.runtime_us).then_some(REALTIME_BUDGET)
}

/// The budget for containers on this machine.
pub fn realtime_for_this_machine() -> Option<RealtimeBudget> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").ok();
    realtime_budget(text.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_budget_only_where_the_kernel_budgets_groups() {
        assert_eq!(realtime_budget(None), None);
        assert_eq!(realtime_budget(Some("950000\n")), Some(REALTIME_BUDGET));
        assert_eq!(realtime_budget(Some("-1\n")), Some(REALTIME_BUDGET));
        assert_eq!(realtime_budget(Some("100000\n")), None);
        assert_eq!(realtime_budget(Some("garbage")), None);
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
