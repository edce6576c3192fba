//! The thin, synchronous socket layer: one `UnixStream` per server, bounded by a timeout on
//! every call, requests pipelined and replies matched by id.

use crate::commands::{Command, check_result};
use crate::error::{Error, ProtocolError};
use crate::sync_status::SyncStatus;
use crate::wire::{ReplyDecoder, encode_request};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A connection to one ovsdb-server control socket.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: UnixStream,
    decoder: ReplyDecoder,
    next_id: u64,
    timeout: Duration,
}

/// A request that was sent and whose reply has not been read yet.
#[derive(Debug)]
#[must_use = "read the reply with Client::receive"]
pub struct Pending {
    id: u64,
    method: &'static str,
    command: PendingKind,
}

#[derive(Debug, Clone)]
enum PendingKind {
    Text,
    Silent(&'static str),
}

impl Client {
    /// Connects to the control socket at `path`; every later call waits at most `timeout`.
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).map_err(|source| Error::Connect {
            path: path.clone(),
            source,
        })?;
        let timeout = timeout.max(Duration::from_millis(1));
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            stream,
            decoder: ReplyDecoder::new(),
            next_id: 0,
            timeout,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request without waiting for its reply (pipelining).
    pub fn send(&mut self, command: &Command<'_>) -> Result<Pending, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = encode_request(command.method(), &command.params(), id);
        self.stream.write_all(&bytes).map_err(|e| self.io(e))?;
        let kind = match command {
            Command::SyncStatus | Command::ListRemotes => PendingKind::Text,
            other => PendingKind::Silent(other.method()),
        };
        Ok(Pending {
            id,
            method: command.method(),
            command: kind,
        })
    }

    /// Reads the reply to `pending` (replies come in request order) and judges it.
    pub fn receive(&mut self, pending: Pending) -> Result<String, Error> {
        self.receive_or_wait_more(pending, || None)
    }

