//! Reading `ovsdb-server/sync-status` replies by key (never by line position): `state: active`,
//! or `state: backup` with `replicating: <target>` / `connecting: <target>` / a failure line.
//! Also covers OVS ≥ 3.3's per-database output (`database: X` first).

use serde::Serialize;

/// A copy's replication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Serving writes.
    Active,
    /// A backup that replicates from `target`.
    Replicating { target: String },
    /// A backup not (yet) replicating; `detail` says why.
    Backup { detail: String },
    /// The reply could not be read.
    Unknown { detail: String },
}

impl SyncState {
    /// Ready for the kubelet: active, or a backup replicating.
    pub fn is_serving_or_replicating(&self) -> bool {
        matches!(self, SyncState::Active | SyncState::Replicating { .. })
    }
}

impl std::fmt::Display for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncState::Active => write!(f, "active"),
            SyncState::Replicating { target } => write!(f, "backup replicating {target}"),
            SyncState::Backup { detail } => write!(f, "backup ({detail})"),
            SyncState::Unknown { detail } => write!(f, "unknown ({detail})"),
        }
    }
}

/// Parses a sync-status reply.
pub fn parse_sync_status(text: &str) -> SyncState {
    let mut state = None;
    let mut replicating = None;
    let mut other = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some(("state", v)) => state = Some(v.trim().to_string()),
            Some(("replicating", v)) => replicating = Some(v.trim().to_string()),
            Some(("database", _)) => {}
            _ => other.push(line.to_string()),
        }
    }
    match state.as_deref() {
        Some("active") => SyncState::Active,
        Some("backup") => match replicating {
            Some(target) => SyncState::Replicating { target },
            None => SyncState::Backup {
                detail: if other.is_empty() {
                    "no replication target".into()
                } else {
                    other.join("; ")
                },
            },
        },
        _ => SyncState::Unknown {
            detail: if text.trim().is_empty() {
                "empty reply".into()
            } else {
                text.trim().to_string()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let cases = [
            ("state: active\n", SyncState::Active),
            (
                "state: backup\nreplicating: tcp:198.18.5.100:6641\ndatabase: OVN_Northbound\n",
                SyncState::Replicating {
                    target: "tcp:198.18.5.100:6641".into(),
                },
            ),
            (
                "database: OVN_Northbound\nstate: backup\nreplicating: tcp:1.2.3.4:6641\n",
                SyncState::Replicating {
                    target: "tcp:1.2.3.4:6641".into(),
                },
            ),
            (
                "state: backup\nconnecting: tcp:1.2.3.4:6641\n",
                SyncState::Backup {
                    detail: "connecting: tcp:1.2.3.4:6641".into(),
                },
            ),
            (
                "",
                SyncState::Unknown {
                    detail: "empty reply".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_sync_status(text), want, "{text:?}");
        }
        assert!(SyncState::Active.is_serving_or_replicating());
        assert!(!parse_sync_status("state: backup\n").is_serving_or_replicating());
    }
}
