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
pub use ovn_ha_schema::{Version, schema_version};
use std::collections::BTreeMap;

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
