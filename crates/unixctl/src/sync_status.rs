//! Typed `ovsdb-server/sync-status` replies, parsed by key (never by line position).
//!
//! Forms understood:
//! - up to OVS 3.2, one block for the whole server: `state: active`, or `state: backup`
//!   followed by `connecting: T`, `replicating: T` (+ `database: A, B` and maybe `exclude: …`),
//!   `Replication to (T) failed` or `not connected to T`;
//! - from OVS 3.3, one block per active-backup database, each starting with `database: NAME`,
//!   blocks separated by blank lines; `state: active` alone when no database is active-backup.
//!
//! Texts end with a newline up to OVS 3.3 and without one from 3.4; both parse the same.

use crate::error::SyncStatusError;

/// The whole reply: one entry per database block (one entry without a name for the old form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The blocks in the order printed.
    pub databases: Vec<DbSyncStatus>,
}

/// The state of one database (or of the whole server, for the old single-block form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSyncStatus {
    /// `Some(name)` in the per-database form, `None` in the old form.
    pub database: Option<String>,
    /// Active or backup.
    pub role: Role,
}

/// Whether a database accepts writes or follows another server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `state: active`.
    Active,
    /// `state: backup` with its link to the active server.
    Backup(BackupStatus),
}

/// What a backup says about its active server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStatus {
    /// The active server it follows, e.g. `tcp:192.0.2.10:6641` (empty if not printed).
    pub target: String,
    /// How far the link is.
    pub link: Link,
    /// Databases listed after `replicating:` in the old form.
    pub replicated: Vec<String>,
    /// The `exclude:` list, if printed.
    pub excluded: Option<String>,
}

/// The replication link of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Connecting, or connected and still fetching schema/monitor (`connecting:`).
    Connecting,
    /// Receiving updates (`replicating:`).
    Replicating,
    /// `Replication to (T) failed`: the server turns itself active shortly after.
    Failed,
    /// `not connected to T`: the session gave up.
    NotConnected,
    /// `NAME is not configured for replication` (OVS >= 3.3).
    NotConfigured,
}

impl SyncStatus {
    /// Parses the result text of `ovsdb-server/sync-status`.
    pub fn parse(text: &str) -> Result<Self, SyncStatusError> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let first = lines.first().ok_or(SyncStatusError::Empty)?;
        let per_database = key_value(first).is_some_and(|(k, _)| k == "database");

        let mut blocks: Vec<BlockBuilder> = Vec::new();
        for line in lines {
            if per_database && let Some(("database", name)) = key_value(line) {
                blocks.push(BlockBuilder::named(name));
                continue;
            }
            if blocks.is_empty() {
                blocks.push(BlockBuilder::default());
            }
            if let Some(block) = blocks.last_mut() {
                block.line(line);
            }
        }
        let databases = blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| b.finish(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { databases })
    }

    /// The entry for `database`: matched by name in the per-database form, the single entry
    /// in the old form.
    pub fn get(&self, database: &str) -> Option<&DbSyncStatus> {
        match self.databases.as_slice() {
            [only] if only.database.is_none() => Some(only),
            all => all.iter().find(|d| d.database.as_deref() == Some(database)),
        }
    }

    /// True if every entry is active.
    pub fn all_active(&self) -> bool {
        self.databases.iter().all(DbSyncStatus::is_active)
    }
}

impl DbSyncStatus {
    /// `state: active`.
    pub fn is_active(&self) -> bool {
        matches!(self.role, Role::Active)
    }

    /// A backup that is receiving updates.
    pub fn is_replicating(&self) -> bool {
        self.link() == Some(Link::Replicating)
    }

    /// The link state of a backup, `None` when active.
    pub fn link(&self) -> Option<Link> {
        match &self.role {
            Role::Active => None,
            Role::Backup(b) => Some(b.link),
        }
    }

    /// The active server a backup follows, `None` when active.
    pub fn target(&self) -> Option<&str> {
        match &self.role {
            Role::Active => None,
            Role::Backup(b) => Some(b.target.as_str()),
        }
    }
}

/// Splits `key: value` where the key is one lower-case word.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(':')?;
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return None;
    }
    Some((k, v.trim()))
}

