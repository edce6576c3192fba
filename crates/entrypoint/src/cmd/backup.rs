//! `backup` and `restore`: a consistent NB + SB snapshot of the active copy, and putting one
//! back. `backup --output DIR` runs `ovsdb-client backup` against each local server's unix
//! socket (a standalone database file consistent at one moment), then writes `manifest.json`
//! (schema names and versions read from the files, time, node, role) and `SHA256SUMS`
//! (`sha256sum -c` format). `restore --input DIR` verifies every checksum first (nothing is
//! touched on a mismatch), then replaces each database's contents in the running active with
//! `ovsdb-client restore`, one transaction per database, which the standbys replicate like any
//! other write. Both refuse to run on a copy that is not the active and name the node that is.

use super::Failure;
use super::pcmk::cluster_status;
use super::proc::output;
use super::status::{ctl, local_node_name, local_sync_state};
use anyhow::{Context, Result, anyhow, bail};
use ovnkube_db_ha::sync_state::SyncState;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One database of a backup: its schema name, its file in the backup directory, and which
/// server holds it.
struct Db {
    name: &'static str,
    file: &'static str,
    db: ovn_ha_contract::Db,
}

impl Db {
    /// The server's local client socket, as ovsdb-client names it.
    fn socket(&self) -> String {
        format!(
            "unix:{}",
            self.db.sock(ovn_ha_contract::default_run_dir()).display()
        )
    }
}

const DATABASES: [Db; 2] = [
    Db {
        name: "OVN_Northbound",
        file: "ovnnb_db.db",
        db: ovn_ha_contract::Db::Nb,
    },
    Db {
        name: "OVN_Southbound",
        file: "ovnsb_db.db",
        db: ovn_ha_contract::Db::Sb,
    },
];

const SUMS: &str = "SHA256SUMS";
const MANIFEST: &str = "manifest.json";
/// Longest `ovsdb-client backup` / `restore` of one database (a 100 MB SB takes seconds).
const LIMIT: Duration = Duration::from_secs(300);

