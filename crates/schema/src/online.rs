//! The I/O of the schema versions: the version in a schema file and in a database file's
//! first record, the schema a running active serves (`ovsdb-client get-schema` at its
//! replication target), and the online conversion of a running server's database
//! (`ovsdb-client convert` on its unix socket, after keeping a copy of the file). Every tool
//! call is bounded.

use crate::{SchemaError, Version, record_len, schema_version};
use ovn_ha_exec::{Exec, ExecError};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Longest online conversion (a production-size Southbound takes seconds).
pub const CONVERT_LIMIT: Duration = Duration::from_secs(60);
/// Most of a database file read for its schema record (OVN's schemas are ~40 KB).
const HEAD: u64 = 1024 * 1024;
/// Longest header line read (`OVSDB JSON <length> <sha1>`).
const HEADER: u64 = 256;

/// What went wrong reading or converting.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file or a reply is not what it should be.
    #[error("in {what}: {source}")]
    Schema {
        what: String,
        #[source]
        source: SchemaError,
    },
    /// A tool failed, timed out or could not start.
    #[error(transparent)]
    Tool(#[from] ExecError),
}

/// The key, certificate and CA certificate `ovsdb-client` presents on an `ssl:` target.
#[derive(Debug, Clone, Copy)]
pub struct TlsFiles<'a> {
    pub private_key: &'a Path,
    pub certificate: &'a Path,
    pub ca_cert: &'a Path,
}

/// The schema version an `.ovsschema` file (an image's) declares.
pub fn image_version(schema: &Path) -> Result<Version, OnlineError> {
    let text = std::fs::read_to_string(schema).map_err(|source| OnlineError::File {
        action: "reading",
        path: schema.to_owned(),
        source,
    })?;
    schema_version(&text).map_err(|source| OnlineError::Schema {
        what: schema.display().to_string(),
        source,
    })
}

/// The schema version of a standalone database file: its header line, then exactly the schema
/// record it announces (a monitor reads this every time; a large database is not read further).
pub fn file_version(file: &Path) -> Result<Version, OnlineError> {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::io::BufReader::new(std::fs::File::open(file)?);
        let mut head = Vec::new();
        (&mut f).take(HEADER).read_until(b'\n', &mut head)?;
        let len = record_len(&head).unwrap_or(0);
        let mut record = Vec::new();
        f.take(u64::try_from(len).unwrap_or(HEAD).min(HEAD))
            .read_to_end(&mut record)?;
        head.extend_from_slice(&record);
        Ok(head)
    };
    let head = read().map_err(|source| OnlineError::File {
        action: "reading",
        path: file.to_owned(),
        source,
    })?;
    crate::db_version(&head).map_err(|source| OnlineError::Schema {
        what: file.display().to_string(),
        source,
    })
}

/// Whether the database `file` is on an older schema than the image's `schema` file: an
/// upgrade is under way on this node. Unreadable files count as not behind.
pub fn behind_image(file: &Path, schema: &Path) -> bool {
    behind_image_at(file, schema).is_some()
}

/// [`behind_image`] with the two versions read, file's then image's, when it is behind.
pub fn behind_image_at(file: &Path, schema: &Path) -> Option<(Version, Version)> {
    match (file_version(file), image_version(schema)) {
        (Ok(f), Ok(i)) if f < i => Some((f, i)),
        _ => None,
    }
}

/// The schema (JSON text) the server at `target` (`tcp:` or `ssl:`, with `tls`) serves for
/// database `name`, within `limit`. The text is checked to be a schema, so a reply that is not
/// one is never handed to a conversion.
pub fn active_schema(
    client: &Path,
    tls: Option<TlsFiles<'_>>,
    target: &str,
    name: &str,
    limit: Duration,
) -> Result<String, OnlineError> {
    let mut cmd = Command::new(client);
    if let (true, Some(t)) = (target.starts_with("ssl:"), tls) {
        cmd.arg("--private-key")
            .arg(t.private_key)
            .arg("--certificate")
            .arg(t.certificate)
            .arg("--ca-cert")
            .arg(t.ca_cert);
    }
    // ovsdb-client's own timeout is in whole seconds; the process limit is the real bound.
    let secs = limit.as_secs().max(1);
    cmd.arg(format!("--timeout={secs}"))
        .args(["get-schema", target, name]);
    let text = Exec::new(&cmd).limit(limit).text()?;
    schema_version(&text).map_err(|source| OnlineError::Schema {
        what: format!("the schema {target} serves"),
        source,
    })?;
    Ok(text)
}

/// Converts the running server's database (`file`, served on unix socket `sock`) to the schema
/// in `schema_file`, after keeping a copy of the file as it was (`<file>.backup<version>`, for
/// a rollback by hand). ovsdb-server refuses to convert a backup: the caller makes it active
/// first.
pub fn convert_running(
    client: &Path,
    file: &Path,
    sock: &Path,
    schema_file: &Path,
) -> Result<(), OnlineError> {
    if let Ok(from) = file_version(file) {
        let mut name = file.as_os_str().to_owned();
        name.push(format!(".backup{from}"));
        std::fs::copy(file, &name).map_err(|source| OnlineError::File {
            action: "keeping a copy of",
            path: file.to_owned(),
            source,
        })?;
    }
    let mut cmd = Command::new(client);
    cmd.arg("convert")
        .arg(format!("unix:{}", sock.display()))
        .arg(schema_file);
    Exec::new(&cmd).limit(CONVERT_LIMIT).output()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code may panic
    use super::*;

    #[test]
    fn versions_of_files_and_whether_a_file_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let schema =
            |v: &str| format!(r#"{{"name":"OVN_Northbound","version":"{v}","tables":{{}}}}"#);
        let image = dir.path().join("ovn-nb.ovsschema");
        std::fs::write(&image, schema("7.11.0")).unwrap();
        let db = dir.path().join("ovnnb_db.db");
        let old = schema("7.0.0");
        std::fs::write(&db, format!("OVSDB JSON {} 00\n{old}\n", old.len())).unwrap();
        assert_eq!(image_version(&image).unwrap(), Version(7, 11, 0));
        assert_eq!(file_version(&db).unwrap(), Version(7, 0, 0));
        assert!(behind_image(&db, &image));
        assert_eq!(
            behind_image_at(&db, &image).map(|(f, i)| f < i),
            Some(true),
            "both versions, file's first"
        );
        assert!(!behind_image(&image, &image), "not a database file");
        assert!(!behind_image(&dir.path().join("missing"), &image));
        let err = file_version(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
