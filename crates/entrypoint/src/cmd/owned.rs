//! Children that the entrypoint's threads spawn and wait for themselves (`ip`, `crm_attribute`,
//! `crm_resource`, `corosync-quorumtool`, a restarted server's launcher). The supervisor reaps
//! every other exited child — adopted orphans, corosync, pacemakerd — but never one of these:
//! a reaper that took their exit status would make the thread that waits for it see "no child"
//! (a stolen status once read as "VIP not held", so a crash went unhandled). The registry's lock
//! is held from before the fork until the pid is recorded, and while the reaper chooses, so no
//! owned child can be reaped in between.

use std::collections::BTreeSet;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

static OWNED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn registry() -> MutexGuard<'static, BTreeSet<i32>> {
    OWNED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spawns `cmd` as an owned child; call [`release`] once it has been waited for.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    start(|| cmd.spawn(), |child| vec![child.id()])
}

/// Starts children with `start` (a `duct` expression's `start`, say) as owned children: `pids`
/// names the ones it started, recorded before the registry is unlocked. Call [`release`] for
/// each once it has been waited for.
pub fn start<T>(
    start: impl FnOnce() -> std::io::Result<T>,
    pids: impl FnOnce(&T) -> Vec<u32>,
) -> std::io::Result<T> {
    let mut owned = registry();
    let started = start()?;
    owned.extend(
        pids(&started)
            .into_iter()
            .filter_map(|p| i32::try_from(p).ok()),
    );
    Ok(started)
}

/// The registry as `ovn-ha-exec` takes it: `Exec::owned_by(&OWNER)`.
pub static OWNER: Registry = Registry;

/// See [`OWNER`].
#[derive(Debug)]
pub struct Registry;

impl ovn_ha_exec::Owner for Registry {
    fn start(&self, start: &mut dyn FnMut() -> std::io::Result<Vec<u32>>) -> std::io::Result<()> {
        self::start(start, |pids| pids.clone()).map(|_| ())
    }

    fn release(&self, pid: u32) {
        release(pid);
    }
}

/// Forgets a child that has been waited for.
pub fn release(child_id: u32) {
    if let Ok(pid) = i32::try_from(child_id) {
        registry().remove(&pid);
    }
}

/// `Command::output` for an owned child.
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    let child = spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?;
    let id = child.id();
    let out = child.wait_with_output();
    release(id);
    out
}

/// `Command::status` for an owned child.
pub fn status(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    let mut child = spawn(cmd.stdin(Stdio::null()))?;
    let status = child.wait();
    release(child.id());
    status
}

/// Runs `f` with the owned pids, the registry locked (no owned child is spawned meanwhile).
pub fn while_locked<R>(f: impl FnOnce(&BTreeSet<i32>) -> R) -> R {
    f(&registry())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_children_are_registered_until_released() {
        let mut child = spawn(Command::new("true").stdin(Stdio::null())).unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        assert!(while_locked(|o| o.contains(&pid)));
        child.wait().unwrap();
        release(child.id());
        assert!(!while_locked(|o| o.contains(&pid)));
        assert!(output(&mut Command::new("true")).unwrap().status.success());
        assert!(status(&mut Command::new("false")).is_ok_and(|s| !s.success()));
    }
}
