//! The I/O of [`crate::schema`]: this node's published image schema (`attrd_updater`) and the
//! cluster's view of them, and, for one [`DbLayout`], the versions in the image's schema and
//! the database file and the online conversions (through `ovn_ha_schema::online`). Every tool
//! call is bounded.

use crate::layout::DbLayout;
use crate::schema::{self, Version};
use anyhow::{Context, Result};
use ovn_ha_schema::online;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Longest `attrd_updater` or `crm_node` call.
const CLUSTER_LIMIT: Duration = Duration::from_secs(5);
/// Longest `ovsdb-client get-schema` from the active (it may be failing over).
const FETCH_LIMIT: Duration = Duration::from_secs(3);

/// The schema version `l`'s image ships.
pub fn image_version(l: &DbLayout) -> Result<Version> {
    Ok(online::image_version(&l.schema)?)
}

/// The schema version of `l`'s database file (its first record only).
pub fn file_version(l: &DbLayout) -> Result<Version> {
    Ok(online::file_version(&l.file)?)
}

/// Whether `l`'s file is on an older schema than its image (an upgrade is under way).
pub fn behind_image(l: &DbLayout) -> bool {
    online::behind_image(&l.file, &l.schema)
}

/// Publishes this node's image schema version of `l`'s database (a transient node attribute).
pub fn publish(l: &DbLayout) -> Result<()> {
    let version = image_version(l)?;
    let mut cmd = Command::new("attrd_updater");
    cmd.args(["--name", schema::attribute(l.db), "--update"])
        .arg(version.to_string());
    ovn_ha_exec::Exec::new(&cmd).limit(CLUSTER_LIMIT).output()?;
    Ok(())
}

/// The cluster's nodes and the image schema versions of `l`'s database they published.
pub fn cluster_view(l: &DbLayout) -> Result<(Vec<String>, BTreeMap<String, String>)> {
    let nodes = ovn_ha_exec::Exec::new(Command::new("crm_node").arg("--list"))
        .limit(CLUSTER_LIMIT)
        .text()?;
    let attrs = ovn_ha_exec::Exec::new(Command::new("attrd_updater").args([
        "--query",
        "--all",
        "--name",
        schema::attribute(l.db),
    ]))
    .limit(CLUSTER_LIMIT)
    .text()
    // No node has published yet.
    .unwrap_or_default();
    Ok((
        schema::parse_node_list(&nodes),
        schema::parse_attrd_all(&attrs),
    ))
}

/// Converts the running server of `l` to the schema in `schema_file` (a copy of the file as
/// it was is kept).
pub fn convert_running(client: &Path, l: &DbLayout, schema_file: &Path) -> Result<()> {
    online::convert_running(client, &l.file, &l.sock, schema_file)
        .with_context(|| format!("converting {} online", l.db.schema_name()))
}

/// The schema (JSON text) the active at `target` (`tcp:` or `ssl:`) serves for `l`'s database.
pub fn active_schema(client: &Path, l: &DbLayout, target: &str) -> Result<String> {
    let tls = online::TlsFiles {
        private_key: &l.endpoint.privkey,
        certificate: &l.endpoint.cert,
        ca_cert: &l.endpoint.cacert,
    };
    Ok(online::active_schema(
        client,
        Some(tls),
        target,
        l.db.schema_name(),
        FETCH_LIMIT,
    )?)
}
