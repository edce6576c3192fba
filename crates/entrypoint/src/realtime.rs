//! Whether corosync got the real-time priority it asks for at start, from the scheduling policy
//! `/proc/<pid>/stat` reports (read with `procfs`). Pure: the binary reads it and logs
//! [`warning`] when it is not real-time.
//!
//! corosync asks for SCHED_RR itself. With CAP_SYS_NICE that works on most Kubernetes nodes, but
//! where the kernel budgets real-time CPU per cgroup (cgroup v1 with real-time group
//! scheduling) a container's cgroup starts with no budget, the request fails, and corosync runs
//! at nice −20 instead. Measured on the test bed (docs/benchmarks.md): then a node loss took
//! ~1 s longer in about half the runs, and a busy machine delayed the token.

/// Scheduling policies of `sched_setscheduler(2)`, as `/proc/<pid>/stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// SCHED_FIFO (1) or SCHED_RR (2).
    RealTime,
    /// Anything else (SCHED_OTHER 0, SCHED_BATCH 3, SCHED_IDLE 5, SCHED_DEADLINE 6).
    Other(u32),
}

/// The policy from its `sched_setscheduler(2)` number (`/proc/<pid>/stat` field 41).
pub fn policy(n: u32) -> Policy {
    match n {
        1 | 2 => Policy::RealTime,
        other => Policy::Other(other),
    }
}

/// What the entrypoint logs when corosync runs without real-time priority.
pub fn warning(p: Policy) -> Option<String> {
    match p {
        Policy::RealTime => None,
        Policy::Other(n) => Some(format!(
            "corosync runs without real-time priority (scheduling policy {n}): under CPU load its \
             token can come late. If this node's kernel budgets real-time CPU per cgroup (cgroup \
             v1, /sys/fs/cgroup/cpu/cpu.rt_runtime_us exists), give the pod's cgroup a budget \
             (cpu.rt_runtime_us, e.g. 237500); the pod already has CAP_SYS_NICE"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_round_robin_are_real_time() {
        assert_eq!(policy(1), Policy::RealTime);
        assert_eq!(policy(2), Policy::RealTime);
        assert_eq!(policy(0), Policy::Other(0));
        assert_eq!(policy(6), Policy::Other(6));
    }

    /// procfs reads the policy of this very process (a test runs at SCHED_OTHER unless the
    /// machine runs it otherwise, so only the reading is checked).
    #[test]
    fn procfs_reads_the_policy_of_a_live_process() {
        let stat = procfs::process::Process::myself().and_then(|p| p.stat());
        assert!(stat.is_ok_and(|s| s.policy.is_some()));
    }

    #[test]
    fn warns_only_without_real_time() {
        assert_eq!(warning(Policy::RealTime), None);
        let w = warning(Policy::Other(0)).unwrap_or_default();
        assert!(w.contains("cpu.rt_runtime_us") && w.contains("policy 0"));
    }
}
