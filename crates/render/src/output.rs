//! Writing rendered files all-or-nothing: everything goes to a temporary directory beside the
//! target first, and files are moved into place only when all of them were written.

use crate::RenderedFile;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write to {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} exists and is not a directory; give --output-dir a directory")]
    NotADirectory(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `files` into `dir` (created if missing). Files holding a Secret get mode 0600, the
/// others 0644. On any error nothing in `dir` has changed.
pub fn write_atomically(dir: &Path, files: &[RenderedFile]) -> Result<(), WriteError> {
    if dir.exists() && !dir.is_dir() {
        return Err(WriteError::NotADirectory(dir.to_path_buf()));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".render-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    for f in files {
        let path = staging.path().join(f.name);
        let mode = if f.secret { 0o600 } else { 0o644 };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(io(&path))?;
        file.write_all(f.contents.as_bytes()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        // The umask may have narrowed the mode; set it exactly.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io(&path))?;
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    for f in files {
        let from = staging.path().join(f.name);
        let to = dir.join(f.name);
        fs::rename(&from, &to).map_err(io(&to))?;
    }
    Ok(())
}
