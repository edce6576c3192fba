//! The image's root filesystem, unpacked once per manifest digest under [`CACHE_DIR`] and shared
//! read-only by every local cluster that runs that image: the fault suite brings up a fresh
//! cluster for each scenario, and unpacking (and later deleting) ~290 MB of files each time cost
//! seconds per cluster. The pod template's root filesystem is read-only, so clusters cannot
//! change what they share.
//!
//! An entry is complete once its marker file exists (it is unpacked beside and renamed into
//! place, so a killed unpack leaves no half entry under the digest's name). The marker's mtime is
//! the entry's last use. Pruning keeps the [`KEEP`] most recently used entries and never removes
//! one that a runc container's bundle names as its root. [`to_prune`] decides, [`digest_of`]
//! reads the layout's index; both are pure.

use crate::cluster::{LocalError, Reporter};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Where unpacked images live, one directory per manifest digest (`sha256-HEX`).
pub const CACHE_DIR: &str = "/var/cache/ovn-ha/rootfs";
/// How many unpacked images are kept (the default image, the upgrade's newer one, and room for
/// a rebuild while a deployed cluster still runs the previous one).
pub const KEEP: usize = 4;
/// The file whose presence marks an entry complete; its mtime is the entry's last use.
const MARKER: &str = "unpacked";

/// The root filesystem of `image` (`LAYOUT:TAG`, as umoci takes it), unpacked into the cache
/// unless it is there already.
pub fn unpacked(image: &str, reporter: &mut dyn Reporter) -> Result<PathBuf, LocalError> {
    let (layout, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let index_path = Path::new(layout).join("index.json");
    let index = std::fs::read_to_string(&index_path).map_err(|source| LocalError::Io {
        path: index_path.clone(),
        source,
    })?;
    let digest = digest_of(&index, tag).ok_or_else(|| LocalError::Command {
        command: format!("umoci unpack --image {image}"),
        detail: format!(
            "{} names no manifest tagged {tag:?}: rebuild the image (`cargo xtask image`)",
            index_path.display()
        ),
    })?;
    let cache = Path::new(CACHE_DIR);
    let entry = cache.join(digest.replace(':', "-"));
    let marker = entry.join(MARKER);
    if marker.is_file() {
        touch(&marker);
        reporter.step(&format!("image {digest} already unpacked"));
        return Ok(entry.join("rootfs"));
    }
    std::fs::create_dir_all(cache).map_err(|source| LocalError::Io {
        path: cache.to_path_buf(),
        source,
    })?;
    let partial = cache.join(format!(
        "{}.partial-{}",
        digest.replace(':', "-"),
        std::process::id()
    ));
    if partial.exists() {
        remove(&partial)?;
    }
    reporter.step("unpacking the image");
    let target = partial.to_string_lossy().into_owned();
    crate::cluster::run(reporter, "umoci", &["unpack", "--image", image, &target])?;
    let mark = partial.join(MARKER);
    std::fs::write(&mark, digest.as_bytes()).map_err(|source| LocalError::Io {
        path: mark.clone(),
        source,
    })?;
    if entry.exists() {
        // Another run unpacked it meanwhile (an entry without its marker is a leftover).
        if marker.is_file() {
            remove(&partial)?;
            return Ok(entry.join("rootfs"));
        }
        remove(&entry)?;
    }
    std::fs::rename(&partial, &entry).map_err(|source| LocalError::Io {
        path: entry.clone(),
        source,
    })?;
    prune(cache, reporter);
    Ok(entry.join("rootfs"))
}

/// The digest of the manifest `index_json` (an OCI layout's `index.json`) tags `tag`.
pub fn digest_of(index_json: &str, tag: &str) -> Option<String> {
    let index: serde_json::Value = serde_json::from_str(index_json).ok()?;
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
        .and_then(|m| m["digest"].as_str())
        .map(str::to_string)
}

/// One cache entry as pruning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// The marker's mtime; `None` for an entry without one (a leftover of a killed unpack).
    pub used: Option<SystemTime>,
}

