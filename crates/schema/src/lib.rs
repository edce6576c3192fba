//! OVSDB schema versions, as a rolling upgrade across an OVN schema change needs them: the
//! version of an `.ovsschema` text, of a standalone database file (its first record), and of
//! the schema a running active serves; and the online conversion of a running server's
//! database (`ovsdb-client convert`). The OCF agent (which converts the active once every node
//! can follow, and a backup at its monitor) and the entrypoint's standby link (which converts
//! a backup the moment its replication ends at the active's conversion) share it, so both read
//! and convert the same way.
//!
//! The parsing is pure; [`online`] does the I/O, every tool call bounded.

pub mod online;

use std::fmt;
use thiserror::Error;

/// A schema's `version` (`major.minor.patch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("`{0}` is not a schema version (major.minor.patch)")]
    Version(String),
    #[error("not an OVSDB schema (no \"version\"): {0}")]
    NoVersion(String),
    #[error("not a standalone OVSDB database file (expected an `OVSDB JSON` header)")]
    NotStandalone,
}

impl std::str::FromStr for Version {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, SchemaError> {
        let bad = || SchemaError::Version(s.to_owned());
        let mut parts = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| bad()));
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c), None) => Ok(Version(a?, b?, c?)),
            _ => Err(bad()),
        }
    }
}

/// The `version` of a schema's JSON text (an `.ovsschema` file, or `ovsdb-client get-schema`).
pub fn schema_version(json: &str) -> Result<Version, SchemaError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| SchemaError::NoVersion(e.to_string()))?;
    v.get("version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| SchemaError::NoVersion("the field is missing".into()))?
        .parse()
}

/// The schema version of a standalone database file, from its first record (the schema): the
/// header line `OVSDB JSON <length> <sha1>`, then that many bytes of JSON. `head` needs only
/// the header and that record.
pub fn db_version(head: &[u8]) -> Result<Version, SchemaError> {
    let newline = head
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(SchemaError::NotStandalone)?;
    let len = record_len(&head[..newline])?;
    let record = head
        .get(newline + 1..newline + 1 + len)
        .ok_or(SchemaError::NotStandalone)?;
    schema_version(&String::from_utf8_lossy(record))
}

/// The length of the record a standalone database file's header line announces
/// (`OVSDB JSON <length> <sha1>`, with or without its newline).
pub fn record_len(header: &[u8]) -> Result<usize, SchemaError> {
    let header = std::str::from_utf8(header).map_err(|_| SchemaError::NotStandalone)?;
    let mut words = header.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("OVSDB"), Some("JSON"), Some(n)) => n.parse().map_err(|_| SchemaError::NotStandalone),
        _ => Err(SchemaError::NotStandalone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!("7.11.0".parse(), Ok(Version(7, 11, 0)));
        assert!(Version(7, 11, 0) > Version(7, 2, 9));
        assert!(Version(20, 41, 0) > Version(20, 27, 0));
        for bad in ["7.11", "7.x.0", "", "1.2.3.4"] {
            assert_eq!(
                bad.parse::<Version>(),
                Err(SchemaError::Version(bad.into()))
            );
        }
        assert_eq!(Version(7, 0, 0).to_string(), "7.0.0");
    }

    #[test]
    fn a_database_files_version_is_its_first_records() {
        let schema =
            r#"{"cksum":"94023179 33468","name":"OVN_Northbound","version":"7.0.0","tables":{}}"#;
        let file = format!(
            "OVSDB JSON {} 3828b0e1\n{schema}\nOVSDB JSON 2 00\n{{}}\n",
            schema.len()
        );
        assert_eq!(db_version(file.as_bytes()), Ok(Version(7, 0, 0)));
        // Cut inside the record, or another format (a clustered database).
        assert_eq!(
            db_version(&file.as_bytes()[..40]),
            Err(SchemaError::NotStandalone)
        );
        assert_eq!(
            db_version(b"CLUSTER 1 2\n{}"),
            Err(SchemaError::NotStandalone)
        );
    }
}
