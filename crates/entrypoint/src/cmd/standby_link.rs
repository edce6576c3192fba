//! The standby-link thread (see `standby_link` for why): every [`POLL`] it checks whether this
//! node holds the VIP (`getifaddrs`) and, if not, lists this host's TCP sockets to each
//! database's replication port at the VIP (sock_diag, established or connecting). When an
//! established link is gone, it takes the role lock without waiting, looks again (no link
//! established or being made), asks the server for its sync-status and, if it is a backup,
//! sends `ovsdb-server/disconnect-active-ovsdb-server` and `connect-active-ovsdb-server` in one
//! pipelined round trip (OVS 3.3 and later ignore a connect alone on a backup). The supervisor
//! pauses it before a planned stop.
//! Every failure is logged and the thread goes on: at worst the server reconnects after its
//! own backoff, as it would without this thread.

use super::guard_thread::{Flags, GuardThread};
use super::tcp_diag::Diag;
use super::tickle::held;
use ovn_ha_contract::{Db, default_run_dir, role_lock};
use ovnkube_db_ha::inet_diag::{ESTABLISHED_OR_CONNECTING, Port, TCP_ESTABLISHED};
use ovnkube_db_ha::standby_link::{POLL, Seen, Step, Watch, may_reconnect};
use ovsdb_unixctl::Client;
use std::fs::{OpenOptions, TryLockError};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limit of each unixctl call.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

ovnkube_db_ha::log_part!("standby link");

/// The running thread.
pub struct StandbyLinkWatch(GuardThread);

impl StandbyLinkWatch {
    /// Starts watching the links to `vip`'s replication ports `ports` (NB, SB).
    pub fn start(vip: IpAddr, ports: [u16; 2]) -> Self {
        StandbyLinkWatch(GuardThread::spawn("standby-link", log, move |f| {
            run(vip, ports, f)
        }))
    }

    /// Stops acting (a planned stop is coming); idempotent.
    pub fn pause(&self) {
        self.0.pause();
    }
}

fn run(vip: IpAddr, ports: [u16; 2], flags: &Flags) {
    let mut diag: Option<Diag> = None;
    let mut watches = [Watch::default(), Watch::default()];
    // Per database: its last listing failed (logged once until one works again).
    let mut failing = [false, false];
    while !flags.quit() {
        std::thread::sleep(POLL);
        if !flags.active() {
            continue;
        }
        let holds = held(vip);
        for (((db, port), watch), failing) in Db::BOTH
            .into_iter()
            .zip(ports)
            .zip(&mut watches)
            .zip(&mut failing)
        {
            let seen = if holds {
                Seen::HoldsVip
            } else {
                match linked(&mut diag, vip, port) {
                    Ok(seen) => seen,
                    Err(e) => {
                        if !std::mem::replace(failing, true) {
                            log(format!("cannot list the links to {vip}:{port}: {e}"));
                        }
                        continue;
                    }
                }
            };
            *failing = false;
            if watch.observe(Instant::now(), seen) == Step::Reconnect {
                reconnect(&mut diag, db, vip, port);
            }
        }
    }
}

/// This host's link to `vip:port`: established, only being made, or none.
fn linked(diag: &mut Option<Diag>, vip: IpAddr, port: u16) -> std::io::Result<Seen> {
    let d = match diag {
        Some(d) => d,
        None => diag.insert(Diag::open()?),
    };
    let conns = d.sockets(Port::Remote(port), ESTABLISHED_OR_CONNECTING)?;
    let mut to_vip = conns.iter().filter(|c| c.remote.ip() == vip).peekable();
    Ok(if to_vip.peek().is_none() {
        Seen::Unlinked
    } else if to_vip.any(|c| c.state == TCP_ESTABLISHED) {
        Seen::Established
    } else {
        Seen::Connecting
    })
}

/// Under the role lock: if `db`'s server still has no link and is a backup, reconnect it.
fn reconnect(diag: &mut Option<Diag>, db: Db, vip: IpAddr, port: u16) {
    let run_dir = default_run_dir();
    let lock_path = role_lock(run_dir);
    let lock = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            log(format!(
                "{}: cannot open {}: {e}",
                db.label(),
                lock_path.display()
            ));
            return;
        }
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            log(format!(
                "{}: the replication link to {vip}:{port} ended while the agent changes roles; \
                 left to the server",
                db.label()
            ));
            return;
        }
        Err(TryLockError::Error(e)) => {
            log(format!(
                "{}: cannot lock {}: {e}",
                db.label(),
                lock_path.display()
            ));
            return;
        }
    }
    // The agent may have re-pointed the server meanwhile (it holds the lock only to promote).
    if !matches!(linked(diag, vip, port), Ok(Seen::Unlinked)) {
        return;
    }
    let outcome = Client::connect(db.ctl(run_dir), CALL_TIMEOUT).and_then(|mut c| {
        let status = c.sync_status()?;
        let role = status.get(db.schema_name()).map(|s| s.role.clone());
        if role.as_ref().is_some_and(may_reconnect) {
            c.reconnect_active()?;
            Ok(true)
        } else {
            Ok(false)
        }
    });
    drop(lock);
    match outcome {
        Ok(true) => log(format!(
            "{}: the replication link to {vip}:{port} ended; reconnected at once",
            db.label()
        )),
        Ok(false) => {}
        Err(e) => log(format!(
            "{}: the replication link to {vip}:{port} ended; reconnect failed: {e}",
            db.label()
        )),
    }
}
