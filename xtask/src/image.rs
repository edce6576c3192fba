//! `cargo xtask image`: the ovn-daemonset OCI image (static binaries on a Debian rootfs), built
//! without Docker into an OCI image layout, reproducibly (same inputs, same manifest digest),
//! and optionally pushed to a registry.
//!
//! What goes in is data: `images/ovn-daemonset/image.yaml` ([`definition`]).
//!
//! Steps: check the flags, the definition and that the output is writable; build the binaries
//! statically ([`binaries`]) and, side by side, take the Debian base layer from the cache or
//! build it with mmdebstrap ([`rootfs`], [`normalise`]); write the binaries layer ([`layer`]); assemble the layout in a
//! scratch directory and rename it into place ([`layout`]); push ([`push`]); print the figures.

mod binaries;
mod build_info;
mod definition;
mod layer;
mod layout;
mod normalise;
mod progress;
mod push;
mod rootfs;

use anyhow::{Context, Result, bail};
use ovn_ha_config::defaults::{DB_IMAGE, DB_IMAGE_REPOSITORY};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// Tag of the image: the layout names it, and the image is `<repository>:<tag>`.
    #[arg(long, default_value = default_tag())]
    pub tag: String,
    /// Also push the image to this registry reference (REGISTRY/REPOSITORY[:TAG]).
    /// Credentials: REGISTRY_USERNAME + REGISTRY_PASSWORD, or REGISTRY_TOKEN.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Rebuild the Debian base layer even if it is cached (measures a cold build).
    #[arg(long)]
    pub cold: bool,
    /// Directory of the OCI image layout (default: target/image/ovn-daemonset, or
    /// target/image/ovn-daemonset-SUITE with --suite). It holds exactly the image just built;
    /// an older layout there is replaced atomically.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Build the base from this Debian suite instead of the definition's (e.g. `trixie`, for
    /// the newer OVN of a rolling upgrade); its sources follow.
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
}

/// The tag of the default image name: what follows `DB_IMAGE_REPOSITORY:` in `DB_IMAGE`.
const fn default_tag() -> &'static str {
    let (_repository, tag) = DB_IMAGE.as_bytes().split_at(DB_IMAGE_REPOSITORY.len());
    match tag.split_first() {
        Some((b':', rest)) => match std::str::from_utf8(rest) {
            Ok(t) => t,
            Err(_) => "latest",
        },
        _ => "latest",
    }
}

/// Where the layout goes by default, under the workspace's target directory.
pub fn default_output(root: &Path) -> PathBuf {
    ovn_ha_local::workspace::image_layout(root)
}

/// Where the layout goes without `--output`: [`default_output`], or beside it with the suite
/// in the name when the base is built from another suite.
pub fn suite_output(root: &Path, suite: Option<&str>) -> PathBuf {
    match suite {
        None => default_output(root),
        Some(s) => ovn_ha_local::workspace::suite_image_layout(root, s),
    }
}

/// The cache of base layers.
pub fn cache_dir(root: &Path) -> PathBuf {
    root.join("target").join("image").join("cache")
}

