//! The manifest renderer: turns a validated [`ovn_ha_config::Config`] into the four Kubernetes
//! manifests (`ovn-setup.yaml`, `ovnkube-db-ha.yaml`, `ovnkube-master.yaml`,
//! `ovnkube-node.yaml`) with minijinja over the templates in `dist/templates/*.j2`, which are
//! compiled into the crate.
//!
//! Rendering is pure and strict (an undefined template variable is an error). Its only I/O is
//! [`write_atomically`], which writes every file or none. It does not validate input (the
//! config crate did) and never generates secrets itself: the caller hands in the corosync
//! authkey bytes and, with `--ssl`, the TLS material ([`pki`] makes it). The caller that reads
//! flags and chooses them is [`cli`], the command line
//! of `dist/images/daemonset.sh` (this crate's `ovn-ha-render` binary, so rendering builds
//! only what it needs) and of `cargo xtask render`.

pub mod cli;
mod context;
mod output;
pub mod pki;
pub mod secrets;
mod templates;

pub use output::{WriteError, write_atomically};

use ovn_ha_config::Config;

/// One rendered manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// File name, e.g. `ovn-setup.yaml`.
    pub name: &'static str,
    pub contents: String,
    /// Holds a Secret: written with mode 0600.
    pub secret: bool,
}

/// Why rendering failed: always a bug in a template, never the user's input.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {source:#}")]
    Template {
        name: &'static str,
        #[source]
        source: minijinja::Error,
    },
    #[error("the corosync authkey must be 128 to 4096 bytes long, not {0}")]
    AuthkeyLength(usize),
}

/// Smallest and largest corosync authkey.
pub const AUTHKEY_LEN_RANGE: std::ops::RangeInclusive<usize> = 128..=4096;
/// Length of a freshly generated authkey (what `corosync-keygen` makes).
pub const AUTHKEY_LEN: usize = 256;

/// Renders the four manifests, in the order they are applied. With `authkey` `None` the
/// corosync authkey Secret is left out (for published example manifests); `ovn-setup.yaml` then
/// says how to create it. With `--ssl`, `pki` is the TLS Secrets' material (`None`: left out
/// likewise).
pub fn render_all(
    config: &Config,
    authkey: Option<&[u8]>,
    pki: Option<&pki::Pki>,
) -> Result<Vec<RenderedFile>, RenderError> {
    if let Some(key) = authkey
        && !AUTHKEY_LEN_RANGE.contains(&key.len())
    {
        return Err(RenderError::AuthkeyLength(key.len()));
    }
    let env = templates::environment()
        .map_err(|(name, source)| RenderError::Template { name, source })?;
    let ctx = context::Context::new(config, authkey, pki);
    templates::OUTPUTS
        .iter()
        .map(|t| {
            let contents = env
                .get_template(t.template)
                .and_then(|tmpl| tmpl.render(minijinja::value::Serde(&ctx)))
                .map_err(|source| RenderError::Template {
                    name: t.template,
                    source,
                })?;
            Ok(RenderedFile {
                name: t.output,
                contents: tidy(&contents),
                secret: t.secret,
            })
        })
        .collect()
}

/// Trims trailing blanks from every line and ends the file with exactly one newline.
fn tidy(text: &str) -> String {
    let mut out: String = text
        .trim_start_matches('\n')
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
