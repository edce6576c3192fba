//! Which schema each copy's database has, and when it changes: the rules of a rolling upgrade
//! across an OVN schema change (pure, with the parsing of the files and tool outputs).
//!
//! OVSDB's active-backup replication needs the backup to have every table and column of the
//! active's schema *with the same definition*; a newer OVN widens existing columns (more enum
//! values, looser bounds), so a copy on another schema version cannot replicate in either
//! direction, and the backup then quietly turns active. Hence:
//! - **Never at start.** A start converts nothing: a new image serves the schema its file has
//!   (the same schema replicates between OVS versions), so pods can be replaced one by one.
//! - **The active moves last** ([`upgrade_due`]): the promoted copy converts its database
//!   online to its image's newer schema once every cluster member has published (node attribute
//!   [`attribute`], set at each start) an image schema at least that new — after the last pod
//!   was replaced. Never to an older version.
//! - **Backups follow.** A backup whose replication stopped because the active's schema differs
//!   converts its own copy to the schema the active serves and replicates again: its contents
//!   are replaced by the active's anyway.

use ovn_ha_contract::Db;
use std::collections::BTreeMap;
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

/// The node attribute in which each member publishes its image's schema version of `db`.
pub const fn attribute(db: Db) -> &'static str {
    match db {
        Db::Nb => "ovn-nb-image-schema",
        Db::Sb => "ovn-sb-image-schema",
    }
}

/// `attrd_updater --query --all --name N`: one `name="N" host="H" value="V"` line per node
/// that has the attribute.
pub fn parse_attrd_all(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| Some((quoted(l, "host=")?, quoted(l, "value=")?)))
        .collect()
}

fn quoted(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// `crm_node --list`: `ID NAME STATE` per known node; the names of every node, member or not
/// (a node that is away is a member whose image is unknown).
pub fn parse_node_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let _id = w.next()?;
            w.next().map(str::to_owned)
        })
        .collect()
}

/// Whether the promoted copy converts its database now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Its database is on its image's schema or a newer one.
    No,
    /// Some members are not known to run an image with the new schema yet.
    Waiting { nodes: Vec<String> },
    /// Every member runs an image with this schema or a newer one.
    Now { to: Version },
}

/// [`Due`] for the promoted copy whose database has `db` and whose image has `image`, given
/// the cluster's nodes and the image schema versions they published.
pub fn upgrade_due(
    db: Version,
    image: Version,
    nodes: &[String],
    published: &BTreeMap<String, String>,
) -> Due {
    if db >= image {
        return Due::No;
    }
    let behind: Vec<String> = nodes
        .iter()
        .filter(|n| {
            published
                .get(*n)
                .and_then(|v| v.parse::<Version>().ok())
                .is_none_or(|v| v < image)
        })
        .cloned()
        .collect();
    if behind.is_empty() && !nodes.is_empty() {
        Due::Now { to: image }
    } else {
        Due::Waiting { nodes: behind }
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

    #[test]
    fn tool_outputs_parse() {
        let attrd = "name=\"ovn-nb-image-schema\" host=\"h1\" value=\"7.11.0\"\n\
                     name=\"ovn-nb-image-schema\" host=\"h2\" value=\"7.0.0\"\n";
        let got = parse_attrd_all(attrd);
        assert_eq!(got.get("h1").map(String::as_str), Some("7.11.0"));
        assert_eq!(got.get("h2").map(String::as_str), Some("7.0.0"));
        assert_eq!(
            parse_node_list("1 h1 member\n2 h2 lost\n3 h3 member\n"),
            ["h1", "h2", "h3"]
        );
    }

    #[test]
    fn the_active_converts_only_once_every_node_can_follow() {
        let nodes: Vec<String> = ["h1", "h2", "h3"].map(String::from).into();
        let published = |vals: &[(&str, &str)]| -> BTreeMap<String, String> {
            vals.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let (old, new) = (Version(7, 0, 0), Version(7, 11, 0));
        // (database, image, published, due)
        type Row<'a> = (Version, Version, &'a [(&'a str, &'a str)], Due);
        let rows: [Row; 6] = [
            // Already there, or the database is newer than this image (never down).
            (new, new, &[], Due::No),
            (new, old, &[], Due::No),
            // One node still runs the old image, one has published nothing (away).
            (
                old,
                new,
                &[("h1", "7.11.0"), ("h2", "7.0.0")],
                Due::Waiting {
                    nodes: vec!["h2".into(), "h3".into()],
                },
            ),
            // A published value that does not parse counts as behind.
            (
                old,
                new,
                &[("h1", "7.11.0"), ("h2", "7.11.0"), ("h3", "x")],
                Due::Waiting {
                    nodes: vec!["h3".into()],
                },
            ),
            (
                old,
                new,
                &[("h1", "7.11.0"), ("h2", "7.11.0"), ("h3", "7.11.0")],
                Due::Now { to: new },
            ),
            // A node with an even newer image can follow too.
            (
                old,
                new,
                &[("h1", "7.11.0"), ("h2", "7.12.0"), ("h3", "7.11.0")],
                Due::Now { to: new },
            ),
        ];
        for (db, image, vals, want) in rows {
            assert_eq!(
                upgrade_due(db, image, &nodes, &published(vals)),
                want,
                "{db} {image} {vals:?}"
            );
        }
        assert_eq!(
            upgrade_due(old, new, &[], &BTreeMap::new()),
            Due::Waiting { nodes: vec![] },
            "no node list: wait"
        );
    }
}
