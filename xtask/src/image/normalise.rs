//! Turns the tar that mmdebstrap wrote into a deterministic base layer: entries sorted by path,
//! `./` prefixes dropped, every mtime set to SOURCE_DATE_EPOCH, numeric owners kept as mmdebstrap
//! made them (names dropped), xattrs kept, all other PAX records dropped, and the contents of
//! `/dev` left out (every runtime mounts its own). Hard links are re-pointed so that the first
//! member of each link group in sorted order carries the data.

use super::layer::{Kind, LayerWriter, Meta};
use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One entry of the source tar, without its data.
#[derive(Debug, Clone)]
struct Indexed {
    kind: Kind,
    meta: Meta,
    size: u64,
    /// Where the entry's data starts in the source tar.
    offset: u64,
}

/// Reads every header of `tar_path`; later duplicates replace earlier ones, as on extraction.
fn index(tar_path: &Path) -> Result<BTreeMap<String, Indexed>> {
    let file =
        File::open(tar_path).with_context(|| format!("cannot open {}", tar_path.display()))?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = BTreeMap::new();
    let ctx = || format!("cannot read the rootfs tar {}", tar_path.display());
    for entry in archive.entries().with_context(ctx)? {
        let mut entry = entry.with_context(ctx)?;
        let raw_path = entry
            .path()
            .with_context(ctx)?
            .to_string_lossy()
            .into_owned();
        let Some(path) = clean(&raw_path) else {
            continue;
        };
        if path.starts_with("dev/") {
            continue;
        }
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().with_context(ctx)? {
            for ext in pax {
                let ext = ext.with_context(ctx)?;
                if let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.push((name.to_owned(), ext.value_bytes().to_vec()));
                }
            }
        }
        xattrs.sort();
        let header = entry.header();
        let link = || -> Result<PathBuf> {
            let target = entry
                .link_name()
                .with_context(ctx)?
                .with_context(|| format!("link {path} has no target"))?;
            Ok(target.into_owned())
        };
        let kind = match header.entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                let target = clean(&target.to_string_lossy())
                    .with_context(|| format!("hard link {path} points at the root"))?;
                Kind::Hardlink(PathBuf::from(target))
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = header.device_major().with_context(ctx)?.unwrap_or(0);
                let minor = header.device_minor().with_context(ctx)?.unwrap_or(0);
                if header.entry_type() == tar::EntryType::Char {
                    Kind::Char(major, minor)
                } else {
                    Kind::Block(major, minor)
                }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => bail!("{path}: unsupported tar entry type {other:?}"),
        };
        let meta = Meta {
            mode: header.mode().with_context(ctx)?,
            uid: header.uid().with_context(ctx)?,
            gid: header.gid().with_context(ctx)?,
            xattrs,
        };
        let size = if kind == Kind::File { entry.size() } else { 0 };
        let offset = entry.raw_file_position();
        entries.insert(
            path,
            Indexed {
                kind,
                meta,
                size,
                offset,
            },
        );
    }
    Ok(entries)
}

/// `./usr/bin/` → `usr/bin`; the root itself → None.
fn clean(raw: &str) -> Option<String> {
    let mut p = raw;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_start_matches('/').trim_end_matches('/');
    if p.is_empty() || p == "." {
        None
    } else {
        Some(p.to_owned())
    }
}

/// For every hard-link group, the member that comes first in path order, keyed by each member.
fn link_leaders(entries: &BTreeMap<String, Indexed>) -> Result<HashMap<String, String>> {
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for (path, e) in entries {
        if let Kind::Hardlink(target) = &e.kind {
            let target = target.to_string_lossy().into_owned();
            match entries.get(&target) {
                Some(t) if t.kind == Kind::File => {}
                _ => bail!("hard link {path} points at {target}, which is not a regular file"),
            }
            groups.entry(target).or_default().push(path.clone());
        }
    }
    let mut leaders = HashMap::new();
    for (target, mut members) in groups {
        members.push(target);
        members.sort();
        let leader = members[0].clone();
        for m in members {
            leaders.insert(m, leader.clone());
        }
    }
    Ok(leaders)
}

