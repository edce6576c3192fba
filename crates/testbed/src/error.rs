//! Typed errors of the test bed.

use std::io;
use std::path::PathBuf;

/// What can go wrong while building, using or removing a bed.
#[derive(Debug, thiserror::Error)]
pub enum BedError {
    /// The bed's specification cannot be turned into names and addresses.
    #[error("invalid bed spec: {0}")]
    Spec(String),
    /// A helper program could not be started at all.
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// A helper program could not be run, failed or timed out.
    #[error(transparent)]
    Command(#[from] ovn_ha_exec::ExecError),
    /// A file-system operation on the bed's state directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Teardown finished but could not remove everything; each entry names one leftover.
    #[error("teardown of bed `{prefix}` left things behind: {}", leftovers.join("; "))]
    Leftovers {
        prefix: String,
        leftovers: Vec<String>,
    },
    /// A bed with this prefix already exists (from a concurrent or killed run).
    #[error(
        "a bed named `{0}` already exists; call teardown_by_name(\"{0}\") first if it is a leftover"
    )]
    Exists(String),
}

/// Short alias used throughout the crate.
pub type Result<T> = std::result::Result<T, BedError>;
