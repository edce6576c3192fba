//! Our two binaries, built statically (glibc with `+crt-static`) into `target/static` so the
//! normal build cache stays intact, checked to have no ELF interpreter, and packed into the
//! image's top layer at their installed paths.

use super::definition::Binaries;
use super::layer::{Kind, Layer, LayerWriter, Meta};
use anyhow::{Context, Result, bail};
use ovn_ha_exec::Exec;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A built binary and where it goes in the image.
#[derive(Debug, Clone)]
pub struct Built {
    pub host_path: PathBuf,
    pub image_path: String,
}

/// Builds the definition's binaries statically in release mode.
pub fn build(root: &Path, def: &Binaries) -> Result<Vec<Built>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = root.join("target").join("static");
    eprintln!("==> building the static binaries (cargo output follows)");
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--release", "--target", &def.target]);
    for b in &def.install {
        command.args(["-p", &b.package]);
    }
    let packages: Vec<&str> = def.install.iter().map(|b| b.package.as_str()).collect();
    Exec::new(&command).logged().inherit().with_context(|| {
        format!(
            "the static build of {} failed; fix the build error above (`cargo build -p {}`)",
            packages.join(" and "),
            packages.join(" -p ")
        )
    })?;
    let mut built = Vec::new();
    for b in &def.install {
        let host_path = target_dir.join(&def.target).join("release").join(&b.binary);
        ensure_static(&host_path)?;
        built.push(Built {
            host_path,
            image_path: b.path.clone(),
        });
    }
    Ok(built)
}

/// Fails unless `path` is a 64-bit ELF file without a PT_INTERP program header.
fn ensure_static(path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if interpreter_present(&bytes)
        .with_context(|| format!("{} is not a 64-bit ELF", path.display()))?
    {
        bail!(
            "{} is dynamically linked (it has an ELF interpreter); the image needs \
             `-C target-feature=+crt-static`",
            path.display()
        );
    }
    Ok(())
}

/// Reads the program headers of a little-endian ELF64 image.
fn interpreter_present(elf: &[u8]) -> Option<bool> {
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 || *elf.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// Writes the layer holding the binaries (and their parent directories), owned by root.
pub fn layer(built: &[Built], out: &Path, epoch: u64) -> Result<Layer> {
    let mut entries: Vec<(String, Option<&Built>)> = Vec::new();
    for b in built {
        let mut dir = Path::new(&b.image_path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            entries.push((d.to_string_lossy().into_owned(), None));
            dir = d.parent();
        }
        entries.push((b.image_path.clone(), Some(b)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut writer = LayerWriter::create(out, epoch, 9)?;
    for (path, file) in entries {
        match file {
            None => writer.append(
                &path,
                &Kind::Dir,
                &Meta::root(0o755),
                0,
                &mut std::io::empty(),
            )?,
            Some(b) => {
                let mut f = File::open(&b.host_path)
                    .with_context(|| format!("cannot open {}", b.host_path.display()))?;
                let size = f.metadata()?.len();
                writer.append(&path, &Kind::File, &Meta::root(0o755), size, &mut f)?;
            }
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recognises_elf_interpreters() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // Test binaries are linked dynamically by default.
        assert_eq!(interpreter_present(&me), Some(true));
        assert_eq!(interpreter_present(b"#!/bin/sh\n"), None);
    }
}
