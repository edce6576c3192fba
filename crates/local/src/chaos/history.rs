//! The chaos run's history: what the recorder saw, one JSON object per line, every time in
//! milliseconds since the run's epoch. Pure encoding and decoding; the runner writes it, the
//! checker reads it, and a history file can be checked again later
//! (`check::check(&history::decode(&text)?, …)`).
//!
//! Events: the run's header; each write operation (writer, where it ran, the switch name,
//! start, end, acknowledged); each 20 ms writability sample (which hosts take writes for NB
//! and for SB, seen from inside each host); the servers' roles sampled while waiting for
//! convergence; each fault's start (kind, victim) and end (recovery done); notes; each name a
//! reader saw through the VIP for the first time; and what the VIP held at the end.

use super::schedule::{Db, FaultKind};
use serde::{Deserialize, Serialize};

/// A database copy's role as sampled (`observe::Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Active,
    Replicating,
    Lagging,
    Down,
}

/// One host's two copies at one roles sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoles {
    pub host: String,
    pub nb: Role,
    pub sb: Role,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The header: what ran.
    Run {
        seed: u64,
        faults: usize,
        hosts: Vec<String>,
    },
    /// One write: `ovn-nbctl ls-add NAME` (NB), or an `Address_Set` row NAME inserted over a
    /// persistent OVSDB session (SB); `host` is the network namespace it ran in (`None`: the
    /// machine).
    Op {
        writer: String,
        db: Db,
        host: Option<String>,
        name: String,
        start_ms: u64,
        end_ms: u64,
        acked: bool,
    },
    /// One writability sample: the hosts whose NB (SB) copy takes writes.
    Writable {
        at_ms: u64,
        nb: Vec<String>,
        sb: Vec<String>,
    },
    /// One roles sample of every host.
    Roles { at_ms: u64, hosts: Vec<HostRoles> },
    /// A fault is applied to `victim` (the active then); `standby` is the standby it also
    /// involves.
    FaultStart {
        index: usize,
        kind: FaultKind,
        victim: String,
        standby: Option<String>,
        at_ms: u64,
    },
    /// The fault is undone (links restored, rules cleared, exited pods restarted).
    FaultEnd { index: usize, at_ms: u64 },
    /// Something the runner wants on record (a restart, a process not found, a stop).
    Note { at_ms: u64, text: String },
    /// The names the VIP held at the end: NB logical switches and SB address sets.
    Present { at_ms: u64, names: Vec<String> },
    /// A reader saw `name` through the VIP for the first time at `at_ms` (acknowledged by its
    /// writer or not: what a client once saw must stay visible).
    Seen {
        reader: String,
        db: Db,
        name: String,
        at_ms: u64,
    },
}

/// A line that is not an event.
#[derive(Debug, thiserror::Error)]
#[error("history line {line}: {source}")]
pub struct DecodeError {
    pub line: usize,
    #[source]
    pub source: serde_json::Error,
}

/// One event as one line (without the newline).
pub fn encode_line(event: &Event) -> String {
    // Serialising these plain types cannot fail (no maps with non-string keys, no foreign
    // Serialize impls).
    serde_json::to_string(event).unwrap_or_default()
}

/// Every event, one per line.
pub fn encode(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&encode_line(e));
        out.push('\n');
    }
    out
}

/// Events from JSON lines (blank lines skipped).
pub fn decode(text: &str) -> Result<Vec<Event>, DecodeError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| DecodeError {
                line: i + 1,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::schedule::Crash;

    fn sample() -> Vec<Event> {
        vec![
            Event::Run {
                seed: 42,
                faults: 2,
                hosts: vec!["c-h1".into(), "c-h2".into(), "c-h3".into()],
            },
            Event::Op {
                writer: "machine".into(),
                db: Db::Nb,
                host: None,
                name: "machine-0".into(),
                start_ms: 10,
                end_ms: 40,
                acked: true,
            },
            Event::Op {
                writer: "c-h2".into(),
                db: Db::Sb,
                host: Some("c-h2".into()),
                name: "c-h2-0".into(),
                start_ms: 12,
                end_ms: 2012,
                acked: false,
            },
            Event::Writable {
                at_ms: 20,
                nb: vec!["c-h1".into()],
                sb: vec![],
            },
            Event::Roles {
                at_ms: 30,
                hosts: vec![HostRoles {
                    host: "c-h1".into(),
                    nb: Role::Active,
                    sb: Role::Down,
                }],
            },
            Event::FaultStart {
                index: 0,
                kind: FaultKind::ServerCrash {
                    db: Db::Sb,
                    signal: Crash::Segv,
                },
                victim: "c-h1".into(),
                standby: None,
                at_ms: 50,
            },
            Event::FaultEnd {
                index: 0,
                at_ms: 60,
            },
            Event::Note {
                at_ms: 61,
                text: "restarted c-h1".into(),
            },
            Event::Seen {
                reader: "machine-reader".into(),
                db: Db::Nb,
                name: "machine-0".into(),
                at_ms: 45,
            },
            Event::Present {
                at_ms: 70,
                names: vec!["machine-0".into()],
            },
        ]
    }

    #[test]
    fn round_trip() {
        let events = sample();
        let text = encode(&events);
        assert_eq!(text.lines().count(), events.len());
        assert_eq!(decode(&text).unwrap(), events);
    }

    #[test]
    fn the_format_is_stable() {
        let text = encode(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            r#"{"event":"op","writer":"machine","db":"nb","host":null,"name":"machine-0","start_ms":10,"end_ms":40,"acked":true}"#
        );
        assert_eq!(
            lines[5],
            r#"{"event":"fault_start","index":0,"kind":{"kind":"server_crash","db":"sb","signal":"segv"},"victim":"c-h1","standby":null,"at_ms":50}"#
        );
        assert_eq!(
            lines[3],
            r#"{"event":"writable","at_ms":20,"nb":["c-h1"],"sb":[]}"#
        );
        assert!(
            text.contains(
                r#"{"event":"seen","reader":"machine-reader","db":"nb","name":"machine-0","at_ms":45}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let text = format!("{}\n\n{{\"event\":\"nope\"}}\n", encode_line(&sample()[0]));
        let e = decode(&text).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(decode("").unwrap().is_empty());
    }
}
