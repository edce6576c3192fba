//! What `start`, `promote` and `demote` do about the pair of servers they observed (pure,
//! table-tested), like [`crate::monitor_plan`] for `monitor`. `actions` observes, asks, and
//! carries the step out; the check after each action (both backups, or both active) stays
//! there, on a fresh observation.

use crate::status::Pair;

/// What `start` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Nothing runs: start both as backups of master_ip.
    Fresh,
    /// Both run: make sure they follow master_ip; `warn_active` when one or both were active
    /// (a copy that turned active without a promotion).
    Follow { warn_active: bool },
    /// Half running or not answering: stop both, then start both as backups.
    Restart,
}

/// The start step for `pair`.
pub fn start(pair: &Pair) -> Start {
    match pair {
        Pair::Stopped => Start::Fresh,
        Pair::Backup => Start::Follow { warn_active: false },
        Pair::Active | Pair::Mixed => Start::Follow { warn_active: true },
        Pair::Partial | Pair::Unresponsive(_) => Start::Restart,
    }
}

/// What `promote` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promote {
    /// Both already active: success, nothing to do.
    AlreadyActive,
    /// Nothing runs: report "not running" (Pacemaker recovers the copy).
    NotRunning,
    /// Half running or not answering: fail, naming what was found.
    Refuse,
    /// Disconnect every database that is still a backup from its active, then check.
    Disconnect,
}

/// The promote step for `pair`.
pub fn promote(pair: &Pair) -> Promote {
    match pair {
        Pair::Active => Promote::AlreadyActive,
        Pair::Stopped => Promote::NotRunning,
        Pair::Partial | Pair::Unresponsive(_) => Promote::Refuse,
        Pair::Backup | Pair::Mixed => Promote::Disconnect,
    }
}

/// What `demote` does. It never reports "not running": a stopped copy is started as a backup,
/// so the transition is not aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demote {
    /// Found stopped: start both as backups (logged).
    StartFresh,
    /// Half running or not answering: stop both, start both as backups (logged).
    Restart,
    /// Active until now: record it healthy at this moment (it held the newest data, so a
    /// later loss ranks as "recently lost"), then follow master_ip.
    MarkHealthyThenFollow,
    /// Already backups: make sure they follow master_ip.
    Follow,
}

/// The demote step for `pair`.
pub fn demote(pair: &Pair) -> Demote {
    match pair {
        Pair::Stopped => Demote::StartFresh,
        Pair::Partial | Pair::Unresponsive(_) => Demote::Restart,
        Pair::Active | Pair::Mixed => Demote::MarkHealthyThenFollow,
        Pair::Backup => Demote::Follow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> [Pair; 6] {
        [
            Pair::Stopped,
            Pair::Active,
            Pair::Backup,
            Pair::Mixed,
            Pair::Partial,
            Pair::Unresponsive("timeout".into()),
        ]
    }

    /// One row per observed pair: what start, promote and demote each do.
    #[test]
    fn every_pair_has_one_step_per_action() {
        let want = [
            (Start::Fresh, Promote::NotRunning, Demote::StartFresh),
            (
                Start::Follow { warn_active: true },
                Promote::AlreadyActive,
                Demote::MarkHealthyThenFollow,
            ),
            (
                Start::Follow { warn_active: false },
                Promote::Disconnect,
                Demote::Follow,
            ),
            (
                Start::Follow { warn_active: true },
                Promote::Disconnect,
                Demote::MarkHealthyThenFollow,
            ),
            (Start::Restart, Promote::Refuse, Demote::Restart),
            (Start::Restart, Promote::Refuse, Demote::Restart),
        ];
        for (pair, (s, p, d)) in pairs().iter().zip(want) {
            assert_eq!(
                (start(pair), promote(pair), demote(pair)),
                (s, p, d),
                "{pair:?}"
            );
        }
    }
}
