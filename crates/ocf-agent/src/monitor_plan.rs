//! What `monitor` does about the pair of servers it observed (pure, table-tested):
//! re-point databases as backups, record a health in the promotion score, and what to tell
//! Pacemaker. `actions::monitor` observes, asks [`plan`], and carries the plan out.

use crate::env::ExpectedRole;
use crate::ocf::Rc;
use crate::status::Pair;

/// The health recorded in the promotion score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scored {
    /// Promoted and active.
    Healthy,
    /// Active while unpromoted.
    Fault,
    /// Both backups: healthy when both replicate (`actions::health_of` reads the states).
    Observed,
}

/// A score update: which health, whether the promotion gate lowers it, whether to write it
/// even unchanged (a probe rewrites what a new Pacemaker may have lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreUpdate {
    pub health: Scored,
    pub gated: bool,
    pub force: bool,
}

/// Why the monitor fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Stopped in part, or a server does not answer.
    Partial,
    /// Both databases active on a copy Pacemaker has unpromoted (re-pointed first).
    ActiveUnpromoted,
    /// One database active on an unpromoted copy (re-pointed first).
    MixedUnpromoted,
    /// One database active on a copy that should be promoted, or seen by a probe.
    Mixed,
}

/// What the monitor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Report(Rc),
    /// `FailedPromoted` when promoted was expected, else a generic error.
    Fail(Failure),
}

/// Everything one monitor does, in this order: warn, re-point, score, report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Log that a promoted copy was expected but both databases are backups.
    pub warn_not_promoted: bool,
    /// Re-point running databases at master_ip as backups.
    pub follow: bool,
    pub score: Option<ScoreUpdate>,
    pub outcome: Outcome,
}

/// The plan for `pair`, given the role Pacemaker expects (`None` for a probe or a monitor
/// without a role), whether this is a probe, and whether the promotion gate is closed.
pub fn plan(pair: &Pair, role: Option<ExpectedRole>, probe: bool, gated: bool) -> Plan {
    let promoted = role == Some(ExpectedRole::Promoted);
    let unpromoted = role == Some(ExpectedRole::Unpromoted);
    let quiet = Plan {
        warn_not_promoted: false,
        follow: false,
        score: None,
        outcome: Outcome::Report(Rc::NotRunning),
    };
    let fault = Some(ScoreUpdate {
        health: Scored::Fault,
        gated,
        force: false,
    });
    match pair {
        Pair::Stopped => quiet,
        Pair::Unresponsive(_) | Pair::Partial => Plan {
            outcome: Outcome::Fail(Failure::Partial),
            ..quiet
        },
        Pair::Active if unpromoted => Plan {
            follow: true,
            score: fault,
            outcome: Outcome::Fail(Failure::ActiveUnpromoted),
            ..quiet
        },
        // A closed gate keeps a standby from being promoted; it never demotes the copy that
        // is promoted (the entrypoint opens it there too, one look later).
        Pair::Active => Plan {
            score: Some(ScoreUpdate {
                health: Scored::Healthy,
                gated: gated && !promoted,
                force: probe,
            }),
            outcome: Outcome::Report(Rc::RunningPromoted),
            ..quiet
        },
        Pair::Mixed if promoted || probe => Plan {
            outcome: Outcome::Fail(Failure::Mixed),
            ..quiet
        },
        Pair::Mixed => Plan {
            follow: true,
            score: fault,
            outcome: Outcome::Fail(Failure::MixedUnpromoted),
            ..quiet
        },
        Pair::Backup => Plan {
            warn_not_promoted: promoted,
            follow: !probe,
            score: Some(ScoreUpdate {
                health: Scored::Observed,
                gated,
                force: probe,
            }),
            outcome: Outcome::Report(Rc::Success),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExpectedRole::{Promoted, Unpromoted};

    fn score(health: Scored, gated: bool, force: bool) -> Option<ScoreUpdate> {
        Some(ScoreUpdate {
            health,
            gated,
            force,
        })
    }

    #[test]
    fn table() {
        let report = Outcome::Report;
        let fail = Outcome::Fail;
        // (pair, role, probe, gated) → (warn, follow, score, outcome)
        #[rustfmt::skip]
        let rows: Vec<(Pair, Option<ExpectedRole>, bool, bool, Plan)> = vec![
            (Pair::Stopped, None, true, true, Plan { warn_not_promoted: false, follow: false, score: None, outcome: report(Rc::NotRunning) }),
            (Pair::Stopped, Some(Promoted), false, false, Plan { warn_not_promoted: false, follow: false, score: None, outcome: report(Rc::NotRunning) }),
            (Pair::Partial, Some(Unpromoted), false, false, Plan { warn_not_promoted: false, follow: false, score: None, outcome: fail(Failure::Partial) }),
            (Pair::Unresponsive("timeout".into()), None, true, false, Plan { warn_not_promoted: false, follow: false, score: None, outcome: fail(Failure::Partial) }),
            // Promoted and active: healthy; the gate never lowers the promoted copy's score.
            (Pair::Active, Some(Promoted), false, true, Plan { warn_not_promoted: false, follow: false, score: score(Scored::Healthy, false, false), outcome: report(Rc::RunningPromoted) }),
            // A probe finds an active copy: reports it promoted, rewrites the score, gate applies.
            (Pair::Active, None, true, true, Plan { warn_not_promoted: false, follow: false, score: score(Scored::Healthy, true, true), outcome: report(Rc::RunningPromoted) }),
            // Active on an unpromoted copy: re-pointed, scored as a fault, failed.
            (Pair::Active, Some(Unpromoted), false, false, Plan { warn_not_promoted: false, follow: true, score: score(Scored::Fault, false, false), outcome: fail(Failure::ActiveUnpromoted) }),
            (Pair::Mixed, Some(Promoted), false, false, Plan { warn_not_promoted: false, follow: false, score: None, outcome: fail(Failure::Mixed) }),
            (Pair::Mixed, None, true, false, Plan { warn_not_promoted: false, follow: false, score: None, outcome: fail(Failure::Mixed) }),
            (Pair::Mixed, Some(Unpromoted), false, true, Plan { warn_not_promoted: false, follow: true, score: score(Scored::Fault, true, false), outcome: fail(Failure::MixedUnpromoted) }),
            // Backups: follow master_ip (not on a probe), score what the states show.
            (Pair::Backup, Some(Unpromoted), false, true, Plan { warn_not_promoted: false, follow: true, score: score(Scored::Observed, true, false), outcome: report(Rc::Success) }),
            (Pair::Backup, None, true, false, Plan { warn_not_promoted: false, follow: false, score: score(Scored::Observed, false, true), outcome: report(Rc::Success) }),
            (Pair::Backup, Some(Promoted), false, false, Plan { warn_not_promoted: true, follow: true, score: score(Scored::Observed, false, false), outcome: report(Rc::Success) }),
        ];
        for (pair, role, probe, gated, want) in rows {
            assert_eq!(
                plan(&pair, role, probe, gated),
                want,
                "{pair:?} role {role:?} probe {probe} gated {gated}"
            );
        }
    }
}
