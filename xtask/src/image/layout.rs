//! The OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) built with oci-spec:
//! config with the entrypoint and labels, manifest with the `org.opencontainers.image.*`
//! annotations, and an index naming the tag. JSON is written with sorted keys so the same inputs
//! give the same digests. The layout is assembled in a scratch directory next to the output and
//! renamed into place at the end.

use super::build_info::BuildInfo;
use super::layer::{Layer, hex_of};
use anyhow::{Context, Result, bail};
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What goes into the image besides the layers.
#[derive(Debug)]
pub struct ImageSpec<'a> {
    /// Tag, stored as `org.opencontainers.image.ref.name`.
    pub tag: &'a str,
    /// Full name, e.g. `ghcr.io/ovndb-ha/ovn-daemonset:latest`.
    pub name: &'a str,
    pub info: &'a BuildInfo,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// (layer, history line), bottom first.
    pub layers: Vec<(&'a Layer, String)>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest_digest: String,
    /// Config + manifest + layers, as a registry stores them.
    pub compressed_size: u64,
}

/// Serialises with object keys sorted, independent of HashMap order.
fn canonical_json(value: serde_json::Value) -> Result<Vec<u8>> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    Ok(serde_json::to_vec(&sort(value))?)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: u64,
    annotations: Option<HashMap<String, String>>,
) -> Result<Descriptor> {
    let digest = oci_spec::image::Digest::from_str(digest)
        .with_context(|| format!("bad digest {digest}"))?;
    let mut b = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size);
    if let Some(a) = annotations {
        b = b.annotations(a);
    }
    Ok(b.build()?)
}

/// Hard-links `from` to `to` (same file system), copying when that fails.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))
}

/// Writes the layout into `dir` (which must be new and empty).
pub fn write_into(dir: &Path, spec: &ImageSpec<'_>) -> Result<Written> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    let mut total = 0;
    for (layer, _) in &spec.layers {
        link_or_copy(&layer.blob.path, &blobs.join(hex_of(&layer.blob.digest)))?;
        total += layer.blob.size;
    }
    let labels: HashMap<String, String> = spec.info.annotations().into_iter().collect();
    let config = ConfigBuilder::default()
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        ])
        .entrypoint(spec.entrypoint.clone())
        .cmd(spec.cmd.clone())
        .working_dir("/".to_owned())
        .labels(labels.clone())
        .build()?;
    let history = spec
        .layers
        .iter()
        .map(|(_, line)| {
            HistoryBuilder::default()
                .created(spec.info.created.clone())
                .created_by(line.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let image_config = ImageConfigurationBuilder::default()
        .created(spec.info.created.clone())
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(config)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers".to_owned())
                .diff_ids(
                    spec.layers
                        .iter()
                        .map(|(l, _)| l.diff_id.clone())
                        .collect::<Vec<_>>(),
                )
                .build()?,
        )
        .history(history)
        .build()?;
    let config_bytes = canonical_json(serde_json::to_value(&image_config)?)?;
    let config_digest = sha256(&config_bytes);
    std::fs::write(blobs.join(hex_of(&config_digest)), &config_bytes)?;
    total += config_bytes.len() as u64;

    let layers = spec
        .layers
        .iter()
        .map(|(l, _)| descriptor(MediaType::ImageLayerGzip, &l.blob.digest, l.blob.size, None))
        .collect::<Result<Vec<_>>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
            None,
        )?)
        .layers(layers)
        .annotations(labels)
        .build()?;
    let manifest_bytes = canonical_json(serde_json::to_value(&manifest)?)?;
    let manifest_digest = sha256(&manifest_bytes);
    std::fs::write(blobs.join(hex_of(&manifest_digest)), &manifest_bytes)?;
    total += manifest_bytes.len() as u64;

    let mut ref_annotations = HashMap::new();
    ref_annotations.insert(
        "org.opencontainers.image.ref.name".to_owned(),
        spec.tag.to_owned(),
    );
    ref_annotations.insert("io.containerd.image.name".to_owned(), spec.name.to_owned());
    let mut manifest_descriptor = descriptor(
        MediaType::ImageManifest,
        &manifest_digest,
        manifest_bytes.len() as u64,
        Some(ref_annotations),
    )?;
    manifest_descriptor.set_platform(Some(
        PlatformBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .build()?,
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_descriptor])
        .build()?;
    std::fs::write(
        dir.join("index.json"),
        canonical_json(serde_json::to_value(&index)?)?,
    )?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(Written {
        manifest_digest,
        compressed_size: total,
    })
}

/// True when `dir` looks like an OCI layout (or does not exist / is empty), i.e. replaceable.
pub fn replaceable(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Err(_) => !dir.exists(),
        Ok(mut entries) => entries.next().is_none() || dir.join("oci-layout").is_file(),
    }
}

/// Moves the finished scratch layout to `out`, replacing an older layout there.
pub fn install(scratch: PathBuf, out: &Path) -> Result<()> {
    if !replaceable(out) {
        bail!(
            "--output {}: the directory exists and is not an OCI image layout; \
             remove it or pass another --output",
            out.display()
        );
    }
    let old = out.with_file_name(format!(
        ".{}.old-{}",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &old)
            .with_context(|| format!("cannot move the old layout {} aside", out.display()))?;
    }
    if let Err(e) = std::fs::rename(&scratch, out) {
        if had_old {
            std::fs::rename(&old, out).ok();
        }
        return Err(e)
            .with_context(|| format!("cannot rename {} to {}", scratch.display(), out.display()));
    }
    if had_old {
        std::fs::remove_dir_all(&old).ok();
    }
    Ok(())
}

/// Reads the manifest digest that `index.json` names for `tag`.
pub fn manifest_digest(layout: &Path, tag: &str) -> Result<String> {
    let path = layout.join("index.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}; run `cargo xtask image` first",
            path.display()
        )
    })?;
    let index = oci_spec::image::ImageIndex::from_reader(text.as_bytes())
        .with_context(|| format!("{} is not an OCI index", path.display()))?;
    index
        .manifests()
        .iter()
        .find(|m| {
            m.annotations()
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                .is_some_and(|t| t == tag)
        })
        .map(|m| m.digest().to_string())
        .with_context(|| format!("{} has no image tagged {tag}", path.display()))
}

/// Lower-case hex of `bytes` (sha2 0.11's digests do not format as hex themselves).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
