//! The promotion gate's I/O (the decisions are `cold_start` and `lag_gate`): reads this copy's
//! position from its database files and closes the gate file before anything starts, then on
//! every supervisor tick publishes the position once and writes the gate when the decision
//! changes, logging why. Once the cold start is over the same file carries the lagging-copy
//! gate: on each look (the caller's `crm_mon`, about once a second) the marks are remembered
//! and the gate is written when `lag_gate` changes its mind.

use super::pcmk::set_transient;
use ovnkube_db_ha::cib::desired::DB_RESOURCE;
use ovnkube_db_ha::cold_start::{self, ATTRIBUTE, DB_FILES, GATE_FILE, Seen, Verdict};
use ovnkube_db_ha::crm_mon::ClusterStatus;
use ovnkube_db_ha::lag_gate::{Look, MINUS_INFINITY, Memory};
use std::path::Path;
use std::time::Instant;

ovnkube_db_ha::log_part!("promotion gate");

/// The gate of this copy.
#[derive(Debug)]
pub struct Gate {
    mine: u64,
    open: bool,
    published: bool,
    quorum_at: Option<Instant>,
    last: Option<String>,
    /// After the cold start: what the lagging-copy gate remembers, and whether it is closed.
    lag: Memory,
    lag_closed: bool,
}

impl Gate {
    /// Reads the position and closes the gate; call before Pacemaker starts.
    pub fn close_before_start() -> anyhow::Result<Gate> {
        let modified: Vec<_> = DB_FILES
            .iter()
            .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
            .collect();
        let mine = cold_start::position(&modified);
        write_gate("closed")?;
        log(format!(
            "closed until the copies' positions are compared; this copy's position is {mine}"
        ));
        Ok(Gate {
            mine,
            open: false,
            published: false,
            quorum_at: None,
            last: None,
            lag: Memory::default(),
            lag_closed: false,
        })
    }

    /// Whether the cold-start gate is open (for good).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// After the cold start, one look for the lagging-copy gate: remembers, decides, writes
    /// the gate file when the verdict changes.
    pub fn lag_tick(&mut self, me: &str, status: &ClusterStatus) {
        if !self.open {
            return;
        }
        let now = Instant::now();
        let online = status.online_names();
        self.lag.observe(
            now,
            &Look {
                marks: &status.caught_up,
                online: &online,
                promoted: &status.promoted,
            },
        );
        let (close, why) = match self.lag.decide(me, now) {
            Verdict::Closed(why) => (true, why),
            Verdict::Open(why) => (false, why),
        };
        if close != self.lag_closed {
            match write_gate(if close { "closed" } else { "open" }) {
                Ok(()) => {
                    self.lag_closed = close;
                    log(format!("{}: {why}", if close { "closed" } else { "open" }));
                    // The agent would write −INFINITY at its next monitor; the active holds
                    // replies until it sees it, so it is written now (the agent, reading the
                    // closed file, keeps it). An open gate is left to the agent's health score.
                    if close && let Err(e) = score_unpromotable(me) {
                        log(format!("{e:#}"));
                    }
                }
                Err(e) => log(format!("{e:#}")),
            }
        }
    }

    /// One look at the cluster (`status` from `crm_mon`): publishes, decides, writes.
    pub fn tick(&mut self, me: &str, configured: usize, status: &ClusterStatus) {
        if self.open {
            return;
        }
        if status.quorum && self.quorum_at.is_none() {
            self.quorum_at = Some(Instant::now());
        }
        if status.quorum && !self.published {
            match set_transient(me, ATTRIBUTE, &self.mine.to_string()) {
                Ok(()) => self.published = true,
                Err(e) => log(format!("{e:#} (will retry)")),
            }
        }
        let online = status.online_names();
        let seen = Seen {
            me,
            mine: self.mine,
            configured,
            positions: status
                .positions
                .iter()
                .filter(|(n, _)| online.contains(&n.as_str()))
                .map(|(n, p)| (n.clone(), *p))
                .collect(),
            promoted: status.promoted.clone(),
            quorum: status.quorum,
            since_quorum: self.quorum_at.map(|t| t.elapsed()).unwrap_or_default(),
        };
        match cold_start::decide(&seen) {
            Verdict::Open(why) => match write_gate("open") {
                Ok(()) => {
                    self.open = true;
                    log(format!("open: {why}"));
                }
                Err(e) => log(format!("cannot open: {e:#}")),
            },
            Verdict::Closed(why) => {
                if self.last.as_deref() != Some(why.as_str()) {
                    log(format!("closed: {why}"));
                    self.last = Some(why);
                }
            }
        }
    }
}

/// Closes this copy's gate for a graceful handover, the file and the score at once, so that
/// Pacemaker moves the promoted role off this still running copy. Nothing reopens it: the
/// supervisor's looks, which write the gate, have ended when the handover begins.
pub fn close_for_handover(me: &str) -> anyhow::Result<()> {
    write_gate("closed")?;
    score_unpromotable(me)
}

/// Writes −INFINITY as this copy's promotion score now, ahead of the agent's next monitor.
fn score_unpromotable(me: &str) -> anyhow::Result<()> {
    set_transient(
        me,
        &format!("master-{DB_RESOURCE}"),
        &MINUS_INFINITY.to_string(),
    )
}

/// Writes the gate file atomically (a rename), creating its directory.
fn write_gate(state: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let path = Path::new(GATE_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{state}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("writing {state} to {GATE_FILE}"))
}
