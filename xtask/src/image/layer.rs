//! Deterministic layer writing: a tar stream (ustar headers, no user/group names, no
//! atime/ctime, PAX records only for `security.*`-style xattrs) compressed with gzip whose header
//! carries no file name and a zero mtime. Entries are written in the order given; callers sort
//! them. Both the uncompressed stream (the layer's diff_id) and the compressed blob (its digest)
//! are hashed while they are written.

use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder, write::GzEncoder};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A content-addressed file on disk.
#[derive(Debug, Clone)]
pub struct Blob {
    pub path: PathBuf,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

/// A gzip-compressed layer blob and the digest of its uncompressed tar.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
    /// A hard link to an entry written earlier in the same layer.
    Hardlink(PathBuf),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// Ownership, permissions and extended attributes of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// `(name, value)`, e.g. `("security.capability", …)`.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Owned by root with the given permissions.
    pub fn root(mode: u32) -> Self {
        Self {
            mode,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        }
    }
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    fn finish(self) -> (W, String, u64) {
        let hex = super::layout::hex(&self.hasher.finalize());
        (self.inner, format!("sha256:{hex}"), self.count)
    }
}

type Stream = tar::Builder<Hashing<GzEncoder<Hashing<BufWriter<File>>>>>;

/// Writes one layer blob; every entry gets the same mtime.
pub struct LayerWriter {
    tar: Stream,
    path: PathBuf,
    mtime: u64,
    pax_count: u64,
}

impl std::fmt::Debug for LayerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl LayerWriter {
    /// Creates `path` (truncating it) for a layer whose entries all carry `mtime`.
    pub fn create(path: &Path, mtime: u64, level: u32) -> Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(Hashing::new(BufWriter::new(file)), Compression::new(level));
        Ok(Self {
            tar: tar::Builder::new(Hashing::new(gz)),
            path: path.to_path_buf(),
            mtime,
            pax_count: 0,
        })
    }

    /// Appends one entry; `data` is read for regular files only (exactly `size` bytes).
    pub fn append(
        &mut self,
        path: &str,
        kind: &Kind,
        meta: &Meta,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<()> {
        if !meta.xattrs.is_empty() {
            self.append_pax(meta)?;
        }
        let mut header = tar::Header::new_ustar();
        header.set_mode(meta.mode & 0o7777);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(self.mtime);
        header.set_size(0);
        let ctx = || format!("cannot add {path} to {}", self.path.display());
        match kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                let name = format!("{}/", path.trim_end_matches('/'));
                self.tar
                    .append_data(&mut header, name, io::empty())
                    .with_context(ctx)?;
            }
            Kind::File => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                self.tar
                    .append_data(&mut header, path, data.take(size))
                    .with_context(ctx)?;
            }
            Kind::Symlink(target) | Kind::Hardlink(target) => {
                header.set_entry_type(if matches!(kind, Kind::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                self.tar
                    .append_link(&mut header, path, target)
                    .with_context(ctx)?;
            }
            Kind::Char(major, minor) | Kind::Block(major, minor) => {
                header.set_entry_type(if matches!(kind, Kind::Char(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                header.set_device_major(*major).with_context(ctx)?;
                header.set_device_minor(*minor).with_context(ctx)?;
                self.tar
                    .append_data(&mut header, path, io::empty())
                    .with_context(ctx)?;
            }
            Kind::Fifo => {
                header.set_entry_type(tar::EntryType::Fifo);
                self.tar
                    .append_data(&mut header, path, io::empty())
                    .with_context(ctx)?;
            }
        }
        Ok(())
    }

    /// A PAX extended header carrying the next entry's xattrs as `SCHILY.xattr.*` records.
    fn append_pax(&mut self, meta: &Meta) -> Result<()> {
        let mut records = Vec::new();
        for (name, value) in &meta.xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{name}"), value));
        }
        self.pax_count += 1;
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_size(records.len() as u64);
        self.tar
            .append_data(
                &mut header,
                format!("PaxHeaders/{}", self.pax_count),
                records.as_slice(),
            )
            .with_context(|| format!("cannot write a PAX header to {}", self.path.display()))
    }

    /// Ends the tar stream and the gzip member; returns the blob and its diff_id.
    pub fn finish(self) -> Result<Layer> {
        let ctx = || format!("cannot finish {}", self.path.display());
        let tar_stream = self.tar.into_inner().with_context(ctx)?;
        let (gz, diff_id, tar_size) = tar_stream.finish();
        let compressed = gz.finish().with_context(ctx)?;
        let (mut file, digest, size) = compressed.finish();
        file.flush().with_context(ctx)?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(ctx)?;
        Ok(Layer {
            blob: Blob {
                path: self.path,
                digest,
                size,
            },
            diff_id,
            tar_size,
        })
    }
}

/// One PAX record: `"<len> <key>=<value>\n"` where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// Hex part of a `sha256:<hex>` digest.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("SCHILY.xattr.security.capability", b"abc");
        let text = String::from_utf8(r.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), r.len());
        let r = pax_record("k", &[b'x'; 93]);
        assert!(r.starts_with(b"99 k=") && r.len() == 99);
        // 98 bytes without the length: two digits would give 100, which needs three.
        let r = pax_record("k", &[b'x'; 94]);
        assert!(r.starts_with(b"101 k=") && r.len() == 101);
    }

    fn build(dir: &Path, name: &str) -> Layer {
        let mut w = LayerWriter::create(&dir.join(name), 1_000_000, 6).unwrap();
        w.append("usr", &Kind::Dir, &Meta::root(0o755), 0, &mut io::empty())
            .unwrap();
        let data = b"hello\n";
        w.append(
            "usr/hello",
            &Kind::File,
            &Meta {
                mode: 0o755,
                uid: 0,
                gid: 0,
                xattrs: vec![("security.capability".into(), vec![1, 2, 3])],
            },
            data.len() as u64,
            &mut &data[..],
        )
        .unwrap();
        w.append(
            "usr/hi",
            &Kind::Hardlink("usr/hello".into()),
            &Meta::root(0o755),
            0,
            &mut io::empty(),
        )
        .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn same_entries_give_the_same_blob_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = build(dir.path(), "a.tar.gz");
        let b = build(dir.path(), "b.tar.gz");
        assert_eq!(a.blob.digest, b.blob.digest);
        assert_eq!(a.blob.size, std::fs::metadata(&a.blob.path).unwrap().len());
        let gz = std::fs::read(&a.blob.path).unwrap();
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");
        assert_eq!(gz[3] & 0x08, 0, "gzip header must not carry a file name");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(h.mtime().unwrap(), 1_000_000);
            assert_eq!(h.username().unwrap(), Some(""));
            let path = e.path().unwrap().to_string_lossy().into_owned();
            if path == "usr/hello" {
                let caps: Vec<_> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| x.unwrap().key().unwrap().to_owned())
                    .collect();
                assert_eq!(caps, ["SCHILY.xattr.security.capability"]);
            }
            seen.push(path);
        }
        assert_eq!(seen, ["usr/", "usr/hello", "usr/hi"]);
    }
}