/// A directory removed on drop unless kept.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Scratch {
    /// Creates `parent/.scratch-<label>-<pid>-<n>`.
    pub fn new(parent: &Path, label: &str) -> Result<Self> {
        let path = parent.join(format!(
            ".scratch-{label}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self { path, keep: false })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Stops removing the directory on drop and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `.scratch-*` directories in `dir` left by processes that no longer run (killed
/// mid-build); a live process's scratch directory is left alone.
pub fn remove_stale_scratch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(".scratch-") {
            continue;
        }
        let mut fields = name.rsplit('-');
        let pid = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            eprintln!("removing {} (left by process {pid})", e.path().display());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A number unique within this process.
pub fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Checks a tag against the distribution spec's grammar.
fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(
            "--tag {tag:?} is not a valid tag: use up to 128 letters, digits, '_', '.', '-', \
             not starting with '.' or '-'"
        );
    }
    Ok(())
}

/// Creates the output's parent and a scratch directory in it, turning failures into one error
/// that names the flag.
fn prepare_output(out: &Path) -> Result<Scratch> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !layout::replaceable(out) {
        bail!(
            "--output {}: the directory exists and is not an OCI image layout; \
             remove it or pass another --output",
            out.display()
        );
    }
    remove_stale_scratch(parent);
    std::fs::create_dir_all(parent)
        .and_then(|()| {
            Scratch::new(parent, "layout").map_err(|e| std::io::Error::other(format!("{e:#}")))
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "--output {}: cannot write there ({e}); pass --output with a writable directory",
                out.display()
            )
        })
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub fn run(args: &ImageArgs) -> Result<ExitCode> {
    build(args, &mut |line| println!("{line}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Builds the images of `args` at once (the static build is shared: cargo's lock makes the
/// second a no-op; the bases of different suites build side by side), then prints each
/// image's figures in order. Fails with the first failure.
pub fn build_all(args: &[ImageArgs]) -> Result<()> {
    let results: Vec<Result<Summary>> = std::thread::scope(|s| {
        let handles: Vec<_> = args
            .iter()
            .map(|a| {
                s.spawn(|| {
                    let mut lines = Vec::new();
                    build(a, &mut |line| lines.push(line)).map(|()| Summary { lines })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("an image build panicked")))
            })
            .collect()
    });
    let mut summaries = Vec::new();
    for r in results {
        summaries.push(r?);
    }
    for summary in summaries {
        summary.print();
    }
    Ok(())
}

/// What a build made and how long its steps took, printed after it.
#[derive(Debug)]
pub struct Summary {
    lines: Vec<String>,
}

impl Summary {
    fn print(&self) {
        for line in &self.lines {
            println!("{line}");
        }
    }
}

/// Builds the image: the static binaries and the base layer side by side (the base is mostly
/// downloads and dpkg, the binaries mostly the compiler), then the binaries layer and the
/// layout; pushes when asked. Hands each line of its figures to `emit` as soon as it is known
/// (the layout's lines before a push that may fail).
fn build(args: &ImageArgs, emit: &mut dyn FnMut(String)) -> Result<()> {
    let started = Instant::now();
    check_tag(&args.tag)?;
    let push_target = args
        .push
        .as_deref()
        .map(|r| push::parse(r, &args.tag))
        .transpose()?;
    let root = ovn_ha_local::workspace::root();
    let mut def = definition::Definition::load(&root)?;
    if let Some(suite) = &args.suite {
        def = def.on_suite(suite)?;
    }
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| suite_output(&root, args.suite.as_deref()));
    let scratch = prepare_output(&out)?;
    let name = format!("{DB_IMAGE_REPOSITORY}:{}", args.tag);
    let info = build_info::BuildInfo::collect(&root)?;

    let cache = cache_dir(&root);
    let (built, based) = std::thread::scope(|s| {
        let base = s.spawn(|| {
            let t = Instant::now();
            rootfs::base(&def.base, &cache, info.epoch, args.cold)
                .map(|b| (b, t.elapsed().as_secs_f64()))
        });
        let t = Instant::now();
        let built = binaries::build(&root, &def.binaries).map(|b| (b, t.elapsed().as_secs_f64()));
        let based = base
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the base layer's build panicked")));
        (built, based)
    });
    let (built, binaries_seconds) = built?;
    let ((base, cache_lock), base_seconds) = based?;
    if base.cached {
        eprintln!(
            "==> base layer {} from the cache (key {})",
            base.layer.blob.digest,
            rootfs::cache_key(&def.base)
        );
    }

    let t = Instant::now();
    let spin = progress::spinner("writing the binaries layer and the OCI layout");
    let app_path = scratch.path().join("binaries.tar.gz");
    let app = binaries::layer(&built, &app_path, info.epoch)?;
    let base_history = format!(
        "mmdebstrap --variant=minbase {} with {} (SOURCE_DATE_EPOCH={})",
        def.base.suite,
        def.base.packages.join(","),
        base.epoch
    );
    let app_history = format!(
        "cargo xtask image: {} (static, {})",
        def.installed().collect::<Vec<_>>().join(", "),
        def.binaries.target
    );
    let layout_dir = scratch.path().join("layout");
    let spec = layout::ImageSpec {
        tag: &args.tag,
        name: &name,
        info: &info,
        entrypoint: def.entrypoint.clone(),
        cmd: def.cmd.clone(),
        layers: vec![(&base.layer, base_history), (&app, app_history)],
    };
    let written = layout::write_into(&layout_dir, &spec)?;
    layout::install(layout_dir, &out)?;
    drop(cache_lock);
    drop(scratch);
    spin.finish_and_clear();
    let layout_seconds = t.elapsed().as_secs_f64();

    emit(format!("image:           {name}"));
    emit(format!(
        "layout:          oci:{}:{}",
        out.display(),
        args.tag
    ));
    emit(format!("manifest digest: {}", written.manifest_digest));
    emit(format!(
        "compressed size: {} (base layer {}, binaries layer {}; uncompressed {})",
        mb(written.compressed_size),
        mb(base.layer.blob.size),
        mb(app.blob.size),
        mb(base.layer.tar_size + app.tar_size)
    ));
    let mut push_seconds = None;
    if let Some(target) = &push_target {
        let t = Instant::now();
        let digest = push::push(&out, &args.tag, target)?;
        push_seconds = Some(t.elapsed().as_secs_f64());
        emit(format!("pushed:          {} ({digest})", target.text));
    }

    let total = started.elapsed().as_secs_f64();
    emit(format!(
        "cold base build: {:.1} s{}",
        base.build_seconds,
        if base.cached {
            " (recorded when the cached base was built)"
        } else {
            " (this run)"
        }
    ));
    emit(format!(
        "this build:      {total:.1} s{} (binaries {binaries_seconds:.1} s and base {base_seconds:.1} s side by side, layer + layout {layout_seconds:.1} s{})",
        if base.cached {
            ", base cached"
        } else {
            ", base built"
        },
        push_seconds
            .map(|s| format!(", push {s:.1} s"))
            .unwrap_or_default()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tag_is_the_default_image_tag() {
        assert_eq!(format!("{DB_IMAGE_REPOSITORY}:{}", default_tag()), DB_IMAGE);
    }

    #[test]
    fn tags() {
        assert!(check_tag("latest").is_ok());
        assert!(check_tag("v0.1.0-rc_1").is_ok());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
        assert!(check_tag("").is_err());
    }
}
