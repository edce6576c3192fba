//! Restarting the active copy's database server in place after it crashes — the pure part.
//!
//! A `kill -9` or crash of the ovsdb-server behind the VIP is visible the moment it happens
//! (its pid is gone while its pidfile still names it; a clean stop removes the pidfile).
//! Waiting for Pacemaker's next monitor and a full recovery (stop VIP, demote, stop, start,
//! promote, VIP) costs one to two seconds of write outage; starting the same server again,
//! as active, from the same database file costs a few tens of milliseconds, and the file holds
//! every write the server acknowledged. So the entrypoint's crash watcher restarts it in place
//! while this node holds the VIP, at most [`RestartBudget::MAX`] times per
//! [`RestartBudget::WINDOW`]; past that it reports the failure to Pacemaker, which moves the
//! promoted role as usual. This module decides; `cmd/crash_watch.rs` does the I/O.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The two database servers the agent runs (NB, SB), with the pidfiles it gives them under its
/// default `run_dir` (see `ovn_ha_contract`).
pub fn servers() -> [(&'static str, std::path::PathBuf); 2] {
    ovn_ha_contract::Db::BOTH.map(|db| (db.label(), db.pidfile(ovn_ha_contract::default_run_dir())))
}

/// The marker path for a pidfile: the agent's monitor waits while it exists.
pub fn marker_path(pidfile: &std::path::Path) -> std::path::PathBuf {
    ovn_ha_contract::restarting_marker(pidfile)
}

/// Whether a process state (`/proc/<pid>/stat`'s letter, read with `procfs`) is a living
/// process: not a zombie, not dead.
pub fn state_is_alive(state: char) -> bool {
    !matches!(state, 'Z' | 'X' | 'x')
}

/// The command line that starts the server again as active: the same arguments with
/// `--active` added (with `--sync-from` it would otherwise start as a backup of the VIP, which
/// is itself). `None` when the command line cannot be restarted safely: not an ovsdb-server,
/// not detaching (it would stay our foreground child), or with no database file.
pub fn restart_argv(argv: &[String]) -> Option<Vec<String>> {
    let program = argv.first()?;
    if !program.rsplit('/').next()?.starts_with("ovsdb-server") {
        return None;
    }
    if !argv.iter().any(|a| a == "--detach") {
        return None;
    }
    let db_file = argv.last()?;
    if db_file.starts_with('-') || argv.len() < 2 {
        return None;
    }
    let mut out: Vec<String> = argv[..argv.len() - 1].to_vec();
    if !out.iter().any(|a| a == "--active") {
        out.push("--active".into());
    }
    out.push(db_file.clone());
    Some(out)
}

/// What to do about a server found dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start it again as active, here.
    RestartInPlace,
    /// Tell Pacemaker (`crm_resource --fail`) and let it recover or move the role.
    ReportToPacemaker(String),
    /// Not ours to act on (this node does not hold the VIP: Pacemaker is stopping or moving it,
    /// or this copy is a standby whose failure its monitor reports).
    Leave,
}

/// Decides for one dead server.
pub fn decide(vip_held: bool, budget_left: bool, restartable: bool) -> Action {
    match (vip_held, budget_left, restartable) {
        (false, _, _) => Action::Leave,
        (true, true, true) => Action::RestartInPlace,
        (true, false, _) => Action::ReportToPacemaker(format!(
            "crashed more than {} times within {:?}",
            RestartBudget::MAX,
            RestartBudget::WINDOW
        )),
        (true, true, false) => {
            Action::ReportToPacemaker("its command line cannot be restarted in place".into())
        }
    }
}

/// Sliding-window limit on in-place restarts, so a server that crashes on start (a corrupt
/// file, a full disk) is handed to Pacemaker instead of looping here.
#[derive(Debug, Default)]
pub struct RestartBudget {
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// Restarts allowed per window.
    pub const MAX: usize = 2;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// Whether another restart is allowed at `now`.
    pub fn allows(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Self::WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.len() < Self::MAX
    }

    /// Records a restart at `now`.
    pub fn record(&mut self, now: Instant) {
        self.recent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn restart_command_lines() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "/usr/sbin/ovsdb-server -vconsole:off --pidfile=/var/run/ovn/ovnnb_db.pid --detach --monitor --remote=ptcp:6641 --sync-from=tcp:198.18.0.100:6641 /var/lib/ovn/ovnnb_db.db",
                Some(
                    "/usr/sbin/ovsdb-server -vconsole:off --pidfile=/var/run/ovn/ovnnb_db.pid --detach --monitor --remote=ptcp:6641 --sync-from=tcp:198.18.0.100:6641 --active /var/lib/ovn/ovnnb_db.db",
                ),
            ),
            (
                "ovsdb-server --detach --active /db",
                Some("ovsdb-server --detach --active /db"),
            ),
            ("ovsdb-server --pidfile /db", None),
            ("ovsdb-server --detach", None),
            ("/usr/bin/sleep --detach /db", None),
            ("", None),
        ];
        for (cmd, want) in cases {
            assert_eq!(restart_argv(&args(cmd)), want.map(args), "{cmd}");
        }
    }

    #[test]
    fn zombies_and_dead_processes_are_not_alive() {
        for (state, alive) in [
            ('S', true),
            ('R', true),
            ('D', true),
            ('Z', false),
            ('X', false),
        ] {
            assert_eq!(state_is_alive(state), alive, "{state}");
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(false, true, true), Action::Leave);
        assert_eq!(decide(true, true, true), Action::RestartInPlace);
        assert!(matches!(
            decide(true, false, true),
            Action::ReportToPacemaker(_)
        ));
        assert!(matches!(
            decide(true, true, false),
            Action::ReportToPacemaker(_)
        ));
    }

    #[test]
    fn budget_slides() {
        let mut b = RestartBudget::default();
        let t0 = Instant::now();
        assert!(b.allows(t0));
        b.record(t0);
        assert!(b.allows(t0));
        b.record(t0 + Duration::from_secs(1));
        assert!(!b.allows(t0 + Duration::from_secs(30)));
        assert!(b.allows(t0 + Duration::from_secs(61)));
        assert!(b.allows(t0 + Duration::from_secs(62)));
    }
}
