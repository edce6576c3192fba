//! Whether corosync got the real-time priority it asks for at start, read from the text of
//! `/proc/<pid>/stat`. Pure: the binary reads the file and logs [`warning`] when it did not.
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

/// The policy in `/proc/<pid>/stat` text: field 41, counted after the parenthesized command
/// name (which may itself contain spaces and parentheses).
pub fn policy(stat: &str) -> Option<Policy> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the command name; policy is field 41.
    let n: u32 = after_comm.split_whitespace().nth(41 - 3)?.parse().ok()?;
    Some(match n {
        1 | 2 => Policy::RealTime,
        other => Policy::Other(other),
    })
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

    /// A `/proc/<pid>/stat` line with `policy` in field 41.
    fn stat(comm: &str, policy: u32) -> String {
        let mut fields: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        fields[0] = "S".into();
        fields[41 - 3] = policy.to_string();
        format!("7 ({comm}) {}", fields.join(" "))
    }

    #[test]
    fn reads_field_41_after_the_command_name() {
        for (comm, n, want) in [
            ("corosync", 2, Some(Policy::RealTime)),
            ("corosync", 1, Some(Policy::RealTime)),
            ("corosync", 0, Some(Policy::Other(0))),
            ("odd) (name", 2, Some(Policy::RealTime)),
        ] {
            assert_eq!(policy(&stat(comm, n)), want, "{comm} {n}");
        }
        assert_eq!(policy("7 (corosync) S 1 2 3"), None);
        assert_eq!(policy("garbage"), None);
    }

    #[test]
    fn warns_only_without_real_time() {
        assert_eq!(warning(Policy::RealTime), None);
        let w = warning(Policy::Other(0)).unwrap_or_default();
        assert!(w.contains("cpu.rt_runtime_us") && w.contains("policy 0"));
    }
}
