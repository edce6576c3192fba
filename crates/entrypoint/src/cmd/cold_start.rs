//! The cold-start promotion gate's I/O (the decision is `cold_start`): reads this copy's
//! position from its database files and closes the gate file before anything starts, then on
//! every supervisor tick publishes the position once and writes the gate when the decision
//! changes, logging why. Once open it stays open and costs nothing more.

use super::pcmk::set_transient;
use ovnkube_db_ha::cold_start::{self, ATTRIBUTE, DB_FILES, GATE_FILE, Seen, Verdict};
use ovnkube_db_ha::crm_mon::ClusterStatus;
use std::path::Path;
use std::time::Instant;

fn log(msg: impl AsRef<str>) {
    eprintln!("ovnkube-db-ha: promotion gate: {}", msg.as_ref());
}

/// The gate of this copy.
#[derive(Debug)]
pub struct Gate {
    mine: u64,
    open: bool,
    published: bool,
    quorum_at: Option<Instant>,
    last: Option<String>,
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
        })
    }

    /// Whether the gate is open (for good).
    pub fn is_open(&self) -> bool {
        self.open
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
        let online: Vec<&str> = status
            .nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect();
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
