//! The Debian base layer: mmdebstrap builds a bookworm minbase root filesystem with OVN, OVS,
//! corosync, pacemaker and the resource agents into a tar, which is normalised into a layer and
//! cached under `target/image/cache/base-<suite>-<key>`, the key hashing the package list and every
//! mmdebstrap option, so an unchanged base is never rebuilt.

use super::definition::Base as Definition;
use super::layer::{Layer, LayerWriter};
use super::{normalise, progress};
use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use ovn_ha_exec::Exec;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bump when the normaliser's output format changes, to invalidate cached bases.
const NORMALISER_VERSION: &str = "1";

/// gzip level of the base layer (built once, so the smallest output wins).
const BASE_GZIP_LEVEL: u32 = 9;

/// The cached base layer.
#[derive(Debug, Clone)]
pub struct Base {
    pub layer: Layer,
    /// SOURCE_DATE_EPOCH the base was built with.
    pub epoch: u64,
    /// Seconds the cold build of this base took (mmdebstrap + normalise).
    pub build_seconds: f64,
    /// True when it came from the cache.
    pub cached: bool,
}

/// Every mmdebstrap argument except the output path and the sources.
fn mmdebstrap_args(def: &Definition) -> Vec<String> {
    let mut args = vec![
        "--variant=minbase".to_owned(),
        "--format=tar".to_owned(),
        format!("--include={}", def.packages.join(",")),
    ];
    args.extend(def.dpkg_options.iter().map(|o| format!("--dpkgopt={o}")));
    args.extend(
        def.customize_hooks
            .iter()
            .map(|h| format!("--customize-hook={h}")),
    );
    args.push(def.suite.clone());
    args
}

/// Hash of everything that decides the base's content (except the mirror's state).
pub fn cache_key(def: &Definition) -> String {
    let mut h = Sha256::new();
    for part in [NORMALISER_VERSION.to_owned(), BASE_GZIP_LEVEL.to_string()]
        .into_iter()
        .chain(mmdebstrap_args(def))
        .chain(def.sources.iter().cloned())
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    super::layout::hex(&h.finalize())[..16].to_owned()
}

/// An exclusive lock on one suite's part of the cache directory: one build at a time builds,
/// replaces or links that suite's cached base (bases of two suites build side by side, as
/// `cargo xtask test` builds them). Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct CacheLock {
    _lock: Flock<File>,
}

fn lock(cache_dir: &Path, suite: &str) -> Result<CacheLock> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create the cache directory {}", cache_dir.display()))?;
    let path = cache_dir.join(format!(".lock-{suite}"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((file, Errno::EWOULDBLOCK)) => {
            eprintln!(
                "==> waiting for another `cargo xtask image` building the {suite} base in {}",
                cache_dir.display()
            );
            Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, e)| e)
                .with_context(|| format!("cannot lock {}", path.display()))?
        }
        Err((_, e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
    };
    Ok(CacheLock { _lock: lock })
}

/// Returns the cached base, or builds (and caches) it when missing or when `cold`. The returned
/// lock keeps other processes from replacing the cached blob while the caller links it.
pub fn base(
    def: &Definition,
    cache_dir: &Path,
    epoch: u64,
    cold: bool,
) -> Result<(Base, CacheLock)> {
    let guard = lock(cache_dir, &def.suite)?;
    let entry = cache_dir.join(format!("base-{}-{}", def.suite, cache_key(def)));
    if !cold {
        match read_cached(&entry) {
            Ok(Some(base)) => return Ok((base, guard)),
            Ok(None) => {}
            Err(e) => eprintln!("ignoring the cached base in {}: {e:#}", entry.display()),
        }
    }
    let built = build(def, cache_dir, &entry, epoch)?;
    prune(cache_dir, &entry, &def.suite);
    Ok((built, guard))
}

fn meta_path(entry: &Path) -> PathBuf {
    entry.join("meta.json")
}

fn read_cached(entry: &Path) -> Result<Option<Base>> {
    let meta = meta_path(entry);
    if !meta.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&meta)?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let s = |k: &str| -> Result<String> {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .with_context(|| format!("{} lacks {k}", meta.display()))
    };
    let n = |k: &str| -> Result<u64> {
        v.get(k)
            .and_then(|x| x.as_u64())
            .with_context(|| format!("{} lacks {k}", meta.display()))
    };
    let path = entry.join("layer.tar.gz");
    let size = n("size")?;
    let on_disk = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if on_disk != size {
        bail!("{} has {on_disk} bytes, expected {size}", path.display());
    }
    Ok(Some(Base {
        layer: Layer {
            blob: super::layer::Blob {
                path,
                digest: s("digest")?,
                size,
            },
            diff_id: s("diff_id")?,
            tar_size: n("tar_size")?,
        },
        epoch: n("epoch")?,
        build_seconds: v
            .get("build_seconds")
            .and_then(|x| x.as_f64())
            .unwrap_or(0.0),
        cached: true,
    }))
}