    /// [`receive`](Self::receive), but each time the wait runs out `more` may grant more
    /// (e.g. while the server is busy rather than stuck); `None` ends it with
    /// [`Error::Timeout`].
    pub fn receive_or_wait_more(
        &mut self,
        pending: Pending,
        mut more: impl FnMut() -> Option<Duration>,
    ) -> Result<String, Error> {
        let mut deadline = Instant::now() + self.timeout;
        let reply = loop {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => break reply,
                Ok(None) => {}
                Err(source) => return Err(self.protocol(source)),
            }
            let mut left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                match more() {
                    Some(extra) if !extra.is_zero() => {
                        deadline = Instant::now() + extra;
                        left = extra;
                    }
                    _ => return Err(self.timed_out()),
                }
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(e))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(Error::Closed {
                        path: self.path.clone(),
                    });
                }
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        };
        if reply.id != pending.id {
            return Err(self.protocol(ProtocolError::IdMismatch {
                expected: pending.id,
                got: reply.id,
            }));
        }
        match reply.outcome {
            Err(message) => Err(Error::Server {
                method: pending.method.to_owned(),
                message: message.trim().to_owned(),
            }),
            Ok(text) => match pending.command {
                PendingKind::Text => Ok(text),
                PendingKind::Silent(method) => {
                    check_result(&silent_command(method), &text).map(|_| String::new())
                }
            },
        }
    }

    /// Sends one request and waits for its judged reply.
    pub fn call(&mut self, command: &Command<'_>) -> Result<String, Error> {
        let pending = self.send(command)?;
        self.receive(pending)
    }

    /// Sends every request first, then reads every reply. The outer error is a transport
    /// failure; inner errors are per-command replies.
    pub fn pipeline(
        &mut self,
        commands: &[Command<'_>],
    ) -> Result<Vec<Result<String, Error>>, Error> {
        let pending = commands
            .iter()
            .map(|c| self.send(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            match self.receive(p) {
                Ok(text) => out.push(Ok(text)),
                Err(e @ (Error::Server { .. } | Error::ReportedFailure { .. })) => out.push(Err(e)),
                Err(transport) => return Err(transport),
            }
        }
        Ok(out)
    }

    /// `ovsdb-server/sync-status`, parsed.
    pub fn sync_status(&mut self) -> Result<SyncStatus, Error> {
        let text = self.call(&Command::SyncStatus)?;
        Ok(SyncStatus::parse(&text)?)
    }

    /// Stores `target` as the active server (does not connect).
    pub fn set_active(&mut self, target: &str) -> Result<(), Error> {
        self.call(&Command::SetActive(target)).map(|_| ())
    }

    /// Makes this server a backup of the stored target. Fails with
    /// [`Error::ReportedFailure`] when no target is stored (the server says so in a
    /// "success" reply).
    pub fn connect_active(&mut self) -> Result<(), Error> {
        self.call(&Command::ConnectActive).map(|_| ())
    }

    /// Stores `target` as the active server and makes this server its backup.
    pub fn follow(&mut self, target: &str) -> Result<(), Error> {
        for r in self.pipeline(&[Command::SetActive(target), Command::ConnectActive])? {
            r?;
        }
        Ok(())
    }

    /// Stores `target` and opens a fresh replication session to it, in one pipelined round
    /// trip (set, disconnect, connect): on a backup already following `target`, OVS 3.3 and
    /// later ignore a connect alone, and the old session (to a copy that was just demoted and
    /// still runs, or to a lost host) would stay.
    pub fn refollow(&mut self, target: &str) -> Result<(), Error> {
        let calls = [
            Command::SetActive(target),
            Command::DisconnectActive,
            Command::ConnectActive,
        ];
        for r in self.pipeline(&calls)? {
            r?;
        }
        Ok(())
    }

    /// Ends this backup's replication session and opens a fresh one to the stored target, in
    /// one pipelined round trip (disconnect, then connect). OVS 3.3 and later ignore a connect
    /// on a database that is already a backup, so a connect alone no longer ends a reconnect
    /// backoff there; between the two requests the database is active.
    pub fn reconnect_active(&mut self) -> Result<(), Error> {
        for r in self.pipeline(&[Command::DisconnectActive, Command::ConnectActive])? {
            r?;
        }
        Ok(())
    }

    /// Makes this server active.
    pub fn disconnect_active(&mut self) -> Result<(), Error> {
        self.call(&Command::DisconnectActive).map(|_| ())
    }

    /// Sets the probe interval (ms) of the connection to the active server.
    pub fn set_active_probe_interval(&mut self, millis: u64) -> Result<(), Error> {
        let ms = millis.to_string();
        self.call(&Command::SetActiveProbeInterval(&ms)).map(|_| ())
    }

    /// Asks the server to exit.
    pub fn exit(&mut self) -> Result<(), Error> {
        self.call(&Command::Exit).map(|_| ())
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn protocol(&self, source: ProtocolError) -> Error {
        Error::Protocol {
            path: self.path.clone(),
            source,
        }
    }

    fn timed_out(&self) -> Error {
        Error::Timeout {
            path: self.path.clone(),
            waited: self.timeout,
        }
    }
}

/// A parameter-less stand-in with the same method name, for judging a silent reply.
fn silent_command(method: &'static str) -> Command<'static> {
    match method {
        "ovsdb-server/set-active-ovsdb-server" => Command::SetActive(""),
        "ovsdb-server/connect-active-ovsdb-server" => Command::ConnectActive,
        "ovsdb-server/disconnect-active-ovsdb-server" => Command::DisconnectActive,
        "ovsdb-server/set-active-ovsdb-server-probe-interval" => {
            Command::SetActiveProbeInterval("")
        }
        "ovsdb-server/add-remote" => Command::AddRemote(""),
        "ovsdb-server/remove-remote" => Command::RemoveRemote(""),
        _ => Command::Exit,
    }
}

#[cfg(test)]
mod tests {
    //! Socket-level tests against a scripted peer on a socketpair-like listener: the wire
    //! shape, pipelining, timeouts and the "closed before reply" case.
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread;

    type Served = (tempfile_dir::Dir, PathBuf, thread::JoinHandle<Vec<u8>>);

    fn serve(replies: &'static [&'static str], expect_requests: usize) -> Served {
        let dir = tempfile_dir::Dir::new();
        let path = dir.path().join("ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            // Read until we saw the expected number of complete requests.
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let count = serde_json::Deserializer::from_slice(&got)
                    .into_iter::<serde_json::Value>()
                    .take_while(Result::is_ok)
                    .count();
                if count >= expect_requests {
                    break;
                }
            }
            for r in replies {
                // Split each reply in two writes to exercise reassembly.
                let (a, b) = r.split_at(r.len() / 2);
                s.write_all(a.as_bytes()).unwrap();
                s.flush().unwrap();
                s.write_all(b.as_bytes()).unwrap();
            }
            got
        });
        (dir, path, handle)
    }

    /// A tiny temporary directory helper (no extra dependency).
    mod tempfile_dir {
        use std::path::{Path, PathBuf};
        #[derive(Debug)]
        pub struct Dir(PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "ovsdb-unixctl-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn pipelined_calls_match_replies_in_order() {
        let (_d, path, h) = serve(
            &[
                r#"{"id":0,"result":"state: backup\nreplicating: tcp:192.0.2.1:6641\n","error":null}"#,
                r#"{"id":1,"result":"","error":null}"#,
                r#"{"id":2,"result":"Unable to connect: active server is not specified.\n","error":null}"#,
                r#"{"id":3,"error":"\"bogus\" is not a valid command"}"#,
            ],
            4,
        );
        let mut c = Client::connect(&path, Duration::from_secs(5)).unwrap();
        let out = c
            .pipeline(&[
                Command::SyncStatus,
                Command::SetActive("tcp:192.0.2.1:6641"),
                Command::ConnectActive,
                Command::Exit,
            ])
            .unwrap();
        let sent = String::from_utf8(h.join().unwrap()).unwrap();
        assert_eq!(
            sent,
            concat!(
                r#"{"method":"ovsdb-server/sync-status","params":[],"id":0}"#,
                r#"{"method":"ovsdb-server/set-active-ovsdb-server","params":["tcp:192.0.2.1:6641"],"id":1}"#,
                r#"{"method":"ovsdb-server/connect-active-ovsdb-server","params":[],"id":2}"#,
                r#"{"method":"exit","params":[],"id":3}"#
            )
        );
        let status = SyncStatus::parse(out[0].as_ref().unwrap()).unwrap();
        assert!(status.databases[0].is_replicating());
        assert_eq!(out[1].as_ref().unwrap(), "");
        assert!(matches!(out[2], Err(Error::ReportedFailure { .. })));
        assert!(matches!(&out[3], Err(Error::Server { message, .. }) if message.contains("bogus")));
    }

    #[test]
    fn timeout_is_bounded() {
        let dir = tempfile_dir::Dir::new();
        let path = dir.path().join("ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let mut c = Client::connect(&path, Duration::from_millis(100)).unwrap();
        let start = Instant::now();
        let err = c.sync_status().unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn a_late_reply_is_read_while_more_time_is_granted() {
        let dir = tempfile_dir::Dir::new();
        let path = dir.path().join("ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let h = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            thread::sleep(Duration::from_millis(400));
            let _ = s.write_all(br#"{"id":0,"result":"state: active\n","error":null}"#);
            thread::sleep(Duration::from_millis(200));
        });
        let mut c = Client::connect(&path, Duration::from_millis(100)).unwrap();
        let p = c.send(&Command::SyncStatus).unwrap();
        let mut grants = 0;
        let text = c
            .receive_or_wait_more(p, || {
                grants += 1;
                (grants <= 10).then_some(Duration::from_millis(100))
            })
            .unwrap();
        assert_eq!(text, "state: active\n");
        assert!((3..=10).contains(&grants), "{grants}");
        h.join().unwrap();

        // Without a grant the same wait ends at the timeout.
        let listener = UnixListener::bind(dir.path().join("ctl2")).unwrap();
        let mut c = Client::connect(dir.path().join("ctl2"), Duration::from_millis(100)).unwrap();
        let p = c.send(&Command::SyncStatus).unwrap();
        let err = c.receive_or_wait_more(p, || None).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        drop(listener);
    }

    #[test]
    fn closed_before_reply() {
        let (_d, path, h) = serve(&[], 1);
        let mut c = Client::connect(&path, Duration::from_secs(5)).unwrap();
        let p = c.send(&Command::SyncStatus).unwrap();
        h.join().unwrap();
        assert!(matches!(c.receive(p), Err(Error::Closed { .. })));
    }

    #[test]
    fn id_mismatch_is_a_protocol_error() {
        let (_d, path, _h) = serve(&[r#"{"id":9,"result":"","error":null}"#], 1);
        let mut c = Client::connect(&path, Duration::from_secs(5)).unwrap();
        let err = c.disconnect_active().unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol {
                source: ProtocolError::IdMismatch {
                    expected: 0,
                    got: 9
                },
                ..
            }
        ));
    }

    #[test]
    fn connect_to_missing_socket_fails() {
        let err = Client::connect("/nonexistent/ovsdb-unixctl.ctl", Duration::from_millis(10))
            .unwrap_err();
        assert!(matches!(err, Error::Connect { .. }));
    }
}
