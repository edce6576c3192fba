//! The promotion score: a pure policy from replication health, a small record cached under
//! the state directory (so the score is written only when it changes), and the
//! `crm_attribute --promotion` call that writes it.
//!
//! Policy (higher is promoted first; every running copy always has a positive score):
//! - [`HEALTHY`]: promoted and both databases active, or unpromoted with both replicating.
//!   The promoted copy deliberately gets the same score as a healthy standby: Pacemaker
//!   keeps the current promoted instance on a tie, and a promote then changes no node
//!   attribute (an attribute change aborts the running transition).
//! - [`RECENTLY_LOST`]: not replicating now, but was healthy less than [`RECENT_LOSS_SECS`]
//!   ago (the active just died or was just demoted: this copy has the freshest data).
//! - A loss younger than [`LOSS_HOLD_SECS`] keeps [`HEALTHY`]: during a switchover or a
//!   failover every standby loses its active for a moment, and lowering scores then would
//!   change node attributes (and abort Pacemaker's transition) in the middle of it.
//! - [`NOT_REPLICATING`]: connecting, failed, or lost long ago / never replicated.
//! - [`FAULT`]: a database was active on an unpromoted copy (being repaired).
//! - [`GATED`] (−INFINITY) overrides all of these while the promotion gate file reads
//!   `closed`: the entrypoint closes it at a cold start until the copies' data positions have
//!   been compared, so a stale copy is never promoted over a newer one.

use crate::log::Logger;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Both databases healthy.
pub const HEALTHY: i32 = 100;
/// Lost replication within the last [`RECENT_LOSS_SECS`].
pub const RECENTLY_LOST: i32 = 50;
/// Not replicating.
pub const NOT_REPLICATING: i32 = 10;
/// Active while unpromoted.
pub const FAULT: i32 = 5;
/// Not promotable: the promotion gate is closed (Pacemaker's −INFINITY, which no location
/// bonus can lift).
pub const GATED: i32 = -1_000_000;
/// How long a lost copy counts as "recently lost".
pub const RECENT_LOSS_SECS: u64 = 30;
/// How long a loss may last before the score drops at all.
pub const LOSS_HOLD_SECS: u64 = 5;

/// Health measured by one monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Promoted & active, or both replicating.
    Healthy,
    /// At least one database is not replicating.
    NotReplicating,
    /// Active while unpromoted.
    Fault,
}

/// What the agent remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The score last computed.
    pub score: Option<i32>,
    /// Whether that score was written to the cluster successfully.
    pub written: bool,
    /// Whether the last measurement was healthy.
    pub healthy: bool,
    /// When replication was lost (Unix seconds), if it was.
    pub lost_at: Option<u64>,
}

impl Record {
    /// Parses `score=N written=0|1 healthy=0|1 lost_at=T` (pure; unknown or bad fields are
    /// ignored).
    pub fn parse(text: &str) -> Self {
        let mut r = Record::default();
        for field in text.split_whitespace() {
            match field.split_once('=') {
                Some(("score", v)) => r.score = v.parse().ok(),
                Some(("healthy", v)) => r.healthy = v == "1",
                Some(("written", v)) => r.written = v == "1",
                Some(("lost_at", v)) => r.lost_at = v.parse().ok(),
                _ => {}
            }
        }
        r
    }

    /// The text stored in the state file.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(score) = self.score {
            s.push_str(&format!(
                "score={score} written={} ",
                u8::from(self.written)
            ));
        }
        s.push_str(&format!("healthy={}", u8::from(self.healthy)));
        if let Some(t) = self.lost_at {
            s.push_str(&format!(" lost_at={t}"));
        }
        s.push('\n');
        s
    }
}

/// The next record and the score it implies (pure). `now` is Unix seconds.
pub fn next(prev: &Record, health: Health, now: u64) -> (Record, i32) {
    match health {
        Health::Healthy => (
            Record {
                healthy: true,
                lost_at: None,
                ..prev.clone()
            },
            HEALTHY,
        ),
        Health::NotReplicating | Health::Fault => {
            let lost_at = if prev.healthy {
                Some(now)
            } else {
                prev.lost_at
            };
            let age = lost_at.map(|t| now.saturating_sub(t));
            let score = match (health, age) {
                (Health::Fault, _) => FAULT,
                (_, Some(a)) if a < LOSS_HOLD_SECS => HEALTHY,
                (_, Some(a)) if a < RECENT_LOSS_SECS => RECENTLY_LOST,
                _ => NOT_REPLICATING,
            };
            (
                Record {
                    healthy: false,
                    lost_at,
                    ..prev.clone()
                },
                score,
            )
        }
    }
}

