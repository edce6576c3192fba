//! An idle OVSDB client session, as ovn-northd's or an ovn-controller's is between changes: it
//! connects to an address from the machine or from inside a test host's network namespace,
//! subscribes to one table (`monitor`), then only answers the server's `echo` requests. It
//! sends no probe of its own, so a session whose server is gone stays open until something
//! resets it. A thread of its own notes when the session ended (reset or closed), within a
//! time limit.

use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Each read's limit, so the thread checks its deadline.
const READ_STEP: Duration = Duration::from_millis(100);

/// A running idle session.
#[derive(Debug)]
pub struct IdleSession {
    handle: JoinHandle<Result<Option<Instant>, String>>,
}

impl IdleSession {
    /// Connects to `addr` (from inside `/run/netns/<netns>` when given), monitors `table` of
    /// `db`, and watches the session for at most `limit`. Errors before the subscription's
    /// reply are returned by [`ended`](Self::ended).
    pub fn open(
        netns: Option<&str>,
        addr: SocketAddr,
        db: &str,
        table: &str,
        limit: Duration,
    ) -> IdleSession {
        let netns = netns.map(|n| std::path::PathBuf::from(format!("/run/netns/{n}")));
        let (db, table) = (db.to_string(), table.to_string());
        let handle = std::thread::spawn(move || {
            if let Some(path) = &netns {
                let file = std::fs::File::open(path).map_err(|e| format!("{path:?}: {e}"))?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {path:?}: {e}"))?;
            }
            watch(addr, &db, &table, Instant::now() + limit)
        });
        IdleSession { handle }
    }

    /// Waits for the thread: when the session ended (`None`: still open at the limit), or why
    /// it could not be set up.
    pub fn ended(self) -> Result<Option<Instant>, String> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err("the session's thread panicked".into()))
    }
}

fn watch(
    addr: SocketAddr,
    db: &str,
    table: &str,
    deadline: Instant,
) -> Result<Option<Instant>, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(READ_STEP))
        .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| e.to_string())?;
    let request = json!({"id": 1, "method": "monitor", "params": [db, "idle", {table: {}}]});
    s.write_all(request.to_string().as_bytes())
        .map_err(|e| format!("monitor request: {e}"))?;
    let mut subscribed = false;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // Bounded by the deadline (each read waits at most READ_STEP).
    while Instant::now() < deadline {
        let n = match s.read(&mut buf) {
            Ok(0) => return ended(subscribed, "closed"),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return ended(subscribed, &e.to_string()),
        };
        pending.extend_from_slice(buf.get(..n).unwrap_or_default());
        let mut values = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = values.next() {
            consumed = values.byte_offset();
            if v["method"] == "echo" {
                let answer = json!({"id": v["id"], "result": v["params"], "error": null});
                if let Err(e) = s.write_all(answer.to_string().as_bytes()) {
                    return ended(subscribed, &e.to_string());
                }
            } else if v["id"] == 1 {
                if !v["error"].is_null() {
                    return Err(format!("monitor {db} {table}: {}", v["error"]));
                }
                subscribed = true;
            }
        }
        pending.drain(..consumed);
    }
    if subscribed {
        Ok(None)
    } else {
        Err(format!("no reply to the monitor request on {addr}"))
    }
}

/// The end of a session: a time once subscribed, an error before.
fn ended(subscribed: bool, how: &str) -> Result<Option<Instant>, String> {
    if subscribed {
        Ok(Some(Instant::now()))
    } else {
        Err(format!(
            "the session ended before its subscription was answered: {how}"
        ))
    }
}
