//! What the image records about its own build: SOURCE_DATE_EPOCH (from the environment or the
//! last commit), the git revision, the workspace version and the source repository. These feed
//! the tar mtimes, the config's `created` and the `org.opencontainers.image.*` annotations.

use anyhow::{Context, Result, bail};
use ovn_ha_exec::Exec;
use std::path::Path;
use std::process::Command;

/// Facts about the build that end up in the image.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// Seconds since the epoch used for every timestamp in the image.
    pub epoch: u64,
    /// `epoch` as RFC 3339 (UTC).
    pub created: String,
    /// Commit the image is built from.
    pub revision: String,
    /// Workspace version.
    pub version: String,
    /// Source repository URL.
    pub source: String,
}

impl BuildInfo {
    /// Reads SOURCE_DATE_EPOCH (or the last commit's time) and the revision from git.
    pub fn collect(root: &Path) -> Result<Self> {
        let revision = git(root, &["rev-parse", "HEAD"])
            .context("the image records the git revision: run it inside the git checkout")?;
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<u64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
            _ => {
                let ct = git(root, &["log", "-1", "--format=%ct"])?;
                ct.parse::<u64>()
                    .with_context(|| format!("git log gave {ct:?} as the commit time"))?
            }
        };
        Ok(Self {
            epoch,
            created: rfc3339(epoch),
            revision,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            source: env!("CARGO_PKG_REPOSITORY").to_owned(),
        })
    }

    /// The `org.opencontainers.image.*` annotations.
    pub fn annotations(&self) -> Vec<(String, String)> {
        vec![
            (
                "org.opencontainers.image.created".into(),
                self.created.clone(),
            ),
            (
                "org.opencontainers.image.revision".into(),
                self.revision.clone(),
            ),
            (
                "org.opencontainers.image.source".into(),
                self.source.clone(),
            ),
            (
                "org.opencontainers.image.title".into(),
                "ovn-daemonset".into(),
            ),
            (
                "org.opencontainers.image.version".into(),
                self.version.clone(),
            ),
        ]
    }
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Exec::new(Command::new("git").current_dir(root).args(args))
        .logged()
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text.is_empty() {
        bail!("`git {}` printed nothing", args.join(" "));
    }
    Ok(text)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day), counting in
/// 400-year eras that start on 1 March so leap days fall at the end of each year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_641_570), "2026-11-25T21:19:30Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