#[derive(Debug, Default)]
struct BlockBuilder {
    database: Option<String>,
    state: Option<String>,
    target: Option<String>,
    link: Option<Link>,
    replicated: Vec<String>,
    excluded: Option<String>,
}

impl BlockBuilder {
    fn named(name: &str) -> Self {
        Self {
            database: Some(name.to_owned()),
            ..Self::default()
        }
    }

    fn set_link(&mut self, link: Link, target: &str) {
        self.link = Some(link);
        self.target = Some(target.trim().to_owned());
    }

    fn line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("Replication to (") {
            let target = rest.rsplit_once(')').map_or(rest, |(t, _)| t);
            self.set_link(Link::Failed, target);
            return;
        }
        if let Some(target) = line.strip_prefix("not connected to ") {
            self.set_link(Link::NotConnected, target);
            return;
        }
        if line.ends_with(" is not configured for replication") {
            self.link = Some(Link::NotConfigured);
            return;
        }
        let Some((key, value)) = key_value(line) else {
            return;
        };
        match key {
            "state" => self.state = Some(value.to_owned()),
            "connecting" => self.set_link(Link::Connecting, value),
            "replicating" => self.set_link(Link::Replicating, value),
            "database" => {
                self.replicated = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "exclude" => self.excluded = Some(value.to_owned()),
            _ => {}
        }
    }