/// Writes the entries of `tar_path` into `out` in sorted order.
pub fn normalise(tar_path: &Path, out: &mut LayerWriter, bar: &ProgressBar) -> Result<()> {
    let entries = index(tar_path)?;
    let leaders = link_leaders(&entries)?;
    bar.set_length(entries.values().map(|e| e.size).sum());
    let mut source = BufReader::new(
        File::open(tar_path).with_context(|| format!("cannot open {}", tar_path.display()))?,
    );
    for (path, e) in &entries {
        // A hard-link group: the leader gets the data of the original file, the others link to it.
        let (kind, data_entry) = match leaders.get(path) {
            Some(leader) if leader == path => {
                let file = match &e.kind {
                    Kind::Hardlink(t) => &entries[&*t.to_string_lossy()],
                    _ => e,
                };
                (Kind::File, file)
            }
            Some(leader) => {
                let file = match &e.kind {
                    Kind::Hardlink(t) => &entries[&*t.to_string_lossy()],
                    _ => e,
                };
                (Kind::Hardlink(PathBuf::from(leader)), file)
            }
            None => (e.kind.clone(), e),
        };
        let size = if kind == Kind::File {
            data_entry.size
        } else {
            0
        };
        source
            .seek(SeekFrom::Start(data_entry.offset))
            .with_context(|| format!("cannot seek in {}", tar_path.display()))?;
        out.append(path, &kind, &data_entry.meta, size, &mut source)?;
        bar.inc(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean("./"), None);
        assert_eq!(clean("./usr/bin/"), Some("usr/bin".into()));
        assert_eq!(clean("etc/passwd"), Some("etc/passwd".into()));
    }

    /// A source tar in "wrong" order with a hard link whose target sorts after it.
    #[test]
    fn sorts_and_repoints_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.tar");
        {
            let mut b = tar::Builder::new(File::create(&src).unwrap());
            let mut add = |path: &str, ty: tar::EntryType, data: &[u8], link: Option<&str>| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(ty);
                h.set_mode(0o755);
                h.set_uid(101);
                h.set_gid(102);
                h.set_mtime(123_456_789);
                h.set_size(data.len() as u64);
                if let Some(l) = link {
                    b.append_link(&mut h, path, l).unwrap();
                } else {
                    b.append_data(&mut h, path, data).unwrap();
                }
            };
            add("./", tar::EntryType::Directory, b"", None);
            add("./zz", tar::EntryType::Regular, b"data", None);
            add("./dev/", tar::EntryType::Directory, b"", None);
            add("./dev/null", tar::EntryType::Char, b"", None);
            add("./aa", tar::EntryType::Link, b"", Some("./zz"));
            add("./mm", tar::EntryType::Symlink, b"", Some("/zz"));
            b.finish().unwrap();
        }
        let out = dir.path().join("out.tar.gz");
        let mut w = LayerWriter::create(&out, 42, 6).unwrap();
        normalise(&src, &mut w, &ProgressBar::hidden()).unwrap();
        w.finish().unwrap();
        let gz = std::fs::read(&out).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.mtime().unwrap(), 42);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (101, 102));
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            seen.push((path, h.entry_type(), link, body));
        }
        assert_eq!(
            seen,
            [
                ("aa".into(), tar::EntryType::Regular, None, "data".into()),
                (
                    "dev/".into(),
                    tar::EntryType::Directory,
                    None,
                    String::new()
                ),
                (
                    "mm".into(),
                    tar::EntryType::Symlink,
                    Some("/zz".into()),
                    String::new()
                ),
                (
                    "zz".into(),
                    tar::EntryType::Link,
                    Some("aa".into()),
                    String::new()
                ),
            ]
        );
    }
}
