//! OCF exit codes and the error type that carries one, with the exit reason Pacemaker shows.

use std::fmt;

/// OCF 1.1 exit codes used by this agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rc {
    /// 0: success / running unpromoted.
    Success = 0,
    /// 1: generic (soft) error.
    ErrGeneric = 1,
    /// 2: invalid arguments on this host (ban from the node).
    ErrArgs = 2,
    /// 3: action not implemented.
    Unimplemented = 3,
    /// 5: something needed is not installed.
    ErrInstalled = 5,
    /// 6: the configuration is wrong (fatal everywhere).
    ErrConfigured = 6,
    /// 7: cleanly stopped.
    NotRunning = 7,
    /// 8: running promoted.
    RunningPromoted = 8,
    /// 9: failed while promoted.
    FailedPromoted = 9,
}

impl Rc {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Rc::Success => "OCF_SUCCESS",
            Rc::ErrGeneric => "OCF_ERR_GENERIC",
            Rc::ErrArgs => "OCF_ERR_ARGS",
            Rc::Unimplemented => "OCF_ERR_UNIMPLEMENTED",
            Rc::ErrInstalled => "OCF_ERR_INSTALLED",
            Rc::ErrConfigured => "OCF_ERR_CONFIGURED",
            Rc::NotRunning => "OCF_NOT_RUNNING",
            Rc::RunningPromoted => "OCF_RUNNING_PROMOTED",
            Rc::FailedPromoted => "OCF_FAILED_PROMOTED",
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// A failure with a specific OCF code and a one-line reason for `ocf-exit-reason:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OcfError {
    /// The exit code.
    pub rc: Rc,
    /// Human-readable reason (Pacemaker shows up to 128 characters).
    pub reason: String,
}

impl OcfError {
    /// A failure with code `rc`.
    pub fn new(rc: Rc, reason: impl Into<String>) -> Self {
        Self {
            rc,
            reason: reason.into(),
        }
    }
}

/// Maps any error to its OCF code: an [`OcfError`] anywhere in the chain keeps its code,
/// everything else is generic.
pub fn rc_of(err: &anyhow::Error) -> Rc {
    err.chain()
        .find_map(|e| e.downcast_ref::<OcfError>())
        .map_or(Rc::ErrGeneric, |e| e.rc)
}

/// The text after `ocf-exit-reason:`: one line, at most 128 characters.
pub fn exit_reason(err: &anyhow::Error) -> String {
    let text = format!("{err:#}").replace('\n', " ");
    match text.char_indices().nth(128) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (Rc::Success, 0),
            (Rc::ErrGeneric, 1),
            (Rc::ErrArgs, 2),
            (Rc::Unimplemented, 3),
            (Rc::ErrInstalled, 5),
            (Rc::ErrConfigured, 6),
            (Rc::NotRunning, 7),
            (Rc::RunningPromoted, 8),
            (Rc::FailedPromoted, 9),
        ];
        for (rc, n) in cases {
            assert_eq!(rc.code(), n);
        }
    }

    #[test]
    fn rc_survives_context() {
        let e = anyhow::Error::new(OcfError::new(Rc::ErrConfigured, "bad master_ip"))
            .context("validating");
        assert_eq!(rc_of(&e), Rc::ErrConfigured);
        assert_eq!(rc_of(&anyhow::anyhow!("x")), Rc::ErrGeneric);
        assert_eq!(exit_reason(&e), "validating: bad master_ip");
        let long = anyhow::anyhow!("{}", "é".repeat(300));
        assert_eq!(exit_reason(&long).chars().count(), 128);
    }
}
