//! What the two servers are doing right now: pid files plus one pipelined `sync-status` per
//! control socket (no process spawned), and the pure classification of the pair.

use crate::busy::Patience;
use crate::layout::DbLayout;
use crate::procs;
use ovsdb_unixctl::{Client, Command, DbSyncStatus, Link, SyncStatus};
use std::time::{Duration, Instant};

/// How much longer a busy server is waited for at a time.
const PATIENCE_STEP: Duration = Duration::from_millis(250);

/// Program name of the servers (as in /proc/PID/comm).
pub const SERVER_COMM: &str = "ovsdb-server";

/// One server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No live process behind the pid file.
    Stopped,
    /// Running and answering.
    Running {
        /// Daemon pid.
        pid: i32,
        /// Its sync status for our database.
        status: DbSyncStatus,
    },
    /// Running but its control socket does not answer sensibly.
    Unresponsive {
        /// Daemon pid.
        pid: i32,
        /// What went wrong.
        error: String,
        /// It kept running on the CPU until the look's limit ([`crate::busy`]): busy, not
        /// stuck.
        busy: bool,
    },
}

impl DbState {
    /// Active and answering.
    pub fn is_active(&self) -> bool {
        matches!(self, DbState::Running { status, .. } if status.is_active())
    }

    /// The backup link, if a backup.
    pub fn link(&self) -> Option<Link> {
        match self {
            DbState::Running { status, .. } => status.link(),
            _ => None,
        }
    }

    /// The TCP address a backup that says `replicating` should be connected to (`None` for
    /// active servers, other links and unix targets).
    fn replicating_tcp(&self) -> Option<(i32, std::net::SocketAddr)> {
        match self {
            DbState::Running { pid, status } if status.link() == Some(Link::Replicating) => {
                Some((*pid, crate::tcp::parse_tcp_target(status.target()?)?))
            }
            _ => None,
        }
    }

    /// The target a backup follows.
    pub fn target(&self) -> Option<&str> {
        match self {
            DbState::Running { status, .. } => status.target(),
            _ => None,
        }
    }
}

/// The pair, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pair {
    /// Both stopped.
    Stopped,
    /// Both active.
    Active,
    /// Both backups.
    Backup,
    /// Both running, one active and one backup.
    Mixed,
    /// One running, one stopped.
    Partial,
    /// A server runs but does not answer.
    Unresponsive(String),
}

/// Classifies the two states (pure).
pub fn classify(nb: &DbState, sb: &DbState) -> Pair {
    use DbState::*;
    match (nb, sb) {
        (Unresponsive { error, .. }, _) | (_, Unresponsive { error, .. }) => {
            Pair::Unresponsive(error.clone())
        }
        (Stopped, Stopped) => Pair::Stopped,
        (Stopped, _) | (_, Stopped) => Pair::Partial,
        _ if nb.is_active() && sb.is_active() => Pair::Active,
        _ if !nb.is_active() && !sb.is_active() => Pair::Backup,
        _ => Pair::Mixed,
    }
}

/// Whether the only trouble in `states` is servers that were busy (every server runs, at
/// least one did not answer because it was busy, none is stuck) (pure).
pub fn only_busy(states: &[DbState]) -> bool {
    use DbState::*;
    states
        .iter()
        .all(|s| matches!(s, Running { .. } | Unresponsive { busy: true, .. }))
        && states
            .iter()
            .any(|s| matches!(s, Unresponsive { busy: true, .. }))
}

/// For each state: a backup that says `replicating` and, for TCP/SSL targets, still holds
/// an established connection to its target. ovsdb-server 3.1 keeps saying `replicating`
/// after the connection dropped, until it reconnects.
pub fn really_replicating(states: &[DbState]) -> Vec<bool> {
    let pairs: Vec<(usize, (i32, std::net::SocketAddr))> = states
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.replicating_tcp().map(|p| (i, p)))
        .collect();
    let up = crate::tcp::connected(&pairs.iter().map(|(_, p)| *p).collect::<Vec<_>>());
    states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.link() != Some(Link::Replicating) {
                return false;
            }
            match pairs.iter().position(|(j, _)| *j == i) {
                Some(k) => up[k] != Some(false),
                None => true,
            }
        })
        .collect()
}