/// `ovnkube-db-ha backup --output DIR [--from-standby]`.
pub fn backup(dir: &Path, from_standby: bool) -> Result<(), Failure> {
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::Config(vec![format!(
            "--output {}: not a directory; name a new or empty directory",
            dir.display()
        )]));
    }
    if dir.join(SUMS).exists() {
        return Err(Failure::Config(vec![format!(
            "--output {}: already holds a backup ({SUMS}); name a new or empty directory",
            dir.display()
        )]));
    }
    let node = local_node_name().unwrap_or_else(|| "unknown".into());
    let role = if local_is_active() {
        "active"
    } else if from_standby {
        eprintln!(
            "ovnkube-db-ha: warning: backing up the copy of {node}, which is NOT the active: \
             a replica's copy may lag the active's; the manifest says role \"standby\""
        );
        "standby"
    } else {
        return Err(not_active("backup", &node).into());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the --output directory {}", dir.display()))?;
    let mut sums = String::new();
    let mut databases = Vec::new();
    for db in &DATABASES {
        let socket = db.socket();
        let out = output("ovsdb-client", &["backup", &socket, db.name], None, LIMIT)?;
        if !out.status.success() {
            return Err(anyhow!(
                "ovsdb-client backup {} {} failed ({}): {}",
                socket,
                db.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let (name, version) = schema_of(&out.stdout)
            .with_context(|| format!("reading the schema of the {} snapshot", db.name))?;
        if name != db.name {
            return Err(anyhow!("the snapshot of {} holds database {name}", db.name).into());
        }
        write_new(&dir.join(db.file), &out.stdout)?;
        sums.push_str(&sum_line(&out.stdout, db.file));
        println!(
            "{}: schema {version}, {} bytes -> {}",
            db.name,
            out.stdout.len(),
            dir.join(db.file).display()
        );
        databases.push(serde_json::json!({
            "name": name, "schema_version": version, "file": db.file, "bytes": out.stdout.len(),
        }));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let manifest = serde_json::json!({
        "format": "ovndb-ha-backup/1",
        "created": utc(now),
        "created_unix": now,
        "node": node,
        "role": role,
        "databases": databases,
    });
    let manifest = format!("{manifest:#}\n");
    write_new(&dir.join(MANIFEST), manifest.as_bytes())?;
    sums.push_str(&sum_line(manifest.as_bytes(), MANIFEST));
    write_new(&dir.join(SUMS), sums.as_bytes())?;
    println!(
        "backup of the {role} copy on {node} written to {} ({SUMS}, {MANIFEST})",
        dir.display()
    );
    Ok(())
}

/// `ovnkube-db-ha restore --input DIR`.
pub fn restore(dir: &Path) -> Result<(), Failure> {
    let sums_path = dir.join(SUMS);
    if !sums_path.is_file() {
        return Err(Failure::Config(vec![format!(
            "--input {}: no {SUMS} there; name a directory written by `ovnkube-db-ha backup`",
            dir.display()
        )]));
    }
    let sums = std::fs::read_to_string(&sums_path)
        .with_context(|| format!("reading {}", sums_path.display()))?;
    let listed = parse_sums(&sums).map_err(|e| anyhow!("{}: {e}", sums_path.display()))?;
    for db in &DATABASES {
        if !listed.iter().any(|(_, f)| f == db.file) {
            return Err(anyhow!(
                "{} does not list {}: not a complete backup; nothing was restored",
                sums_path.display(),
                db.file
            )
            .into());
        }
    }
    // Every file is read and checked before anything is touched.
    let mut contents = Vec::new();
    for (want, file) in &listed {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let got = hex(&Sha256::digest(&bytes));
        if &got != want {
            return Err(anyhow!(
                "checksum mismatch for {}: {SUMS} says {want}, the file has {got}; the backup \
                 is damaged or was changed, nothing was restored",
                path.display()
            )
            .into());
        }
        contents.push((file.clone(), bytes));
    }
    let node = local_node_name().unwrap_or_else(|| "unknown".into());
    if !local_is_active() {
        return Err(not_active("restore", &node).into());
    }
    for db in &DATABASES {
        let Some((_, bytes)) = contents.iter().find(|(f, _)| f == db.file) else {
            continue;
        };
        let (name, version) = schema_of(bytes)
            .with_context(|| format!("reading the schema of {}", dir.join(db.file).display()))?;
        if name != db.name {
            return Err(anyhow!("{} holds database {name}, not {}", db.file, db.name).into());
        }
        // ovsdb-client reads the snapshot as a database file and seeks in it: its stdin must
        // be the (verified) file itself, not a pipe.
        let socket = db.socket();
        let path = dir.join(db.file);
        let path = path
            .to_str()
            .ok_or_else(|| anyhow!("--input {}: not a UTF-8 path", dir.display()))?;
        let out = output(
            "sh",
            &[
                "-c",
                r#"exec ovsdb-client restore "$1" "$2" < "$3""#,
                "sh",
                &socket,
                db.name,
                path,
            ],
            None,
            LIMIT,
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(anyhow!(
                "ovsdb-client restore {} {} failed ({}): {}",
                socket,
                db.name,
                out.status,
                stderr.trim()
            )
            .into());
        }
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            eprintln!("ovsdb-client: {line}");
        }
        println!(
            "{}: replaced with {} (schema {version}, {} bytes) in one transaction on the \
             active ({node}); the standbys replicate it",
            db.name,
            dir.join(db.file).display(),
            bytes.len()
        );
    }
    println!("restore from {} done", dir.display());
    Ok(())
}

/// Both local copies are active (the promoted one).
fn local_is_active() -> bool {
    DATABASES
        .iter()
        .all(|db| local_sync_state(&ctl(db.db)) == SyncState::Active)
}

/// How long the error waits for `crm_mon` to show one promoted copy (its view between two
/// transitions can show none for a moment).
const NAME_ACTIVE_WAIT: Duration = Duration::from_secs(3);

/// The error for a copy that is not the active, naming the one that is (from crm_mon).
fn not_active(what: &str, node: &str) -> anyhow::Error {
    let until = std::time::Instant::now() + NAME_ACTIVE_WAIT;
    let mut status = cluster_status();
    while status.as_ref().is_ok_and(|c| c.the_promoted().is_none())
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(250));
        status = cluster_status();
    }
    let active = match status {
        Ok(c) => match c.the_promoted() {
            Some(p) => format!("the active is on node {p}"),
            None if c.promoted.is_empty() => "no copy is promoted now".to_string(),
            None => format!("several copies are promoted: {}", c.promoted.join(", ")),
        },
        Err(e) => format!("the active could not be asked of crm_mon ({e:#})"),
    };
    let hint = if what == "backup" {
        " (or pass --from-standby to back up this replica's copy)"
    } else {
        ""
    };
    anyhow!(
        "this copy (node {node}) is not the active: {active}; run `ovnkube-db-ha {what}` in \
         the DB pod there{hint}"
    )
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One `sha256sum` line: `<hex>  <file>`.
fn sum_line(bytes: &[u8], file: &str) -> String {
    format!("{}  {file}\n", hex(&Sha256::digest(bytes)))
}

/// `(hex, file)` pairs of a `SHA256SUMS` text; file names must be plain (no directories).
fn parse_sums(text: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (sum, file) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .ok_or_else(|| anyhow!("line {}: not `<sha256>  <file>`", n + 1))?;
        let plain = Path::new(file).components().count() == 1
            && !file.contains('/')
            && file != ".."
            && file != ".";
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) || !plain {
            bail!("line {}: not `<sha256>  <file>`", n + 1);
        }
        out.push((sum.to_ascii_lowercase(), PathBuf::from(file)));
    }
    if out.is_empty() {
        bail!("lists no file");
    }
    Ok(out)
}

