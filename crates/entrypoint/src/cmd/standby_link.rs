//! The standby-link thread (see `standby_link` for why): every [`POLL`] it checks whether this
//! node holds the VIP (`getifaddrs`) and, if not, lists this host's TCP sockets to each
//! database's replication port at the VIP (sock_diag, established or connecting). When an
//! established link is gone, it takes the role lock without waiting, looks again (no link
//! established or being made), asks the server for its sync-status and, if it is a backup,
//! sends `ovsdb-server/disconnect-active-ovsdb-server` and `connect-active-ovsdb-server` in one
//! pipelined round trip (OVS 3.3 and later ignore a connect alone on a backup). While the
//! database file is behind the image's schema, it first fetches the schema the VIP serves
//! (outside the lock, at most [`FETCH_LIMIT`]) and, if the active converted, converts the
//! backup under the lock instead (`disconnect`, `ovsdb-client convert`, `connect`). The
//! supervisor pauses it before a planned stop.
//! Every failure is logged and the thread goes on: at worst the server reconnects after its
//! own backoff, as it would without this thread.

use super::guard_thread::{Flags, GuardThread};
use super::tcp_diag::Diag;
use super::tickle::held;
use anyhow::Context;
use ovn_ha_contract::{Db, default_run_dir, role_lock};
use ovn_ha_schema::{Version, online, schema_version};
use ovnkube_db_ha::inet_diag::{ESTABLISHED_OR_CONNECTING, Port, TCP_ESTABLISHED};
use ovnkube_db_ha::standby_link::{
    AfterLinkEnd, POLL, Seen, Step, Watch, after_link_end, may_reconnect,
};
use ovnkube_db_ha::tls::{CERT_DIR, TlsFiles};
use ovsdb_unixctl::Client;
use std::fs::{OpenOptions, TryLockError};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Limit of each unixctl call.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest wait for the active's schema after a link ended during an upgrade (the VIP may be
/// moving: then the agent's monitor compares later).
const FETCH_LIMIT: Duration = Duration::from_secs(1);
/// The OVSDB client tool (on the image's `PATH`).
const CLIENT: &str = "ovsdb-client";

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
            match watch.observe(Instant::now(), seen) {
                Step::Reconnect => reconnect(&mut diag, db, vip, port, Seen::Unlinked),
                Step::Redial => reconnect(&mut diag, db, vip, port, Seen::Connecting),
                Step::Wait => {}
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

/// Under the role lock: if `db`'s server's link is still as `still` (none, or only a connect
/// that hangs) and it is a backup, reconnect it — after a link's end converted first to the
/// active's schema if the link ended at the active's conversion.
fn reconnect(diag: &mut Option<Diag>, db: Db, vip: IpAddr, port: u16, still: Seen) {
    let run_dir = default_run_dir();
    // Outside the lock: the fetch may wait for a VIP that is moving, and a promotion here
    // must not wait for it.
    let since = Instant::now();
    let plan = (still == Seen::Unlinked)
        .then(|| schema_plan(db, run_dir))
        .flatten();
    let fetched = since.elapsed();
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
    if !linked(diag, vip, port).is_ok_and(|seen| seen == still) {
        return;
    }
    let outcome = Client::connect(db.ctl(run_dir), CALL_TIMEOUT)
        .map_err(anyhow::Error::from)
        .and_then(|mut c| {
            let status = c.sync_status()?;
            let role = status.get(db.schema_name()).map(|s| s.role.clone());
            if !role.as_ref().is_some_and(may_reconnect) {
                return Ok(Done::Nothing);
            }
            match &plan {
                Some((AfterLinkEnd::Convert { from, to }, schema)) => {
                    convert(&mut c, db, run_dir, schema)?;
                    Ok(Done::Converted(*from, *to))
                }
                _ => {
                    c.reconnect_active()?;
                    Ok(Done::Reconnected)
                }
            }
        });
    drop(lock);
    match outcome {
        Ok(Done::Reconnected) if still == Seen::Connecting => log(format!(
            "{}: the connect to {vip}:{port} got no answer in time; dialled again",
            db.label()
        )),
        Ok(Done::Reconnected) => log(format!(
            "{}: the replication link to {vip}:{port} ended; reconnected at once",
            db.label()
        )),
        Ok(Done::Converted(from, to)) => log(format!(
            "{}: the replication link to {vip}:{port} ended at the active's conversion; \
             converted from schema {from} to its {to} and reconnected ({} ms, {} ms of them \
             for the active's schema)",
            db.label(),
            since.elapsed().as_millis(),
            fetched.as_millis()
        )),
        Ok(Done::Nothing) => {}
        Err(e) => log(format!(
            "{}: the replication link to {vip}:{port} ended; reconnect failed: {e:#}",
            db.label()
        )),
    }
}

/// What [`reconnect`] did.
enum Done {
    Nothing,
    Reconnected,
    Converted(Version, Version),
}

/// While `db`'s file is behind the image's schema (an upgrade is under way): what the ended
/// link calls for ([`after_link_end`]), with the active's schema written where a conversion
/// reads it. `None` (reconnect as usual) otherwise, and on any failure, logged.
fn schema_plan(db: Db, run_dir: &Path) -> Option<(AfterLinkEnd, PathBuf)> {
    let (file, image) = (Path::new(db.default_file()), Path::new(db.image_schema()));
    let (file_at, image_at) = online::behind_image_at(file, image)?;
    let step = || -> anyhow::Result<Option<(AfterLinkEnd, PathBuf)>> {
        let Some(target) = Client::connect(db.ctl(run_dir), CALL_TIMEOUT)?
            .sync_status()?
            .get(db.schema_name())
            .and_then(|s| s.target().map(str::to_owned))
        else {
            // Active (promoted here): nothing to follow.
            return Ok(None);
        };
        let tls = TlsFiles::in_dir(Path::new(CERT_DIR), db);
        let theirs = online::active_schema(
            Path::new(CLIENT),
            Some(online::TlsFiles {
                private_key: &tls.private_key,
                certificate: &tls.certificate,
                ca_cert: &tls.ca_cert,
            }),
            &target,
            db.schema_name(),
            FETCH_LIMIT,
        );
        let active = theirs.as_ref().ok().and_then(|t| schema_version(t).ok());
        let plan = after_link_end(file_at, image_at, active);
        let path = db.active_schema(run_dir);
        if let (AfterLinkEnd::Convert { .. }, Ok(text)) = (plan, theirs) {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Some((plan, path)))
    };
    step()
        .inspect_err(|e| {
            log(format!(
                "{}: the replication link ended during an upgrade; its schema is not compared \
                 with the active's ({e:#}); the agent's monitor will",
                db.label()
            ));
        })
        .ok()
        .flatten()
}

/// Converts the backup `c` controls to the schema in `schema`: active first (ovsdb-server
/// converts no backup; no client reaches a standby's server), then a backup of the same
/// target again whether or not the conversion worked.
fn convert(c: &mut Client, db: Db, run_dir: &Path, schema: &Path) -> anyhow::Result<()> {
    c.disconnect_active()?;
    let converted = online::convert_running(
        Path::new(CLIENT),
        Path::new(db.default_file()),
        &db.sock(run_dir),
        schema,
    );
    c.connect_active()?;
    Ok(converted?)
}