/// The score to write (pure): [`GATED`] while the gate is closed, else the health score.
pub fn effective(score: i32, gate_closed: bool) -> i32 {
    if gate_closed { GATED } else { score }
}

/// Whether the promotion gate file says `closed` (pure on its content). Missing or anything
/// else is open: the gate's writer creates it before Pacemaker starts.
pub fn gate_closed(content: Option<&str>) -> bool {
    content.is_some_and(|c| c.trim() == "closed")
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A file name for the instance (pure): anything but `[A-Za-z0-9_.:-]` becomes `_`.
pub fn file_stem(instance: &str) -> String {
    let s: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Reads, updates and writes the cached record and the cluster's promotion score.
#[derive(Debug)]
pub struct Keeper {
    path: PathBuf,
    node: Option<String>,
}

impl Keeper {
    /// The keeper for `instance` under `state_dir`.
    pub fn new(state_dir: &Path, instance: &str, node: Option<&str>) -> Self {
        Self {
            path: state_dir.join(format!("{}.score", file_stem(instance))),
            node: node.map(str::to_owned),
        }
    }

    /// The cached record (default when missing).
    pub fn load(&self) -> Record {
        std::fs::read_to_string(&self.path)
            .map(|t| Record::parse(&t))
            .unwrap_or_default()
    }

    fn store(&self, r: &Record, log: &Logger) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = self.path.with_extension("tmp");
        let res = std::fs::write(&tmp, r.render()).and_then(|_| std::fs::rename(&tmp, &self.path));
        if let Err(e) = res {
            log.warn(&format!("cannot write {}: {e}", self.path.display()));
        }
    }

    /// Applies one measurement: writes the score when it differs from the cached one (or
    /// always with `force`), and the record when anything changed. Returns the score.
    pub fn update(&self, health: Health, gated: bool, force: bool, log: &Logger) -> i32 {
        let prev = self.load();
        let (mut rec, score) = next(&prev, health, now_secs());
        let score = effective(score, gated);
        if force || !prev.written || prev.score != Some(score) {
            rec.written = set_promotion_score(score, self.node.as_deref(), log);
        }
        rec.score = Some(score);
        if rec != prev {
            self.store(&rec, log);
        }
        score
    }

    /// True if a cached record exists.
    pub fn has_record(&self) -> bool {
        self.path.exists()
    }

    /// Removes the score from the cluster and forgets the cache (stop).
    pub fn clear(&self, log: &Logger) {
        let mut cmd = Command::new("crm_attribute");
        cmd.args(["--promotion", "-D"]);
        if let Some(n) = &self.node {
            cmd.args(["-N", n]);
        }
        let _ = run_bounded(&mut cmd, log);
        let _ = std::fs::remove_file(&self.path);
    }

    /// Forgets the cache so the next update writes the score (start).
    pub fn forget_score(&self, log: &Logger) {
        let mut r = self.load();
        if r.written {
            r.written = false;
            self.store(&r, log);
        }
    }

    /// Marks the copy healthy now (promote, demote from active: it holds the newest data).
    pub fn mark_healthy(&self, log: &Logger) {
        let mut r = self.load();
        if !r.healthy || r.lost_at.is_some() {
            r.healthy = true;
            r.lost_at = None;
            self.store(&r, log);
        }
    }
}

/// `crm_attribute --promotion -v N` (lifetime reboot). False if it failed (no cluster).
pub fn set_promotion_score(score: i32, node: Option<&str>, log: &Logger) -> bool {
    let mut cmd = Command::new("crm_attribute");
    cmd.args(["--promotion", "-v", &score.to_string()]);
    if let Some(n) = node {
        cmd.args(["-N", n]);
    }
    let ok = run_bounded(&mut cmd, log);
    if ok {
        log.info(&format!("promotion score set to {score}"));
    }
    ok
}

/// Runs a `crm_attribute` call through the project's subprocess layer, bounded (a hung CIB
/// must not hold the monitor); a failure is logged and returns false.
fn run_bounded(cmd: &mut Command, log: &Logger) -> bool {
    match ovn_ha_exec::Exec::new(cmd)
        .limit(CRM_ATTRIBUTE_LIMIT)
        .output()
    {
        Ok(_) => true,
        Err(e) => {
            log.warn(&e.to_string());
            false
        }
    }
}

/// Longest a `crm_attribute` call may take.
const CRM_ATTRIBUTE_LIMIT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_gate_overrides_every_health_score() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some(""), false),
            (Some("open\n"), false),
            (Some("closed\n"), true),
            (Some(" closed "), true),
            (Some("closedx"), false),
        ];
        for (content, closed) in cases {
            assert_eq!(gate_closed(*content), *closed, "{content:?}");
        }
        for score in [HEALTHY, RECENTLY_LOST, NOT_REPLICATING, FAULT] {
            assert_eq!(effective(score, false), score);
            assert_eq!(effective(score, true), GATED);
        }
    }

    #[test]
    fn record_round_trip() {
        let cases = [
            Record::default(),
            Record {
                score: Some(100),
                written: true,
                healthy: true,
                lost_at: None,
            },
            Record {
                score: Some(50),
                written: false,
                healthy: false,
                lost_at: Some(1_700_000_000),
            },
        ];
        for r in cases {
            assert_eq!(Record::parse(&r.render()), r);
        }
        assert_eq!(Record::parse("garbage score=x"), Record::default());
    }

    #[test]
    fn policy_table() {
        let t0 = 1_000_000;
        let healthy = Record {
            score: Some(HEALTHY),
            written: true,
            healthy: true,
            lost_at: None,
        };
        let fresh = Record::default();
        // (previous, health, seconds later, expected score, expected lost_at)
        let cases: Vec<(Record, Health, u64, i32, Option<u64>)> = vec![
            (fresh.clone(), Health::Healthy, 0, HEALTHY, None),
            (
                fresh.clone(),
                Health::NotReplicating,
                0,
                NOT_REPLICATING,
                None,
            ),
            (
                healthy.clone(),
                Health::NotReplicating,
                0,
                HEALTHY,
                Some(t0),
            ),
            (healthy.clone(), Health::Healthy, 0, HEALTHY, None),
            (healthy.clone(), Health::Fault, 0, FAULT, Some(t0)),
            (
                Record {
                    score: Some(RECENTLY_LOST),
                    written: true,
                    healthy: false,
                    lost_at: Some(t0),
                },
                Health::NotReplicating,
                RECENT_LOSS_SECS - 1,
                RECENTLY_LOST,
                Some(t0),
            ),
            (
                Record {
                    score: Some(HEALTHY),
                    written: true,
                    healthy: false,
                    lost_at: Some(t0),
                },
                Health::NotReplicating,
                LOSS_HOLD_SECS - 1,
                HEALTHY,
                Some(t0),
            ),
            (
                Record {
                    score: Some(HEALTHY),
                    written: true,
                    healthy: false,
                    lost_at: Some(t0),
                },
                Health::NotReplicating,
                LOSS_HOLD_SECS,
                RECENTLY_LOST,
                Some(t0),
            ),
            (
                Record {
                    score: Some(RECENTLY_LOST),
                    written: true,
                    healthy: false,
                    lost_at: Some(t0),
                },
                Health::NotReplicating,
                RECENT_LOSS_SECS,
                NOT_REPLICATING,
                Some(t0),
            ),
        ];
        for (prev, h, later, want, lost) in cases {
            let (rec, score) = next(&prev, h, t0 + later);
            assert_eq!(score, want, "{prev:?} {h:?} +{later}");
            assert_eq!(rec.lost_at, lost, "{prev:?} {h:?}");
            assert_eq!(rec.healthy, h == Health::Healthy);
        }
        // Scores are ordered and all positive.
        let ordered = [FAULT, NOT_REPLICATING, RECENTLY_LOST, HEALTHY];
        assert!(ordered.windows(2).all(|w| w[0] < w[1]) && FAULT > 0);
    }

    #[test]
    fn a_copy_cut_earlier_ranks_lower() {
        // A lost replication at t, B at t + RECENT_LOSS_SECS; both measured once B's loss is
        // older than the hold.
        let t = 5_000;
        let h = Record {
            score: Some(HEALTHY),
            written: true,
            healthy: true,
            lost_at: None,
        };
        let (a1, _) = next(&h, Health::NotReplicating, t);
        let (b1, _) = next(&h, Health::NotReplicating, t + RECENT_LOSS_SECS);
        let later = t + RECENT_LOSS_SECS + LOSS_HOLD_SECS;
        let (_, a_score) = next(&a1, Health::NotReplicating, later);
        let (_, b_score) = next(&b1, Health::NotReplicating, later);
        assert_eq!((a_score, b_score), (NOT_REPLICATING, RECENTLY_LOST));
    }

    #[test]
    fn stems() {
        for (i, want) in [
            ("ovndb_servers", "ovndb_servers"),
            ("ovndb_servers:1", "ovndb_servers:1"),
            ("../x", "_.._x"),
            ("a/b c", "a_b_c"),
            ("", "_"),
        ] {
            assert_eq!(file_stem(i), want, "{i}");
        }
    }
}
