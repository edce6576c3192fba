//! The I/O of [`crate::schema`]: the versions in the image's schema and the database file, this
//! node's published image schema (`attrd_updater`), the cluster's view of them, and the online
//! conversions (`ovsdb-client convert` on the server's unix socket). Every tool call is bounded.

use crate::layout::DbLayout;
use crate::schema::{self, SchemaError, Version};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Longest `attrd_updater` or `crm_node` call.
const CLUSTER_LIMIT: Duration = Duration::from_secs(5);
/// Longest `ovsdb-client get-schema` from the active (it may be failing over).
const FETCH_LIMIT: Duration = Duration::from_secs(3);
/// Longest online conversion (a production-size Southbound takes seconds).
const CONVERT_LIMIT: Duration = Duration::from_secs(60);
/// Most of a database file read for its schema record (OVN's schemas are ~40 KB).
const HEAD: u64 = 1024 * 1024;
/// Longest header line read (`OVSDB JSON <length> <sha1>`).
const HEADER: u64 = 256;

/// The schema version `l`'s image ships.
pub fn image_version(l: &DbLayout) -> Result<Version> {
    let text = std::fs::read_to_string(&l.schema)
        .with_context(|| format!("reading {}", l.schema.display()))?;
    schema::schema_version(&text).with_context(|| format!("in {}", l.schema.display()))
}

/// The schema version of `l`'s database file: its header line, then exactly the schema record
/// it announces (a monitor reads this every time; a large database is not read further).
pub fn file_version(l: &DbLayout) -> Result<Version> {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::io::BufReader::new(std::fs::File::open(&l.file)?);
        let mut head = Vec::new();
        (&mut f).take(HEADER).read_until(b'\n', &mut head)?;
        let len = schema::record_len(&head).unwrap_or(0);
        let mut record = Vec::new();
        f.take(u64::try_from(len).unwrap_or(HEAD).min(HEAD))
            .read_to_end(&mut record)?;
        head.extend_from_slice(&record);
        Ok(head)
    };
    let head = read().with_context(|| format!("reading {}", l.file.display()))?;
    schema::db_version(&head).with_context(|| format!("in {}", l.file.display()))
}

/// Whether `l`'s file is on an older schema than its image (an upgrade is under way).
pub fn behind_image(l: &DbLayout) -> bool {
    matches!((file_version(l), image_version(l)), (Ok(f), Ok(i)) if f < i)
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

/// Converts the running server of `l` to the schema in `schema_file`, after keeping a copy of
/// the file as it was (`<file>.backup<version>`, for a rollback by hand).
pub fn convert_running(client: &Path, l: &DbLayout, schema_file: &Path) -> Result<()> {
    if let Ok(from) = file_version(l) {
        let mut name = l.file.as_os_str().to_owned();
        name.push(format!(".backup{from}"));
        std::fs::copy(&l.file, &name)
            .with_context(|| format!("keeping a copy of {}", l.file.display()))?;
    }
    let mut cmd = Command::new(client);
    cmd.arg("convert")
        .arg(format!("unix:{}", l.sock.display()))
        .arg(schema_file);
    ovn_ha_exec::Exec::new(&cmd)
        .limit(CONVERT_LIMIT)
        .output()
        .with_context(|| format!("converting {} online", l.db.schema_name()))?;
    Ok(())
}

/// The schema (JSON text) the active at `target` (`tcp:` or `ssl:`) serves for `l`'s database.
pub fn active_schema(client: &Path, l: &DbLayout, target: &str) -> Result<String> {
    let mut cmd = Command::new(client);
    if target.starts_with("ssl:") {
        cmd.arg("--private-key")
            .arg(&l.endpoint.privkey)
            .arg("--certificate")
            .arg(&l.endpoint.cert)
            .arg("--ca-cert")
            .arg(&l.endpoint.cacert);
    }
    cmd.arg(format!("--timeout={}", FETCH_LIMIT.as_secs()))
        .args(["get-schema", target, l.db.schema_name()]);
    let text = ovn_ha_exec::Exec::new(&cmd)
        .limit(FETCH_LIMIT + Duration::from_secs(1))
        .text()?;
    // Checked here, so a reply that is not a schema is never handed to a conversion.
    schema::schema_version(&text).map_err(|e: SchemaError| anyhow::anyhow!(e))?;
    Ok(text)
}
