//! The resource limits the containers get: what a runtime sets (open files 1048576, locked
//! memory unlimited), but never above this process's own hard limits, which a runtime without
//! CAP_SYS_RESOURCE cannot exceed.

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

#[cfg(test)]
mod tests {
    use super::*;

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