/// Looks at both servers: pid files, then both control sockets in parallel. A server that
/// has not answered within `timeout` but keeps running on the CPU is waited for until
/// `patience` after the start (busy, not stuck: [`crate::busy`]).
pub fn observe(layouts: &[DbLayout; 2], timeout: Duration, patience: Duration) -> [DbState; 2] {
    let deadline = Instant::now() + patience.max(timeout);
    let pids = layouts
        .each_ref()
        .map(|l| procs::read_pidfile(&l.pidfile).filter(|p| procs::is_running(*p, SERVER_COMM)));
    // Connect and send to both before reading either.
    type Sent = (Client, ovsdb_unixctl::Pending, Patience);
    let mut sent: Vec<Option<Result<Sent, String>>> = Vec::new();
    for (l, pid) in layouts.iter().zip(pids) {
        sent.push(pid.map(|pid| {
            let mut c = Client::connect(&l.ctl, timeout).map_err(|e| e.to_string())?;
            let p = c.send(&Command::SyncStatus).map_err(|e| e.to_string())?;
            Ok((c, p, Patience::new(pid, deadline, PATIENCE_STEP)))
        }));
    }
    let mut out = [DbState::Stopped, DbState::Stopped];
    for (i, s) in sent.into_iter().enumerate() {
        let (Some(pid), Some(s)) = (pids[i], s) else {
            continue;
        };
        let reply = s
            .map_err(|e| (e, false))
            .and_then(|(mut c, p, mut patience)| {
                let reply = c.receive_or_wait_more(p, || patience.more());
                reply.map_err(|e| match patience.extended {
                    true => (format!("{e}, busy until the look's limit"), true),
                    false => (e.to_string(), false),
                })
            });
        out[i] = match reply {
            Err((error, busy)) => DbState::Unresponsive { pid, error, busy },
            Ok(text) => interpret(pid, &layouts[i], &text),
        };
    }
    out
}

/// Turns one sync-status text into a state (pure).
pub fn interpret(pid: i32, l: &DbLayout, text: &str) -> DbState {
    match SyncStatus::parse(text) {
        Err(e) => DbState::Unresponsive {
            pid,
            error: format!("{}: {e}", l.ctl.display()),
            busy: false,
        },
        Ok(s) => match s.get(l.db.schema_name()) {
            Some(status) => DbState::Running {
                pid,
                status: status.clone(),
            },
            None => DbState::Unresponsive {
                pid,
                error: format!(
                    "{}: sync-status does not mention {}",
                    l.ctl.display(),
                    l.db.schema_name()
                ),
                busy: false,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::params::Params;

    fn layouts() -> [DbLayout; 2] {
        let p =
            Params::from_env(&Env::from_pairs([("OCF_RESKEY_master_ip", "192.0.2.10")])).unwrap();
        DbLayout::both(&p)
    }

    fn st(text: &str, which: usize) -> DbState {
        interpret(100 + which as i32, &layouts()[which], text)
    }

    #[test]
    fn only_busy_servers_is_not_a_stopped_or_stuck_one() {
        let running = st("state: active\n", 0);
        let u = |busy| DbState::Unresponsive {
            pid: 5,
            error: "timeout".into(),
            busy,
        };
        assert!(only_busy(&[running.clone(), u(true)]));
        assert!(only_busy(&[u(true), u(true)]));
        assert!(!only_busy(&[running.clone(), running.clone()]));
        assert!(!only_busy(&[u(true), u(false)]));
        assert!(!only_busy(&[DbState::Stopped, u(true)]));
    }

    #[test]
    fn classification_table() {
        let active = |i| st("state: active\n", i);
        let repl = |i| st("state: backup\nreplicating: tcp:192.0.2.10:6641\n", i);
        let conn = |i| st("state: backup\nconnecting: tcp:192.0.2.10:6641", i);
        let stopped = DbState::Stopped;
        let dead = DbState::Unresponsive {
            pid: 5,
            error: "timeout".into(),
            busy: false,
        };
        let cases = vec![
            (stopped.clone(), stopped.clone(), Pair::Stopped),
            (active(0), active(1), Pair::Active),
            (repl(0), conn(1), Pair::Backup),
            (active(0), repl(1), Pair::Mixed),
            (conn(0), active(1), Pair::Mixed),
            (active(0), stopped.clone(), Pair::Partial),
            (stopped.clone(), repl(1), Pair::Partial),
            (
                dead.clone(),
                active(1),
                Pair::Unresponsive("timeout".into()),
            ),
            (stopped, dead, Pair::Unresponsive("timeout".into())),
        ];
        for (nb, sb, want) in cases {
            assert_eq!(classify(&nb, &sb), want, "{nb:?} {sb:?}");
        }
    }

    #[test]
    fn per_database_output_is_matched_by_name() {
        let text = "database: OVN_Southbound\nstate: active\n\ndatabase: OVN_Northbound\nstate: backup\nreplicating: tcp:192.0.2.10:6641\n";
        assert_eq!(st(text, 0).link(), Some(Link::Replicating));
        assert!(st(text, 1).is_active());
        let other = "database: Other\nstate: active\n";
        assert!(matches!(st(other, 0), DbState::Unresponsive { .. }));
        assert!(matches!(st("", 0), DbState::Unresponsive { .. }));
        assert_eq!(st(text, 0).target(), Some("tcp:192.0.2.10:6641"));
        assert!(matches!(st(text, 0), DbState::Running { pid: 100, .. }));
    }
}