/// The entries to remove: all but the `keep` most recently used complete ones, and every
/// incomplete one, except those a running container's root lies in.
pub fn to_prune(mut entries: Vec<Entry>, roots_in_use: &[PathBuf], keep: usize) -> Vec<PathBuf> {
    entries.sort_by_key(|e| std::cmp::Reverse(e.used));
    let mut out = Vec::new();
    let mut kept = 0;
    for e in entries {
        let in_use = roots_in_use.iter().any(|r| r.starts_with(&e.path));
        if e.used.is_some() && kept < keep {
            kept += 1;
            continue;
        }
        if !in_use {
            out.push(e.path);
        }
    }
    out
}

/// Removes what [`to_prune`] names; a failure is reported and left for the next run.
fn prune(cache: &Path, reporter: &mut dyn Reporter) {
    let Ok(dir) = std::fs::read_dir(cache) else {
        return;
    };
    let mine = format!(".partial-{}", std::process::id());
    let entries: Vec<Entry> = dir
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.is_dir() && !p.to_string_lossy().ends_with(&mine))
        .filter(|p| !partial_of_live_process(p))
        .map(|path| Entry {
            used: std::fs::metadata(path.join(MARKER))
                .and_then(|m| m.modified())
                .ok(),
            path,
        })
        .collect();
    for path in to_prune(entries, &roots_in_use(), KEEP) {
        reporter.step(&format!("removing the unpacked image {}", path.display()));
        if let Err(e) = remove(&path) {
            reporter.step(&format!("could not remove it: {e}"));
        }
    }
}

/// Whether `path` is an unpack still under way in a live process.
fn partial_of_live_process(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    name.as_deref()
        .and_then(|n| n.rsplit_once(".partial-"))
        .and_then(|(_, pid)| pid.parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// The root filesystems every runc container (of any site) runs on, from their bundles.
fn roots_in_use() -> Vec<PathBuf> {
    let out = Command::new("runc")
        .args(["list", "--format", "json"])
        .output();
    let listed: serde_json::Value = out
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default();
    let Some(containers) = listed.as_array() else {
        return Vec::new();
    };
    containers
        .iter()
        .filter_map(|c| c["bundle"].as_str())
        .filter_map(|bundle| {
            let text = std::fs::read(Path::new(bundle).join("config.json")).ok()?;
            let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
            Some(Path::new(bundle).join(spec["root"]["path"].as_str()?))
        })
        .collect()
}

fn touch(marker: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(marker) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn remove(path: &Path) -> Result<(), LocalError> {
    std::fs::remove_dir_all(path).map_err(|source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const INDEX: &str = r#"{"schemaVersion":2,"manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaa","size":1,
         "annotations":{"org.opencontainers.image.ref.name":"old"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbb","size":1,
         "annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#;

    #[test]
    fn the_tag_names_its_manifest_digest() {
        assert_eq!(digest_of(INDEX, "latest").as_deref(), Some("sha256:bbb"));
        assert_eq!(digest_of(INDEX, "old").as_deref(), Some("sha256:aaa"));
        assert_eq!(digest_of(INDEX, "nope"), None);
        assert_eq!(digest_of("not json", "latest"), None);
    }

    fn at(s: u64) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s))
    }

    fn entry(name: &str, used: Option<SystemTime>) -> Entry {
        Entry {
            path: PathBuf::from(format!("/c/{name}")),
            used,
        }
    }

    #[test]
    fn pruning_keeps_the_most_recent_and_those_in_use() {
        let p = |v: &[&str]| v.iter().map(|n| PathBuf::from(format!("/c/{n}"))).collect();
        let entries = vec![
            entry("a", at(1)),
            entry("b", at(4)),
            entry("c", at(3)),
            entry("d", at(2)),
            entry("half", None),
        ];
        // (case, roots in use, keep, removed)
        let table: Vec<(&str, Vec<PathBuf>, usize, Vec<PathBuf>)> = vec![
            ("all kept", vec![], 5, p(&["half"])),
            ("oldest go", vec![], 2, p(&["d", "a", "half"])),
            (
                "in use stays",
                vec![PathBuf::from("/c/a/rootfs")],
                2,
                p(&["d", "half"]),
            ),
            (
                "a half entry in use stays",
                vec![PathBuf::from("/c/half/rootfs")],
                3,
                p(&["a"]),
            ),
            ("keep none", vec![], 0, p(&["b", "c", "d", "a", "half"])),
        ];
        for (case, in_use, keep, removed) in table {
            assert_eq!(to_prune(entries.clone(), &in_use, keep), removed, "{case}");
        }
    }
}
