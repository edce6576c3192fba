//! The ovsdb-server commands this crate knows, and how to judge their result texts.
//!
//! Several commands reply "success" with a sentence that says they did nothing (for example
//! `connect-active-ovsdb-server` with no active server set, or a probe interval that is not a
//! number). All the commands here print nothing when they work, so any text is a failure.

use crate::error::Error;

/// A unixctl command with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `ovsdb-server/sync-status`.
    SyncStatus,
    /// `ovsdb-server/set-active-ovsdb-server TARGET` (stores the target only).
    SetActive(&'a str),
    /// `ovsdb-server/connect-active-ovsdb-server` (become a backup of the stored target).
    ConnectActive,
    /// `ovsdb-server/disconnect-active-ovsdb-server` (become active).
    DisconnectActive,
    /// `ovsdb-server/set-active-ovsdb-server-probe-interval MS`.
    SetActiveProbeInterval(&'a str),
    /// `ovsdb-server/list-remotes` (one remote per line).
    ListRemotes,
    /// `ovsdb-server/add-remote REMOTE`.
    AddRemote(&'a str),
    /// `ovsdb-server/remove-remote REMOTE` (closes that remote's listener and sessions).
    RemoveRemote(&'a str),
    /// `exit`.
    Exit,
}

impl<'a> Command<'a> {
    /// The JSON-RPC method name.
    pub fn method(&self) -> &'static str {
        match self {
            Self::SyncStatus => "ovsdb-server/sync-status",
            Self::SetActive(_) => "ovsdb-server/set-active-ovsdb-server",
            Self::ConnectActive => "ovsdb-server/connect-active-ovsdb-server",
            Self::DisconnectActive => "ovsdb-server/disconnect-active-ovsdb-server",
            Self::SetActiveProbeInterval(_) => {
                "ovsdb-server/set-active-ovsdb-server-probe-interval"
            }
            Self::ListRemotes => "ovsdb-server/list-remotes",
            Self::AddRemote(_) => "ovsdb-server/add-remote",
            Self::RemoveRemote(_) => "ovsdb-server/remove-remote",
            Self::Exit => "exit",
        }
    }

    /// The positional parameters.
    pub fn params(&self) -> Vec<&'a str> {
        match self {
            Self::SetActive(t)
            | Self::SetActiveProbeInterval(t)
            | Self::AddRemote(t)
            | Self::RemoveRemote(t) => vec![*t],
            _ => Vec::new(),
        }
    }
}

/// Judges the text of a success reply. `SyncStatus` returns its text; the other commands
/// succeed only with an empty (whitespace-only) text.
pub fn check_result(command: &Command<'_>, text: &str) -> Result<String, Error> {
    match command {
        Command::SyncStatus | Command::ListRemotes => Ok(text.to_owned()),
        _ if text.trim().is_empty() => Ok(String::new()),
        _ => Err(Error::ReportedFailure {
            method: command.method().to_owned(),
            message: text.trim().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_params() {
        let cases: &[(Command<'_>, &str, &[&str])] = &[
            (Command::SyncStatus, "ovsdb-server/sync-status", &[]),
            (
                Command::SetActive("tcp:192.0.2.1:6641"),
                "ovsdb-server/set-active-ovsdb-server",
                &["tcp:192.0.2.1:6641"],
            ),
            (
                Command::ConnectActive,
                "ovsdb-server/connect-active-ovsdb-server",
                &[],
            ),
            (Command::ListRemotes, "ovsdb-server/list-remotes", &[]),
            (
                Command::RemoveRemote("ptcp:6641"),
                "ovsdb-server/remove-remote",
                &["ptcp:6641"],
            ),
            (
                Command::AddRemote("ptcp:6641"),
                "ovsdb-server/add-remote",
                &["ptcp:6641"],
            ),
            (
                Command::DisconnectActive,
                "ovsdb-server/disconnect-active-ovsdb-server",
                &[],
            ),
            (
                Command::SetActiveProbeInterval("60000"),
                "ovsdb-server/set-active-ovsdb-server-probe-interval",
                &["60000"],
            ),
            (Command::Exit, "exit", &[]),
        ];
        for (cmd, method, params) in cases {
            assert_eq!(cmd.method(), *method);
            assert_eq!(cmd.params(), params.to_vec());
        }
    }

    #[test]
    fn success_replies_that_say_they_failed() {
        let cases: &[(Command<'_>, &str, Option<&str>)] = &[
            (Command::ConnectActive, "", None),
            (Command::ConnectActive, "\n", None),
            (
                Command::ConnectActive,
                "Unable to connect: active server is not specified.\n",
                Some("Unable to connect: active server is not specified."),
            ),
            (
                Command::SetActiveProbeInterval("x"),
                "Invalid probe interval, integer value expected\n",
                Some("Invalid probe interval, integer value expected"),
            ),
            (
                Command::SetActiveProbeInterval("x"),
                "Invalid probe interval, integer value expected",
                Some("Invalid probe interval, integer value expected"),
            ),
            (Command::SetActiveProbeInterval("5000"), "", None),
            (Command::SetActive("tcp:192.0.2.1:6641"), "", None),
            (Command::DisconnectActive, "", None),
            (Command::Exit, "", None),
        ];
        for (cmd, text, failure) in cases {
            match (check_result(cmd, text), failure) {
                (Ok(_), None) => {}
                (Err(Error::ReportedFailure { method, message }), Some(want)) => {
                    assert_eq!(method, cmd.method());
                    assert_eq!(&message, want);
                }
                (other, _) => panic!("{cmd:?} {text:?}: unexpected {other:?}"),
            }
        }
        assert_eq!(
            check_result(&Command::SyncStatus, "state: active\n").unwrap(),
            "state: active\n"
        );
    }
}