/// Database name and schema version of a standalone OVSDB file: its first record (after the
/// `OVSDB JSON <length> <hash>` header line) is the schema.
fn schema_of(file: &[u8]) -> Result<(String, String)> {
    let newline = file
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| anyhow!("no header line"))?;
    let header = std::str::from_utf8(&file[..newline]).context("header is not text")?;
    let mut words = header.split_whitespace();
    let length: usize = match (words.next(), words.next(), words.next()) {
        (Some("OVSDB"), Some("JSON"), Some(n)) => n.parse().context("header length")?,
        (Some("OVSDB"), Some("CLUSTER"), _) => {
            bail!("a clustered (RAFT) database file, not a standalone one")
        }
        _ => bail!("not an OVSDB file (header {header:?})"),
    };
    let body = file
        .get(newline + 1..newline + 1 + length)
        .ok_or_else(|| anyhow!("truncated schema record"))?;
    let schema: serde_json::Value = serde_json::from_slice(body).context("schema record")?;
    let name = schema["name"]
        .as_str()
        .ok_or_else(|| anyhow!("schema without a name"))?;
    let version = schema["version"].as_str().unwrap_or("unknown");
    Ok((name.to_string(), version.to_string()))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (RFC 3339, UTC).
fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| secs.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_read_from_the_first_record() {
        let schema = r#"{"name":"OVN_Northbound","version":"7.0.0","tables":{}}"#;
        let file = format!(
            "OVSDB JSON {} 0123\n{schema}\nOVSDB JSON 2 ab\n{{}}\n",
            schema.len()
        );
        assert_eq!(
            schema_of(file.as_bytes()).unwrap(),
            ("OVN_Northbound".to_string(), "7.0.0".to_string())
        );
        assert!(schema_of(b"OVSDB CLUSTER 3 x\nabc").is_err());
        assert!(schema_of(b"hello\n").is_err());
        assert!(schema_of(b"OVSDB JSON 999 x\n{}").is_err());
    }

    #[test]
    fn sums_round_trip_and_reject_paths() {
        let text = sum_line(b"abc", "ovnnb_db.db") + &sum_line(b"", "manifest.json");
        let parsed = parse_sums(&text).unwrap();
        assert_eq!(
            parsed[0].0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parsed[1].1, PathBuf::from("manifest.json"));
        let evil = format!("{}  ../etc/passwd\n", "a".repeat(64));
        assert!(parse_sums(&evil).is_err());
        assert!(parse_sums("").is_err());
        assert!(parse_sums("xyz  ovnnb_db.db\n").is_err());
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_500_000), "2026-12-05T19:46:40Z");
    }
}
