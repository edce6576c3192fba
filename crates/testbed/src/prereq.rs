//! Test prerequisites: a test that cannot run on this machine fails and names what is missing,
//! unless the run opts out with `OVN_HA_ALLOW_SKIP=1`. Then the test is skipped, says so on
//! stderr, and appends one line to the file `OVN_HA_SKIP_LOG` names, so `cargo xtask test`
//! can print how many were skipped. A skipped test never passes silently.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// The opt-out variable: `1` turns missing prerequisites into counted skips.
pub const ALLOW_SKIP: &str = "OVN_HA_ALLOW_SKIP";
/// The variable naming the file each skip is appended to.
pub const SKIP_LOG: &str = "OVN_HA_SKIP_LOG";

/// What a test does about its missing prerequisites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing is missing.
    Run,
    /// Missing, and skips are allowed: the line to print and count.
    Skip(String),
    /// Missing: the failure message.
    Fail(String),
}

/// The outcome (pure) for `test` with `missing` prerequisites.
pub fn decide(test: &str, missing: &[String], allow_skip: bool) -> Outcome {
    if missing.is_empty() {
        return Outcome::Run;
    }
    let what = format!("{test}: missing {}", missing.join(", "));
    if allow_skip {
        Outcome::Skip(what)
    } else {
        Outcome::Fail(format!(
            "{what}; `cargo xtask test` (as root) installs and provides them, \
             or set {ALLOW_SKIP}=1 to skip such tests instead"
        ))
    }
}

/// Whether `test` can run: `true` if nothing is `missing`; `false` after recording a skip
/// when skips are allowed; otherwise it panics with the names of what is missing.
pub fn check(test: &str, missing: &[String]) -> bool {
    let allow = std::env::var(ALLOW_SKIP).is_ok_and(|v| v == "1");
    match decide(test, missing, allow) {
        Outcome::Run => true,
        Outcome::Skip(what) => {
            eprintln!("skipped: {what}");
            if let Ok(path) = std::env::var(SKIP_LOG)
                && let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            {
                let _ = writeln!(f, "{what}");
            }
            false
        }
        Outcome::Fail(why) => panic!("{why}"),
    }
}

/// Of `tools` (program names or absolute paths), those that cannot be started.
pub fn missing_tools(tools: &[&str]) -> Vec<String> {
    tools
        .iter()
        .filter(|t| {
            if t.starts_with('/') {
                return !std::path::Path::new(t).exists();
            }
            Command::new(t)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .map(|t| (*t).to_string())
        .collect()
}

/// `["root"]` unless this process runs as root (the owner of `/proc/self` is its effective
/// user).
pub fn missing_root() -> Vec<String> {
    use std::os::unix::fs::MetadataExt as _;
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        Vec::new()
    } else {
        vec!["root".to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_prerequisites_fail_unless_skips_are_allowed() {
        let none: Vec<String> = Vec::new();
        let some = vec!["root".to_string(), "cibadmin".to_string()];
        assert_eq!(decide("t", &none, false), Outcome::Run);
        assert_eq!(decide("t", &none, true), Outcome::Run);
        assert_eq!(
            decide("t", &some, true),
            Outcome::Skip("t: missing root, cibadmin".into())
        );
        match decide("t", &some, false) {
            Outcome::Fail(why) => {
                assert!(why.starts_with("t: missing root, cibadmin;"), "{why}");
                assert!(why.contains(ALLOW_SKIP), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }
}
