//! Backup and restore of a running local cluster (`cargo xtask backup|restore`, the round-trip
//! test): find the host whose copies are active ([`crate::observe`]), run the entrypoint's
//! `ovnkube-db-ha backup|restore` inside its container (`runc exec`), and move the files
//! between a directory on this machine and the container's `/tmp`, reached through the
//! container's root (`/proc/<pid>/root/tmp/…`). The entrypoint does the work and the checks
//! (active only, checksums); this module only carries files and reports its output.

use crate::cluster::{Site, exec_in};
use crate::observe::{active_host, container_pid, sample};
use std::path::{Path, PathBuf};

/// Why a backup or restore of the local cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "no single host of {0} has both databases active now; `cargo xtask status` shows the cluster"
    )]
    NoActive(String),
    #[error("the container of {0} is not running")]
    NoContainer(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// What a backup or restore did: the host it ran on and the entrypoint's output.
#[derive(Debug, Clone)]
pub struct Done {
    pub host: String,
    pub output: String,
}

/// The active host and its container's pid.
fn active(site: &Site) -> Result<(String, u32), BackupError> {
    let views = sample(site);
    let host = active_host(&views)
        .map(str::to_string)
        .ok_or_else(|| BackupError::NoActive(site.prefix.clone()))?;
    let pid = container_pid(&host).ok_or_else(|| BackupError::NoContainer(host.clone()))?;
    Ok((host, pid))
}

/// A fresh directory name under the container's `/tmp`.
fn scratch(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("/tmp/ovndb-{kind}-{}-{nanos}", std::process::id())
}

/// Runs `ovnkube-db-ha ARGS` in `host`'s container; its stdout, or its stderr as the error.
fn entrypoint(host: &str, args: &[&str]) -> Result<String, BackupError> {
    let mut cmd = vec!["/usr/bin/ovnkube-db-ha"];
    cmd.extend_from_slice(args);
    let out = exec_in(host, &cmd).map_err(io("runc exec in", Path::new(host)))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Ok(format!("{stderr}{stdout}"))
    } else {
        Err(BackupError::Refused(format!(
            "`ovnkube-db-ha {}` on {host} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            if stdout.trim().is_empty() {
                String::new()
            } else {
                format!("\n{}", stdout.trim())
            }
        )))
    }
}

/// Copies every regular file of `from` into `to` (created), refusing to overwrite a file.
fn copy_files(from: &Path, to: &Path) -> Result<Vec<String>, BackupError> {
    std::fs::create_dir_all(to).map_err(io("creating", to))?;
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(from).map_err(io("reading", from))? {
        let entry = entry.map_err(io("reading", from))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let target = to.join(entry.file_name());
        if target.exists() {
            return Err(BackupError::Refused(format!(
                "{} exists already; name a new or empty directory",
                target.display()
            )));
        }
        std::fs::copy(&path, &target).map_err(io("copying to", &target))?;
        copied.push(entry.file_name().to_string_lossy().into_owned());
    }
    copied.sort();
    Ok(copied)
}

/// Backs up the site's active copies into `output` (a new or empty directory on this machine).
pub fn backup(site: &Site, output: &Path) -> Result<Done, BackupError> {
    if output.join("SHA256SUMS").exists() {
        return Err(BackupError::Refused(format!(
            "--output {}: already holds a backup; name a new or empty directory",
            output.display()
        )));
    }
    let (host, pid) = active(site)?;
    let inside = scratch("backup");
    let result = entrypoint(&host, &["backup", "--output", &inside]).and_then(|text| {
        let from = PathBuf::from(format!("/proc/{pid}/root{inside}"));
        copy_files(&from, output).map(|_| text)
    });
    let _ = exec_in(&host, &["rm", "-rf", &inside]);
    Ok(Done {
        host,
        output: result?,
    })
}

/// Restores the backup in `input` (a directory `backup` wrote) into the site's active copies.
pub fn restore(site: &Site, input: &Path) -> Result<Done, BackupError> {
    if !input.join("SHA256SUMS").is_file() {
        return Err(BackupError::Refused(format!(
            "--input {}: no SHA256SUMS there; name a directory written by `cargo xtask backup`",
            input.display()
        )));
    }
    let (host, pid) = active(site)?;
    let inside = scratch("restore");
    let to = PathBuf::from(format!("/proc/{pid}/root{inside}"));
    let result =
        copy_files(input, &to).and_then(|_| entrypoint(&host, &["restore", "--input", &inside]));
    let _ = exec_in(&host, &["rm", "-rf", &inside]);
    Ok(Done {
        host,
        output: result?,
    })
}