/// Runs mmdebstrap into a scratch directory next to `entry`, normalises, then renames the
/// scratch directory to `entry` so readers never see half a cache entry.
fn build(def: &Definition, cache_dir: &Path, entry: &Path, epoch: u64) -> Result<Base> {
    let started = Instant::now();
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create the cache directory {}", cache_dir.display()))?;
    let scratch = super::Scratch::new(cache_dir, "base")?;
    let tar_path = scratch.path().join("rootfs.tar");
    let log_path = scratch.path().join("mmdebstrap.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut command = Command::new("mmdebstrap");
    command
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(mmdebstrap_args(def))
        .arg(&tar_path)
        .args(&def.sources);
    let spin = progress::spinner(&format!(
        "mmdebstrap: Debian {} minbase + {} packages (log: {})",
        def.suite,
        def.packages.len(),
        log_path.display()
    ));
    let result = Exec::new(&command).logged().log_to(log).inherit();
    spin.finish_and_clear();
    let mmdebstrap_seconds = started.elapsed().as_secs_f64();
    if let Err(e) = result {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{e:#}\n--- last lines of the mmdebstrap log ---\n{}\n(mmdebstrap needs root or user namespaces, and access to deb.debian.org)",
            tail.join("\n")
        );
    }
    let blob_path = scratch.path().join("layer.tar.gz");
    let mut writer = LayerWriter::create(&blob_path, epoch, BASE_GZIP_LEVEL)?;
    let bar = progress::bytes("normalising the rootfs into the base layer", 0);
    normalise::normalise(&tar_path, &mut writer, &bar)?;
    let layer = writer.finish()?;
    bar.finish_and_clear();
    std::fs::remove_file(&tar_path).ok();
    let build_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "==> base layer built in {build_seconds:.1} s (mmdebstrap {mmdebstrap_seconds:.1} s, \
         normalise + gzip {:.1} s)",
        build_seconds - mmdebstrap_seconds
    );
    let meta = serde_json::json!({
        "digest": layer.blob.digest,
        "diff_id": layer.diff_id,
        "size": layer.blob.size,
        "tar_size": layer.tar_size,
        "epoch": epoch,
        "build_seconds": build_seconds,
        "mmdebstrap_seconds": mmdebstrap_seconds,
        "packages": def.packages,
        "mmdebstrap_args": mmdebstrap_args(def),
        "sources": def.sources,
    });
    std::fs::write(meta_path(scratch.path()), serde_json::to_vec_pretty(&meta)?)?;
    // Replace any previous entry (a --cold rebuild); layouts holding hard links keep their copy.
    let old = cache_dir.join(format!(".old-{}-{}", std::process::id(), super::unique()));
    let had_old = entry.exists();
    if had_old {
        std::fs::rename(entry, &old)
            .with_context(|| format!("cannot move {} aside", entry.display()))?;
    }
    let kept = scratch.keep();
    std::fs::rename(&kept, entry)
        .with_context(|| format!("cannot rename {} to {}", kept.display(), entry.display()))?;
    if had_old {
        std::fs::remove_dir_all(&old).ok();
    }
    let mut layer = layer;
    layer.blob.path = entry.join("layer.tar.gz");
    Ok(Base {
        layer,
        epoch,
        build_seconds,
        cached: false,
    })
}

/// Removes cached bases of the same suite with other keys (one base per suite stays: the
/// upgrade scenario needs two), entries named before the suite was in the name, and leftovers
/// of interrupted builds.
fn prune(cache_dir: &Path, keep: &Path, suite: &str) {
    super::remove_stale_scratch(cache_dir);
    let Ok(dir) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for e in dir.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let legacy = name.len() == "base-".len() + 16 && !name[5..].contains('-');
        let same_suite = name.starts_with(&format!("base-{suite}-"));
        if name.starts_with("base-") && (same_suite || legacy) && p != keep {
            eprintln!("removing stale cache entry {}", p.display());
            std::fs::remove_dir_all(&p).ok();
        }
    }
}