    fn finish(self, block: usize) -> Result<DbSyncStatus, SyncStatusError> {
        let state = self.state.ok_or(SyncStatusError::MissingState { block })?;
        let role = match state.as_str() {
            "active" => Role::Active,
            "backup" => Role::Backup(BackupStatus {
                target: self.target.unwrap_or_default(),
                link: self.link.ok_or(SyncStatusError::MissingLink { block })?,
                replicated: self.replicated,
                excluded: self.excluded,
            }),
            other => return Err(SyncStatusError::UnknownState(other.to_owned())),
        };
        Ok(DbSyncStatus {
            database: self.database,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(target: &str, link: Link, replicated: &[&str], excluded: Option<&str>) -> Role {
        Role::Backup(BackupStatus {
            target: target.into(),
            link,
            replicated: replicated.iter().map(|s| s.to_string()).collect(),
            excluded: excluded.map(str::to_owned),
        })
    }

    fn one(role: Role) -> SyncStatus {
        SyncStatus {
            databases: vec![DbSyncStatus {
                database: None,
                role,
            }],
        }
    }

    fn named(entries: &[(&str, Role)]) -> SyncStatus {
        SyncStatus {
            databases: entries
                .iter()
                .map(|(n, r)| DbSyncStatus {
                    database: Some(n.to_string()),
                    role: r.clone(),
                })
                .collect(),
        }
    }

    const T: &str = "tcp:192.0.2.10:6641";

    #[test]
    fn every_form_parses() {
        let cases: Vec<(&str, SyncStatus)> = vec![
            ("state: active\n", one(Role::Active)),
            ("state: active", one(Role::Active)),
            (
                "state: backup\nconnecting: tcp:192.0.2.10:6641",
                one(backup(T, Link::Connecting, &[], None)),
            ),
            (
                "state: backup\nconnecting: tcp:192.0.2.10:6641\n",
                one(backup(T, Link::Connecting, &[], None)),
            ),
            (
                "state: backup\nreplicating: tcp:192.0.2.10:6641\ndatabase: OVN_Northbound\n",
                one(backup(T, Link::Replicating, &["OVN_Northbound"], None)),
            ),
            (
                "state: backup\nreplicating: tcp:192.0.2.10:6641\ndatabase: OVN_Northbound, _Server\nexclude: OVN_Northbound:NB_Global\n",
                one(backup(
                    T,
                    Link::Replicating,
                    &["OVN_Northbound", "_Server"],
                    Some("OVN_Northbound:NB_Global"),
                )),
            ),
            (
                "state: backup\nReplication to (tcp:192.0.2.10:6641) failed\n",
                one(backup(T, Link::Failed, &[], None)),
            ),
            (
                "state: backup\nReplication to (tcp:192.0.2.10:6641) failed",
                one(backup(T, Link::Failed, &[], None)),
            ),
            (
                "state: backup\nnot connected to tcp:192.0.2.10:6641\n",
                one(backup(T, Link::NotConnected, &[], None)),
            ),
            (
                "state: backup\nnot connected to tcp:192.0.2.10:6641",
                one(backup(T, Link::NotConnected, &[], None)),
            ),
            // Keys in another order still parse.
            (
                "replicating: tcp:192.0.2.10:6641\nstate: backup\n",
                one(backup(T, Link::Replicating, &[], None)),
            ),
            // Windows line ends or stray spaces.
            (
                "  state: backup \r\n connecting: tcp:192.0.2.10:6641 \r\n",
                one(backup(T, Link::Connecting, &[], None)),
            ),
            // OVS >= 3.3: per database.
            (
                "database: OVN_Northbound\nstate: active\n",
                named(&[("OVN_Northbound", Role::Active)]),
            ),
            (
                "database: OVN_Northbound\nstate: backup\nreplicating: tcp:192.0.2.10:6641\n",
                named(&[("OVN_Northbound", backup(T, Link::Replicating, &[], None))]),
            ),
            (
                "database: OVN_Northbound\nstate: backup\nreplicating: tcp:192.0.2.10:6641\nexclude: OVN_Northbound:NB_Global\n\ndatabase: _Server\nstate: active\n",
                named(&[
                    (
                        "OVN_Northbound",
                        backup(T, Link::Replicating, &[], Some("OVN_Northbound:NB_Global")),
                    ),
                    ("_Server", Role::Active),
                ]),
            ),
            (
                "database: A\nstate: backup\nconnecting: tcp:192.0.2.10:6641\ndatabase: B\nstate: backup\nReplication to (tcp:192.0.2.10:6641) failed",
                named(&[
                    ("A", backup(T, Link::Connecting, &[], None)),
                    ("B", backup(T, Link::Failed, &[], None)),
                ]),
            ),
            (
                "database: A\nstate: backup\nA is not configured for replication\n",
                named(&[("A", backup("", Link::NotConfigured, &[], None))]),
            ),
            (
                "database: A\nstate: backup\nnot connected to tcp:192.0.2.10:6641",
                named(&[("A", backup(T, Link::NotConnected, &[], None))]),
            ),
            // IPv6 targets contain colons and brackets.
            (
                "state: backup\nreplicating: tcp:[2001:db8::1]:6641\n",
                one(backup(
                    "tcp:[2001:db8::1]:6641",
                    Link::Replicating,
                    &[],
                    None,
                )),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(SyncStatus::parse(text).as_ref(), Ok(&want), "{text:?}");
        }
    }

    #[test]
    fn malformed_forms_are_errors() {
        let cases: &[(&str, SyncStatusError)] = &[
            ("", SyncStatusError::Empty),
            ("\n\n", SyncStatusError::Empty),
            (
                "connecting: x\n",
                SyncStatusError::MissingState { block: 0 },
            ),
            ("state: backup\n", SyncStatusError::MissingLink { block: 0 }),
            (
                "state: leader\n",
                SyncStatusError::UnknownState("leader".into()),
            ),
            (
                "database: A\nstate: active\n\ndatabase: B\n",
                SyncStatusError::MissingState { block: 1 },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(SyncStatus::parse(text).as_ref(), Err(want), "{text:?}");
        }
    }

    #[test]
    fn lookup_and_helpers() {
        let old = SyncStatus::parse("state: backup\nreplicating: tcp:192.0.2.10:6641\n").unwrap();
        let e = old.get("OVN_Northbound").unwrap();
        assert!(e.is_replicating() && !e.is_active());
        assert_eq!(e.target(), Some(T));
        assert!(!old.all_active());

        let new = SyncStatus::parse(
            "database: OVN_Southbound\nstate: active\n\ndatabase: OVN_Northbound\nstate: backup\nconnecting: tcp:192.0.2.10:6641",
        )
        .unwrap();
        assert!(new.get("OVN_Southbound").unwrap().is_active());
        assert_eq!(
            new.get("OVN_Northbound").unwrap().link(),
            Some(Link::Connecting)
        );
        assert!(new.get("Other").is_none());
        assert_eq!(new.get("OVN_Southbound").unwrap().target(), None);
        assert!(SyncStatus::parse("state: active").unwrap().all_active());
    }
}
