//! Typed errors of the unixctl client: socket failures, protocol violations, error replies
//! and "success" replies whose text reports a failure.

use std::path::PathBuf;
use std::time::Duration;

/// A reply that does not follow the unixctl JSON-RPC shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The bytes are not JSON.
    #[error("reply is not JSON: {0}")]
    NotJson(String),
    /// The JSON value is not an object.
    #[error("reply is not a JSON object")]
    NotObject,
    /// The object has no numeric `id`.
    #[error("reply has no numeric id")]
    MissingId,
    /// Replies come in order; this one answers another request.
    #[error("reply id {got} does not match the request id {expected}")]
    IdMismatch {
        /// The id we waited for.
        expected: u64,
        /// The id the server sent.
        got: u64,
    },
    /// Neither a string `result` nor a non-null `error`.
    #[error("reply has neither a text result nor an error")]
    NoResult,
}

/// `ovsdb-server/sync-status` text that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncStatusError {
    /// The text is empty.
    #[error("sync-status reply is empty")]
    Empty,
    /// A block has no `state:` line.
    #[error("sync-status block {block} has no state line")]
    MissingState {
        /// Zero-based block index.
        block: usize,
    },
    /// `state:` is neither `active` nor `backup`.
    #[error("sync-status has an unknown state {0:?}")]
    UnknownState(String),
    /// A backup block says nothing about its link to the active server.
    #[error("sync-status block {block} is a backup without replication status")]
    MissingLink {
        /// Zero-based block index.
        block: usize,
    },
}

/// Everything that can go wrong talking to a control socket.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket could not be connected (server not running, wrong path, permissions).
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// Control socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// Control socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No complete reply within the deadline.
    #[error("no reply from {path} within {waited:?}")]
    Timeout {
        /// Control socket path.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The server closed the connection before replying (it does so on malformed requests).
    #[error("{path} closed the connection before replying")]
    Closed {
        /// Control socket path.
        path: PathBuf,
    },
    /// The reply is not valid unixctl JSON-RPC.
    #[error("protocol error on {path}: {source}")]
    Protocol {
        /// Control socket path.
        path: PathBuf,
        /// What was wrong.
        source: ProtocolError,
    },
    /// The server answered with an error reply.
    #[error("{method} failed: {message}")]
    Server {
        /// The method called.
        method: String,
        /// The server's error text, trimmed.
        message: String,
    },
    /// The server answered "success" but the text says the command did not work.
    #[error("{method} reported failure: {message}")]
    ReportedFailure {
        /// The method called.
        method: String,
        /// The server's text, trimmed.
        message: String,
    },
    /// The sync-status text could not be parsed.
    #[error("cannot parse sync-status: {0}")]
    SyncStatus(#[from] SyncStatusError),
}
