//! The image's definition as data: `images/ovn-daemonset/image.yaml` (Debian suite, sources,
//! packages, dpkg options and hooks of the base; the static binaries and their paths; the
//! entrypoint). Read and checked before anything is built: a bad file gets one error naming the
//! field and the fix.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the definition lives, under the workspace root.
pub fn path(root: &Path) -> PathBuf {
    root.join("images").join("ovn-daemonset").join("image.yaml")
}

/// The whole file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub base: Base,
    pub binaries: Binaries,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// The Debian base layer, built with mmdebstrap.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub suite: String,
    pub sources: Vec<String>,
    pub packages: Vec<String>,
    pub dpkg_options: Vec<String>,
    pub customize_hooks: Vec<String>,
}

/// Our static binaries and where they go.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Binaries {
    pub target: String,
    pub install: Vec<Install>,
}

/// One workspace binary in the image.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Cargo package.
    pub package: String,
    /// Binary name in that package.
    pub binary: String,
    /// Path inside the image, relative to `/`.
    pub path: String,
}

impl Definition {
    /// Reads and checks the definition under `root`.
    pub fn load(root: &Path) -> Result<Self> {
        let file = path(root);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the image definition {}", file.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", file.display()))
    }

    /// Parses and checks the text of a definition.
    pub fn parse(text: &str) -> Result<Self> {
        let d: Definition = serde_saphyr::from_str(text)?;
        d.check()?;
        Ok(d)
    }

    fn check(&self) -> Result<()> {
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._+".contains(&b))
        };
        if !word(&self.base.suite) {
            bail!(
                "base.suite `{}` is not a Debian suite name; write one like `bookworm`",
                self.base.suite
            );
        }
        if self.base.sources.is_empty() {
            bail!("base.sources is empty; list at least the release's `deb URL SUITE main` line");
        }
        if let Some(p) = self.base.packages.iter().find(|p| !word(p)) {
            bail!("base.packages has `{p}`, not a Debian package name; one name per entry");
        }
        if self.binaries.install.is_empty() {
            bail!("binaries.install is empty; list the workspace binaries the image runs");
        }
        for b in &self.binaries.install {
            if b.path.starts_with('/') || b.path.split('/').any(|c| c.is_empty() || c == "..") {
                bail!(
                    "binaries.install path `{}` must be relative to / without empty or `..` parts, e.g. `usr/bin/{}`",
                    b.path,
                    b.binary
                );
            }
        }
        match self.entrypoint.first() {
            Some(e) if self.installed().any(|p| p == *e) => Ok(()),
            _ => bail!(
                "entrypoint {:?} must start with an installed binary's path: one of {:?}",
                self.entrypoint,
                self.installed().collect::<Vec<_>>()
            ),
        }
    }

    /// The same image on another Debian suite (`--suite`): the base's suite, and the suite of
    /// every source line of the old one (`bookworm`, `bookworm-updates`, `bookworm-security`)
    /// become the new one's.
    pub fn on_suite(mut self, suite: &str) -> Result<Self> {
        let old = std::mem::replace(&mut self.base.suite, suite.to_owned());
        self.check().context("in --suite")?;
        for source in &mut self.base.sources {
            let mut words: Vec<String> = source.split_whitespace().map(str::to_owned).collect();
            if let Some(w) = words.get_mut(2)
                && let Some(pocket) = w.strip_prefix(old.as_str())
                && (pocket.is_empty() || pocket.starts_with('-'))
            {
                *w = format!("{suite}{pocket}");
            }
            *source = words.join(" ");
        }
        Ok(self)
    }

    /// The installed binaries' absolute paths.
    pub fn installed(&self) -> impl Iterator<Item = String> + '_ {
        self.binaries.install.iter().map(|b| format!("/{}", b.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_definition_is_valid_and_runs_the_entrypoint() {
        let d = Definition::load(&ovn_ha_local::workspace::root()).unwrap();
        assert_eq!(d.base.suite, "bookworm");
        assert!(d.base.packages.iter().any(|p| p == "pacemaker"));
        assert_eq!(d.entrypoint, ["/usr/bin/ovnkube-db-ha"]);
        assert_eq!(d.cmd, ["run"]);
        assert!(
            d.installed()
                .any(|p| p == "/usr/lib/ocf/resource.d/ovn/ovndb-servers")
        );
    }

    #[test]
    fn another_suite_takes_the_release_and_its_pockets() {
        let d = Definition::load(&ovn_ha_local::workspace::root())
            .unwrap()
            .on_suite("trixie")
            .unwrap();
        assert_eq!(d.base.suite, "trixie");
        assert_eq!(
            d.base.sources,
            [
                "deb http://deb.debian.org/debian trixie main",
                "deb http://deb.debian.org/debian trixie-updates main",
                "deb http://deb.debian.org/debian-security trixie-security main",
            ]
        );
        let e = Definition::load(&ovn_ha_local::workspace::root())
            .unwrap()
            .on_suite("tri xie")
            .unwrap_err();
        assert!(format!("{e:#}").contains("--suite"), "{e:#}");
    }

    #[test]
    fn a_bad_field_is_named_with_its_fix() {
        let good = std::fs::read_to_string(path(&ovn_ha_local::workspace::root())).unwrap();
        for (from, to, want) in [
            ("suite: bookworm", "suite: \"book worm\"", "base.suite"),
            (
                "    - corosync\n",
                "    - corosync pacemaker\n",
                "base.packages",
            ),
            (
                "path: usr/bin/ovnkube-db-ha",
                "path: /usr/bin/x",
                "binaries.install path",
            ),
            (
                "entrypoint: [/usr/bin/ovnkube-db-ha]",
                "entrypoint: [/bin/sh]",
                "entrypoint",
            ),
            (
                "cmd: [run]",
                "cmd: [run]\nlabels: {}",
                "unknown field `labels`",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            let e = Definition::parse(&good.replacen(from, to, 1)).unwrap_err();
            assert!(format!("{e:#}").contains(want), "{from}: {e:#}");
        }
    }
}
