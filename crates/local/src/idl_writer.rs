//! A persistent OVSDB writer as OVN's daemons are clients: `idl_writer.py` (python-ovs's IDL,
//! Debian's python3-openvswitch, run by `/usr/bin/python3`) keeps one session through the
//! remote with the library's own probes and reconnect backoff and commits a `Logical_Switch`
//! every interval. Its records are the one-shot writer's ([`WriteRecord`]), so the same
//! analysis applies. The child is bounded by its own arguments and killed by pid when stopped.

use crate::writer::WriteRecord;
use nix::time::{ClockId, clock_gettime};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The script, written to a temporary file at start.
const SCRIPT: &str = include_str!("idl_writer.py");
/// Debian's interpreter (python3-openvswitch installs there, not in another python's path).
pub const PYTHON: &str = "/usr/bin/python3";
/// The Northbound schema the IDL loads.
const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

/// A running persistent writer.
#[derive(Debug)]
pub struct IdlWriter {
    child: Child,
    epoch: Instant,
    reader: JoinHandle<(Vec<WriteRecord>, Vec<SessionEvent>)>,
    _dir: tempfile::TempDir,
}

/// A change of the writer's session: dropped or connected, with the reconnect backoff the
/// library then held (1000 ms after losing an established session; 0 when it dropped the
/// session itself, as after the proxy's nudge).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    pub at: Duration,
    pub connected: bool,
    /// The reconnect state machine's state (`ACTIVE`, `BACKOFF`, `CONNECTING`, …).
    pub state: Option<String>,
    pub backoff_ms: Option<u64>,
}

/// A session line of the script, its time made relative to `epoch_ms` (pure).
pub fn parse_session(line: &str, epoch_ms: f64) -> Option<SessionEvent> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let ms = v["session"].as_f64()? - epoch_ms;
    Some(SessionEvent {
        at: Duration::from_secs_f64(ms.max(0.0) / 1000.0),
        connected: v["connected"].as_bool()?,
        state: v["state"].as_str().map(str::to_string),
        backoff_ms: v["backoff"].as_u64(),
    })
}

/// CLOCK_MONOTONIC now, in ms (Python's `time.monotonic` reads the same clock).
pub(crate) fn monotonic_ms() -> f64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 * 1000.0 + t.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// One record from the script's line, its times made relative to `epoch_ms` (pure).
pub fn parse_line(line: &str, epoch_ms: f64) -> Option<WriteRecord> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let at = |k: &str| -> Option<Duration> {
        let ms = v[k].as_f64()? - epoch_ms;
        Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    };
    Some(WriteRecord {
        name: v["name"].as_str()?.to_string(),
        started: at("started")?,
        ended: at("ended")?,
        acked: v["acked"].as_bool()?,
    })
}

/// A started script: its directory (kept as long as the child runs), the child, its stdout.
pub(crate) type Spawned = (tempfile::TempDir, Child, std::process::ChildStdout);

/// Writes `script` to a temporary directory as `file` and runs it with [`PYTHON`] and `args`,
/// stdout piped.
pub(crate) fn spawn_script(file: &str, script: &str, args: &[String]) -> std::io::Result<Spawned> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(file);
    std::fs::File::create(&path)?.write_all(script.as_bytes())?;
    let mut child = Command::new(PYTHON)
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    Ok((dir, child, stdout))
}

impl IdlWriter {
    /// Starts writing `<tag>-<n>` through `remote` every `interval`, at most `max_writes`
    /// times within `max_time`.
    pub fn start(
        remote: &str,
        tag: &str,
        interval: Duration,
        max_writes: u32,
        max_time: Duration,
    ) -> std::io::Result<IdlWriter> {
        let epoch = Instant::now();
        let epoch_ms = monotonic_ms();
        let (dir, child, stdout) = spawn_script(
            "idl_writer.py",
            SCRIPT,
            &[
                remote.to_string(),
                NB_SCHEMA.to_string(),
                tag.to_string(),
                max_writes.to_string(),
                format!("{:.3}", max_time.as_secs_f64()),
                format!("{:.3}", interval.as_secs_f64()),
            ],
        )?;
        let reader = std::thread::spawn(move || {
            let mut writes = Vec::new();
            let mut sessions = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(w) = parse_line(&line, epoch_ms) {
                    writes.push(w);
                } else if let Some(e) = parse_session(&line, epoch_ms) {
                    sessions.push(e);
                }
            }
            (writes, sessions)
        });
        Ok(IdlWriter {
            child,
            epoch,
            reader,
            _dir: dir,
        })
    }

    /// The instant its records count from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Stops the writer (by pid) and returns its records.
    pub fn stop(self) -> Vec<WriteRecord> {
        self.stop_with_sessions().0
    }

    /// Stops the writer (by pid) and returns its records and its session's changes.
    pub fn stop_with_sessions(mut self) -> (Vec<WriteRecord>, Vec<SessionEvent>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lines_become_events_and_are_not_writes() {
        let line =
            r#"{"session": 11000.0, "connected": false, "state": "BACKOFF", "backoff": 1000}"#;
        assert_eq!(parse_line(line, 10000.0), None);
        assert_eq!(
            parse_session(line, 10000.0),
            Some(SessionEvent {
                at: Duration::from_secs(1),
                connected: false,
                state: Some("BACKOFF".into()),
                backoff_ms: Some(1000)
            })
        );
        let write = r#"{"name": "idl-3", "started": 10500.0, "ended": 10750.5, "acked": true}"#;
        assert_eq!(parse_session(write, 10000.0), None);
    }

    #[test]
    fn lines_become_records() {
        let r = parse_line(
            r#"{"name": "idl-3", "started": 10500.0, "ended": 10750.5, "acked": true}"#,
            10000.0,
        )
        .unwrap();
        assert_eq!(r.name, "idl-3");
        assert_eq!(r.started, Duration::from_millis(500));
        assert_eq!(r.ended, Duration::from_micros(750_500));
        assert!(r.acked);
        assert!(parse_line("not json", 0.0).is_none());
        assert!(parse_line(r#"{"name": "x"}"#, 0.0).is_none());
        // A record from before the epoch counts from it.
        assert_eq!(
            parse_line(
                r#"{"name": "y", "started": 5, "ended": 6, "acked": false}"#,
                10.0
            )
            .unwrap()
            .ended,
            Duration::ZERO
        );
    }
}
