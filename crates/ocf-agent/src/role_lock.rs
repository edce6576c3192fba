//! The role lock (`ovn_ha_contract::ROLE_LOCK`) as the agent takes it: an exclusive `flock`
//! on the file under `run_dir`, held by promote from before it reads the servers' state until
//! both are active, so the entrypoint's standby-link reconnect (which checks "backup" and then
//! sends `connect-active-ovsdb-server` under the same lock) can never turn a copy that is being
//! promoted back into a backup; an unpromoted copy's monitor that finds a database active
//! takes it too, so it never reads a conversion under way. The entrypoint keeps it for two
//! bounded unixctl calls, or for one local conversion at the active's schema change, so the
//! wait here is short; past [`WAIT`] promote fails rather than race (Pacemaker retries).

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for the lock.
pub const WAIT: Duration = Duration::from_secs(3);
/// Pause between attempts.
const STEP: Duration = Duration::from_millis(5);

/// The lock, held until the returned file is dropped.
pub fn hold(run_dir: &Path, wait: Duration) -> Result<File> {
    let path = ovn_ha_contract::role_lock(run_dir);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the role lock {}", path.display()))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(STEP),
            Err(TryLockError::WouldBlock) => bail!(
                "the role lock {} stayed held for {} ms (the entrypoint's standby link holds \
                 it for a reconnect or a conversion at the active's schema change)",
                path.display(),
                wait.as_millis()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_held_lock_is_waited_for_and_then_refused_and_a_free_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = hold(dir.path(), WAIT).unwrap();
        let e = hold(dir.path(), Duration::from_millis(20)).unwrap_err();
        assert!(format!("{e:#}").contains("stayed held for 20 ms"), "{e:#}");
        drop(first);
        let again = hold(dir.path(), Duration::ZERO).unwrap();
        drop(again);
    }

    #[test]
    fn a_missing_run_dir_is_named() {
        let e = hold(Path::new("/nonexistent/run"), WAIT).unwrap_err();
        assert!(
            format!("{e:#}").contains("/nonexistent/run/ovndb-ha.role.lock"),
            "{e:#}"
        );
    }
}
