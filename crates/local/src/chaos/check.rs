//! The chaos checker (pure over a history): every acknowledged write present at the end, never
//! two writable copies of one database at one sample, convergence to one promoted and N−1
//! replicating copies within a bound after each fault's recovery; a per-fault-kind table; the
//! summary line `chaos: faults N, lost L, two-writable samples W, unconverged U`; and, on a
//! failure, a report naming the faults up to the first failing one and the offending
//! operations and samples.
//!
//! The shipped stack replicates semi-synchronously (the entrypoint's proxy releases a reply
//! only once the standbys applied it), so by default every lost write fails the run. For a
//! stack with asynchronous replication, [`Bounds::asynchronous`] states its window: a writer
//! inside the network namespace of an active host that a fault cut off wholly may lose what
//! was acknowledged within [`ISOLATED_LOSS_BOUND_MS`] of the cut (a replication fence's
//! bound), and *any* writer what was acknowledged from [`ASYNC_BEFORE_MS`] before a fault that
//! cuts the active off or drops its standbys' acknowledgements until that bound after it.
//! Those losses are counted apart ("lost in the stated window") and do not fail the run.

use super::history::{Event, HostRoles, Role};
use super::schedule::FaultKind;
use std::collections::HashSet;
use std::fmt::Write as _;

/// With asynchronous replication: how long after its host is cut off a writer on that host may
/// still have a write acknowledged that is then lost — the replication fence's stall limit
/// (100 ms) plus its poll (20 ms) and the time to close the listeners, with margin.
pub const ISOLATED_LOSS_BOUND_MS: u64 = 400;

/// With asynchronous replication: how long before a fault that opens the replication window an
/// acknowledged write may still be missing from the standbys (a large transaction's transfer:
/// milliseconds measured).
pub const ASYNC_BEFORE_MS: u64 = 50;

/// A lost write acknowledged this shortly before a fault started is counted against that fault.
pub const LOSS_LOOKAHEAD_MS: u64 = 1_000;

/// What the checker allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// See [`ISOLATED_LOSS_BOUND_MS`]; 0: no window at all.
    pub isolated_loss_ms: u64,
    /// See [`ASYNC_BEFORE_MS`].
    pub async_before_ms: u64,
    /// Longest time from a fault's recovery to convergence.
    pub converge_ms: u64,
    /// How long roles must stay converged to count.
    pub stable_ms: u64,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            isolated_loss_ms: 0,
            async_before_ms: 0,
            converge_ms: 60_000,
            stable_ms: 1_000,
        }
    }
}

impl Bounds {
    /// The bounds for a stack that replicates asynchronously: losses in the stated window
    /// are counted apart.
    pub fn asynchronous() -> Bounds {
        Bounds {
            isolated_loss_ms: ISOLATED_LOSS_BOUND_MS,
            async_before_ms: ASYNC_BEFORE_MS,
            ..Bounds::default()
        }
    }
}

/// An operation the checker points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRef {
    pub writer: String,
    pub host: Option<String>,
    pub name: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The fault it is counted against: one that started within [`LOSS_LOOKAHEAD_MS`] after it
    /// ended, else the last one started by then.
    pub fault: Option<usize>,
}

/// A sample with two writable copies of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoWritable {
    pub at_ms: u64,
    pub nb: Vec<String>,
    pub sb: Vec<String>,
    pub fault: Option<usize>,
}

/// What one fault did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultResult {
    pub index: usize,
    pub kind: FaultKind,
    pub victim: String,
    pub standby: Option<String>,
    pub start_ms: u64,
    /// When the recovery was done (`None`: the run stopped before).
    pub end_ms: Option<u64>,
    /// From the recovery to stable convergence (`None`: not seen).
    pub converged_after_ms: Option<u64>,
    pub converged: bool,
    /// The machine's writers: last acknowledged write before the fault to the first after.
    pub outage_ms: Option<u64>,
    pub lost: usize,
    pub isolated_lost: usize,
    pub two_writable: usize,
}

/// One row of the per-kind table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub count: usize,
    pub outage_median_ms: Option<u64>,
    pub outage_max_ms: Option<u64>,
    pub lost: usize,
    pub isolated_lost: usize,
    pub two_writable: usize,
    pub unconverged: usize,
}

/// The checker's judgement of one history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub seed: u64,
    pub faults: Vec<FaultResult>,
    /// Acknowledged writes missing at the end (isolated ones within the bound excluded).
    pub lost: Vec<OpRef>,
    /// Acknowledged writes missing at the end that the isolation bound allows.
    pub isolated_lost: Vec<OpRef>,
    pub two_writable: Vec<TwoWritable>,
    /// Faults without convergence within the bound.
    pub unconverged: Vec<usize>,
    /// Whether the VIP answered the final read (without it nothing can be shown present, and
    /// the end state counts as one more unconverged).
    pub final_read: bool,
    pub ops: usize,
    pub acked: usize,
    /// Names the readers saw (each once): they must be present at the end too.
    pub seen: usize,
    pub samples: usize,
    /// Samples with exactly one writable NB copy (the detector is alive).
    pub one_nb_writable: usize,
}

fn converged(hosts: &[HostRoles], n: usize) -> bool {
    let active = hosts
        .iter()
        .filter(|h| h.nb == Role::Active && h.sb == Role::Active)
        .count();
    let replicating = hosts
        .iter()
        .filter(|h| h.nb == Role::Replicating && h.sb == Role::Replicating)
        .count();
    n > 0 && hosts.len() == n && active == 1 && replicating == n - 1
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// Judges a history.
pub fn check(events: &[Event], bounds: &Bounds) -> Verdict {
    let mut seed = 0;
    let mut hosts = 0;
    let mut starts: Vec<(usize, FaultKind, String, Option<String>, u64)> = Vec::new();
    let mut ends: Vec<(usize, u64)> = Vec::new();
    let mut roles: Vec<(u64, &[HostRoles])> = Vec::new();
    let mut present: Option<HashSet<&str>> = None;
    let mut ops = Vec::new();
    let mut writable = Vec::new();
    for e in events {
        match e {
            Event::Run {
                seed: s, hosts: h, ..
            } => {
                seed = *s;
                hosts = h.len();
            }
            Event::FaultStart {
                index,
                kind,
                victim,
                standby,
                at_ms,
            } => starts.push((*index, *kind, victim.clone(), standby.clone(), *at_ms)),
            Event::FaultEnd { index, at_ms } => ends.push((*index, *at_ms)),
            Event::Roles { at_ms, hosts } => roles.push((*at_ms, hosts.as_slice())),
            Event::Present { names, .. } => {
                present = Some(names.iter().map(String::as_str).collect());
            }
            Event::Op { .. } | Event::Seen { .. } => ops.push(e),
            Event::Writable { at_ms, nb, sb } => writable.push((*at_ms, nb, sb)),
            Event::Note { .. } => {}
        }
    }
    starts.sort_by_key(|s| s.4);
    roles.sort_by_key(|r| r.0);
    // The fault whose window holds `t`: the last one started at or before it.
    let fault_at =
        |t: u64| -> Option<usize> { starts.iter().filter(|s| s.4 <= t).map(|s| s.0).next_back() };
    // A lost write is lost by what came after its acknowledgement: asynchronous replication
    // loses what was acknowledged just before a node is cut off. So a loss goes to a fault that
    // started within [`LOSS_LOOKAHEAD_MS`] after the acknowledgement, else to the window it
    // ended in.
    let loss_fault = |end: u64| -> Option<usize> {
        starts
            .iter()
            .find(|s| s.4 > end && s.4 <= end + LOSS_LOOKAHEAD_MS)
            .map(|s| s.0)
            .or_else(|| fault_at(end))
    };
    let isolated_allowed = |host: &Option<String>, end: u64| {
        bounds.isolated_loss_ms > 0
            && starts.iter().any(|(_, kind, victim, _, at)| {
                let own = kind.isolates_active()
                    && host.as_deref() == Some(victim.as_str())
                    && end >= *at
                    && end <= at + bounds.isolated_loss_ms;
                let window = kind.opens_replication_window()
                    && end + bounds.async_before_ms >= *at
                    && end <= at + bounds.isolated_loss_ms;
                own || window
            })
    };

    let mut lost = Vec::new();
    let mut isolated_lost = Vec::new();
    let mut acked = 0;
    let mut seen = 0;
    let mut machine: Vec<(u64, u64)> = Vec::new();
    for e in &ops {
        // A reader's first sight counts as an acknowledgement of what it saw, at that moment.
        let (writer, host, name, start_ms, end_ms) = match e {
            Event::Op {
                writer,
                host,
                name,
                start_ms,
                end_ms,
                acked: true,
                ..
            } => {
                acked += 1;
                if host.is_none() {
                    machine.push((*start_ms, *end_ms));
                }
                (writer, host, name, start_ms, end_ms)
            }
            Event::Seen {
                reader,
                name,
                at_ms,
                ..
            } => {
                seen += 1;
                (reader, &None, name, at_ms, at_ms)
            }
            _ => continue,
        };
        let Some(present) = &present else { continue };
        if present.contains(name.as_str()) {
            continue;
        }
        let r = OpRef {
            writer: writer.clone(),
            host: host.clone(),
            name: name.clone(),
            start_ms: *start_ms,
            end_ms: *end_ms,
            fault: loss_fault(*end_ms),
        };
        if isolated_allowed(host, *end_ms) {
            isolated_lost.push(r);
        } else {
            lost.push(r);
        }
    }
    lost.sort_by_key(|r| r.end_ms);
    isolated_lost.sort_by_key(|r| r.end_ms);

    let mut two_writable = Vec::new();
    let mut one_nb_writable = 0;
    for (at, nb, sb) in &writable {
        if nb.len() == 1 {
            one_nb_writable += 1;
        }
        if nb.len() > 1 || sb.len() > 1 {
            two_writable.push(TwoWritable {
                at_ms: *at,
                nb: nb.to_vec(),
                sb: sb.to_vec(),
                fault: fault_at(*at),
            });
        }
    }
    two_writable.sort_by_key(|s| s.at_ms);

    let mut faults = Vec::new();
    let mut unconverged = Vec::new();
    for (pos, (index, kind, victim, standby, start)) in starts.iter().enumerate() {
        let next_start = starts.get(pos + 1).map_or(u64::MAX, |s| s.4);
        let end = ends.iter().find(|(i, _)| i == index).map(|(_, t)| *t);
        let converged_after_ms = end.and_then(|end| {
            let window: Vec<&(u64, &[HostRoles])> = roles
                .iter()
                .filter(|(t, _)| *t >= end && *t < next_start)
                .collect();
            let mut streak: Option<u64> = None;
            for (t, h) in window {
                if converged(h, hosts) {
                    let first = *streak.get_or_insert(*t);
                    if t - first >= bounds.stable_ms {
                        return Some(first - end);
                    }
                } else {
                    streak = None;
                }
            }
            None
        });
        let ok = converged_after_ms.is_some_and(|t| t <= bounds.converge_ms);
        if !ok {
            unconverged.push(*index);
        }
        let before = machine
            .iter()
            .filter(|(s, _)| s < start)
            .map(|(_, e)| *e)
            .max();
        let after = machine
            .iter()
            .filter(|(s, _)| s >= start)
            .map(|(_, e)| *e)
            .min();
        faults.push(FaultResult {
            index: *index,
            kind: *kind,
            victim: victim.clone(),
            standby: standby.clone(),
            start_ms: *start,
            end_ms: end,
            converged_after_ms,
            converged: ok,
            outage_ms: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
            lost: lost.iter().filter(|r| r.fault == Some(*index)).count(),
            isolated_lost: isolated_lost
                .iter()
                .filter(|r| r.fault == Some(*index))
                .count(),
            two_writable: two_writable
                .iter()
                .filter(|s| s.fault == Some(*index))
                .count(),
        });
    }
    Verdict {
        seed,
        faults,
        lost,
        isolated_lost,
        two_writable,
        unconverged,
        final_read: present.is_some(),
        ops: ops.len() - seen,
        acked,
        seen,
        samples: writable.len(),
        one_nb_writable,
    }
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".into(), |m| format!("{:.2} s", m as f64 / 1000.0))
}

impl Verdict {
    /// `U` of the summary line: faults not converged within the bound, plus one when the
    /// final read failed.
    pub fn unconverged_count(&self) -> usize {
        self.unconverged.len() + usize::from(!self.final_read)
    }

    /// Nothing lost, never two writable copies, everything converged.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.two_writable.is_empty() && self.unconverged_count() == 0
    }

    /// `chaos: faults N, lost L, two-writable samples W, unconverged U`.
    pub fn summary_line(&self) -> String {
        format!(
            "chaos: faults {}, lost {}, two-writable samples {}, unconverged {}",
            self.faults.len(),
            self.lost.len(),
            self.two_writable.len(),
            self.unconverged_count()
        )
    }

    /// One row per fault kind, in the order kinds first occurred; a last row `(no fault)` when
    /// something happened before the first fault.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        let mut outages: Vec<Vec<u64>> = Vec::new();
        for f in &self.faults {
            let label = f.kind.label();
            let i = match rows.iter().position(|r| r.label == label) {
                Some(i) => i,
                None => {
                    rows.push(Row {
                        label,
                        count: 0,
                        outage_median_ms: None,
                        outage_max_ms: None,
                        lost: 0,
                        isolated_lost: 0,
                        two_writable: 0,
                        unconverged: 0,
                    });
                    outages.push(Vec::new());
                    rows.len() - 1
                }
            };
            let r = &mut rows[i];
            r.count += 1;
            r.lost += f.lost;
            r.isolated_lost += f.isolated_lost;
            r.two_writable += f.two_writable;
            r.unconverged += usize::from(!f.converged);
            outages[i].extend(f.outage_ms);
        }
        for (r, o) in rows.iter_mut().zip(outages) {
            r.outage_max_ms = o.iter().copied().max();
            r.outage_median_ms = median(o);
        }
        let lost = self.lost.iter().filter(|r| r.fault.is_none()).count();
        let isolated = self
            .isolated_lost
            .iter()
            .filter(|r| r.fault.is_none())
            .count();
        let two = self
            .two_writable
            .iter()
            .filter(|s| s.fault.is_none())
            .count();
        if lost + isolated + two > 0 {
            rows.push(Row {
                label: "(no fault)".into(),
                count: 0,
                outage_median_ms: None,
                outage_max_ms: None,
                lost,
                isolated_lost: isolated,
                two_writable: two,
                unconverged: 0,
            });
        }
        rows
    }

    /// The per-kind table as text (a Markdown table, readable in a terminal too).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| fault kind | count | outage median | outage max | lost | lost in the stated window | two-writable samples | unconverged |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in self.rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.label,
                r.count,
                secs(r.outage_median_ms),
                secs(r.outage_max_ms),
                r.lost,
                r.isolated_lost,
                r.two_writable,
                r.unconverged
            );
        }
        out
    }

    /// The earliest fault in whose window a violation lies (one before the first fault counts
    /// as fault 0; a failed final read as the last fault); `None` when the run passed.
    pub fn failing_fault(&self) -> Option<usize> {
        if self.passed() {
            return None;
        }
        let last = self.faults.last().map_or(0, |f| f.index);
        let candidates = self
            .lost
            .iter()
            .map(|r| r.fault.unwrap_or(0))
            .chain(self.two_writable.iter().map(|s| s.fault.unwrap_or(0)))
            .chain(self.unconverged.iter().copied())
            .chain((!self.final_read).then_some(last));
        candidates.min().or(Some(last))
    }

    /// What to print on a failure: the seed, the faults up to the first failing one, and the
    /// operations and samples that break a rule (at most 20 of each).
    pub fn failure_report(&self) -> String {
        let Some(k) = self.failing_fault() else {
            return String::new();
        };
        let mut out = format!(
            "chaos FAILED: seed {} (reproduce with `cargo xtask chaos --seed {} --faults {}`); first violation in fault #{k}\nfaults up to it:\n",
            self.seed,
            self.seed,
            k + 1
        );
        for f in self.faults.iter().filter(|f| f.index <= k) {
            let _ = writeln!(
                out,
                "  #{} {} on {}{} at {:.2} s, recovered {}, converged {}, outage {}, lost {}, two-writable {}",
                f.index,
                f.kind.label(),
                f.victim,
                f.standby
                    .as_deref()
                    .map(|s| format!(" (standby {s})"))
                    .unwrap_or_default(),
                f.start_ms as f64 / 1000.0,
                f.end_ms.map_or_else(
                    || "never".into(),
                    |t| format!("at {:.2} s", t as f64 / 1000.0)
                ),
                f.converged_after_ms.map_or_else(
                    || "never".into(),
                    |t| format!("{:.2} s later", t as f64 / 1000.0)
                ),
                secs(f.outage_ms),
                f.lost,
                f.two_writable
            );
        }
        if !self.lost.is_empty() {
            let _ = writeln!(out, "acknowledged writes lost ({}):", self.lost.len());
            for r in self.lost.iter().take(20) {
                let relative = r
                    .fault
                    .and_then(|i| self.faults.iter().find(|f| f.index == i))
                    .map_or_else(
                        || "before any fault".to_string(),
                        |f| {
                            let d = r.end_ms as i64 - f.start_ms as i64;
                            format!(
                                "acknowledged {} ms {} fault #{}'s start",
                                d.abs(),
                                if d < 0 { "before" } else { "after" },
                                f.index
                            )
                        },
                    );
                let _ = writeln!(
                    out,
                    "  {} by {} ({}), {:.3}–{:.3} s, {relative}",
                    r.name,
                    r.writer,
                    r.host.as_deref().unwrap_or("machine"),
                    r.start_ms as f64 / 1000.0,
                    r.end_ms as f64 / 1000.0,
                );
            }
        }
        if !self.two_writable.is_empty() {
            let _ = writeln!(
                out,
                "samples with two writable copies ({}):",
                self.two_writable.len()
            );
            for s in self.two_writable.iter().take(20) {
                let _ = writeln!(
                    out,
                    "  at {:.3} s: NB {:?}, SB {:?}, in fault #{}",
                    s.at_ms as f64 / 1000.0,
                    s.nb,
                    s.sb,
                    s.fault.map_or_else(|| "-".into(), |i| i.to_string())
                );
            }
        }
        if !self.unconverged.is_empty() {
            let _ = writeln!(out, "faults without convergence: {:?}", self.unconverged);
        }
        if !self.final_read {
            let _ = writeln!(out, "the VIP answered no read at the end");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::schedule::{Crash, Db};

    const H: [&str; 3] = ["h1", "h2", "h3"];

    fn run() -> Event {
        Event::Run {
            seed: 9,
            faults: 1,
            hosts: H.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn op(host: Option<&str>, name: &str, start: u64, end: u64, acked: bool) -> Event {
        Event::Op {
            writer: host.unwrap_or("machine").into(),
            db: Db::Nb,
            host: host.map(str::to_string),
            name: name.into(),
            start_ms: start,
            end_ms: end,
            acked,
        }
    }

    fn roles(at: u64, active: Option<&str>) -> Event {
        Event::Roles {
            at_ms: at,
            hosts: H
                .iter()
                .map(|h| {
                    let r = if Some(*h) == active {
                        Role::Active
                    } else if active.is_some() {
                        Role::Replicating
                    } else {
                        Role::Lagging
                    };
                    HostRoles {
                        host: h.to_string(),
                        nb: r,
                        sb: r,
                    }
                })
                .collect(),
        }
    }

    fn writable(at: u64, nb: &[&str], sb: &[&str]) -> Event {
        Event::Writable {
            at_ms: at,
            nb: nb.iter().map(|h| h.to_string()).collect(),
            sb: sb.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn start(index: usize, kind: FaultKind, victim: &str, at: u64) -> Event {
        Event::FaultStart {
            index,
            kind,
            victim: victim.into(),
            standby: None,
            at_ms: at,
        }
    }

    fn present(names: &[&str]) -> Event {
        Event::Present {
            at_ms: 99_000,
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// A clean run: a link cut of h1 at 1 s, recovered at 5 s, h2 active and stable from
    /// 6 s; the machine's writes stop from 0.9 s to 3.1 s.
    fn clean() -> Vec<Event> {
        let mut sb = op(None, "sb-0", 3_300, 3_350, true);
        if let Event::Op { db, .. } = &mut sb {
            *db = Db::Sb;
        }
        vec![
            sb,
            run(),
            roles(500, Some("h1")),
            writable(600, &["h1"], &["h1"]),
            op(None, "m-0", 800, 900, true),
            op(Some("h1"), "h1-0", 850, 950, true),
            start(0, FaultKind::LinkCut, "h1", 1_000),
            op(None, "m-1", 1_000, 3_000, false),
            writable(1_100, &[], &[]),
            op(None, "m-2", 3_050, 3_100, true),
            writable(3_200, &["h2"], &["h2"]),
            Event::FaultEnd {
                index: 0,
                at_ms: 5_000,
            },
            roles(5_200, None),
            roles(6_000, Some("h2")),
            roles(6_600, Some("h2")),
            roles(7_000, Some("h2")),
            present(&["m-0", "m-2", "h1-0", "sb-0"]),
        ]
    }

    #[test]
    fn a_clean_history_passes() {
        let v = check(&clean(), &Bounds::default());
        assert!(v.passed(), "{v:?}");
        assert_eq!(
            v.summary_line(),
            "chaos: faults 1, lost 0, two-writable samples 0, unconverged 0"
        );
        assert_eq!(v.faults[0].converged_after_ms, Some(1_000));
        assert_eq!(v.faults[0].outage_ms, Some(2_200));
        assert_eq!((v.ops, v.acked, v.samples, v.one_nb_writable), (5, 4, 3, 2));
        assert_eq!(v.failing_fault(), None);
        assert!(v.failure_report().is_empty());
        let rows = v.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].label, "link cut");
        assert_eq!(rows[0].outage_median_ms, Some(2_200));
        assert!(
            v.table()
                .contains("| link cut | 1 | 2.20 s | 2.20 s | 0 | 0 | 0 | 0 |")
        );
    }

    /// What a reader once saw must be there at the end, acknowledged or not; what it saw and
    /// is there passes.
    #[test]
    fn a_name_seen_then_missing_is_lost() {
        let seen = |name: &str, at: u64| Event::Seen {
            reader: "machine-reader".into(),
            db: Db::Nb,
            name: name.into(),
            at_ms: at,
        };
        let mut h = clean();
        h.push(seen("m-0", 400));
        let v = check(&h, &Bounds::default());
        assert!(v.passed(), "{v:?}");
        assert_eq!((v.ops, v.seen), (5, 1));
        // m-1 was never acknowledged, but a reader saw it during the fault.
        h.push(seen("m-1", 1_050));
        let v = check(&h, &Bounds::default());
        assert!(!v.passed());
        assert_eq!(v.lost.len(), 1);
        assert_eq!(v.lost[0].writer, "machine-reader");
        assert_eq!(v.lost[0].name, "m-1");
        assert_eq!(v.lost[0].fault, Some(0));
    }

    /// The shipped stack replicates semi-synchronously: by default there is no window, and a
    /// write the cut host acknowledged right at the cut counts as lost.
    #[test]
    fn no_window_by_default() {
        for (host, name, start, end) in [
            (Some("h1"), "h1-1", 900, 1_300),
            (Some("h2"), "h2-1", 900, 990),
        ] {
            let mut h = clean();
            h.push(op(host, name, start, end, true));
            let v = check(&h, &Bounds::default());
            assert_eq!((v.lost.len(), v.isolated_lost.len()), (1, 0), "{name}");
            let v = check(&h, &Bounds::asynchronous());
            assert_eq!((v.lost.len(), v.isolated_lost.len()), (0, 1), "{name}");
        }
    }

    #[test]
    fn each_violation_is_found() {
        struct Case {
            name: &'static str,
            edit: fn(&mut Vec<Event>),
            lost: usize,
            isolated: usize,
            two: usize,
            unconverged: usize,
        }
        let cases = [
            Case {
                name: "a machine write acknowledged and gone",
                edit: |h| h.push(op(None, "m-3", 3_200, 3_300, true)),
                lost: 1,
                isolated: 0,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "an SB row acknowledged and gone",
                edit: |h| {
                    h.push(op(None, "sb-1", 3_400, 3_450, true));
                    if let Some(Event::Op { db, .. }) = h.last_mut() {
                        *db = Db::Sb;
                    }
                },
                lost: 1,
                isolated: 0,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "the cut host's own write within the bound: allowed",
                edit: |h| h.push(op(Some("h1"), "h1-1", 900, 1_300, true)),
                lost: 0,
                isolated: 1,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "the cut host's own write past the bound: lost",
                edit: |h| h.push(op(Some("h1"), "h1-1", 900, 1_500, true)),
                lost: 1,
                isolated: 0,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "a standby's write within the bound: in the stated window",
                edit: |h| h.push(op(Some("h2"), "h2-1", 900, 1_300, true)),
                lost: 0,
                isolated: 1,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "a standby's write acknowledged just before the cut: in the stated window",
                edit: |h| h.push(op(Some("h2"), "h2-1", 900, 990, true)),
                lost: 0,
                isolated: 1,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "a standby's write acknowledged long before the cut: lost",
                edit: |h| h.push(op(Some("h2"), "h2-1", 800, 900, true)),
                lost: 1,
                isolated: 0,
                two: 0,
                unconverged: 0,
            },
            Case {
                name: "two writable NB copies at one sample",
                edit: |h| h.push(writable(3_150, &["h1", "h2"], &["h2"])),
                lost: 0,
                isolated: 0,
                two: 1,
                unconverged: 0,
            },
            Case {
                name: "two writable SB copies at one sample",
                edit: |h| h.push(writable(3_150, &["h2"], &["h1", "h2"])),
                lost: 0,
                isolated: 0,
                two: 1,
                unconverged: 0,
            },
            Case {
                name: "convergence never stable",
                edit: |h| {
                    h.retain(|e| !matches!(e, Event::Roles { at_ms: 7_000, .. }));
                    h.push(roles(6_500, None));
                },
                lost: 0,
                isolated: 0,
                two: 0,
                unconverged: 1,
            },
            Case {
                name: "no recovery recorded",
                edit: |h| h.retain(|e| !matches!(e, Event::FaultEnd { .. })),
                lost: 0,
                isolated: 0,
                two: 0,
                unconverged: 1,
            },
            Case {
                name: "no final read",
                edit: |h| h.retain(|e| !matches!(e, Event::Present { .. })),
                lost: 0,
                isolated: 0,
                two: 0,
                unconverged: 1,
            },
        ];
        for c in cases {
            let mut h = clean();
            (c.edit)(&mut h);
            let v = check(&h, &Bounds::asynchronous());
            assert_eq!(
                (
                    v.lost.len(),
                    v.isolated_lost.len(),
                    v.two_writable.len(),
                    v.unconverged_count()
                ),
                (c.lost, c.isolated, c.two, c.unconverged),
                "{}: {v:?}",
                c.name
            );
            let failing = c.lost + c.two + c.unconverged > 0;
            assert_eq!(!v.passed(), failing, "{}", c.name);
            if failing {
                assert_eq!(v.failing_fault(), Some(0), "{}", c.name);
                let report = v.failure_report();
                assert!(report.contains("seed 9"), "{report}");
                assert!(report.contains("#0 link cut on h1"), "{report}");
            }
        }
    }

    #[test]
    fn slow_convergence_is_unconverged() {
        let mut h = clean();
        h.retain(|e| !matches!(e, Event::Roles { at_ms, .. } if *at_ms >= 6_000));
        h.extend([roles(70_000, Some("h2")), roles(71_500, Some("h2"))]);
        let v = check(&h, &Bounds::default());
        assert_eq!(v.unconverged, [0]);
        assert_eq!(v.faults[0].converged_after_ms, Some(65_000));
    }

    #[test]
    fn violations_are_attributed_to_their_fault_and_reported() {
        let crash = FaultKind::ServerCrash {
            db: Db::Nb,
            signal: Crash::Segv,
        };
        let mut h = clean();
        h.retain(|e| !matches!(e, Event::Present { .. }));
        h.extend([
            start(1, crash, "h2", 10_000),
            op(None, "m-9", 10_100, 10_200, true),
            writable(10_300, &["h2", "h3"], &["h2"]),
            Event::FaultEnd {
                index: 1,
                at_ms: 12_000,
            },
            roles(12_500, Some("h2")),
            roles(13_600, Some("h2")),
            present(&["m-0", "m-2", "h1-0", "sb-0"]),
        ]);
        let v = check(&h, &Bounds::default());
        assert_eq!(
            v.summary_line(),
            "chaos: faults 2, lost 1, two-writable samples 1, unconverged 0"
        );
        assert_eq!(v.failing_fault(), Some(1));
        assert_eq!(v.faults[1].lost, 1);
        assert_eq!(v.faults[1].two_writable, 1);
        assert_eq!(v.faults[0].lost, 0);
        let report = v.failure_report();
        assert!(report.contains("#1 SIGSEGV NB server on h2"), "{report}");
        assert!(report.contains("m-9 by machine"), "{report}");
        assert!(report.contains("NB [\"h2\", \"h3\"]"), "{report}");
        let rows = v.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].lost, rows[1].two_writable), (1, 1));
    }

    #[test]
    fn a_loss_just_before_a_fault_counts_against_it() {
        let mut h = clean();
        // Acknowledged 200 ms before the cut (outside the stated window), by a writer on
        // another host: lost by the cut.
        h.push(op(Some("h2"), "h2-late", 700, 800, true));
        let v = check(&h, &Bounds::default());
        assert_eq!(v.lost.len(), 1);
        assert_eq!(v.lost[0].fault, Some(0));
        assert!(
            v.failure_report()
                .contains("acknowledged 200 ms before fault #0's start"),
            "{}",
            v.failure_report()
        );
    }

    #[test]
    fn losses_before_any_fault_get_their_own_row() {
        let mut h = clean();
        for e in &mut h {
            if let Event::FaultStart { at_ms, .. } = e {
                *at_ms = 1_500;
            }
        }
        h.push(op(None, "m-early", 100, 200, true));
        let v = check(&h, &Bounds::default());
        assert_eq!(v.lost[0].fault, None);
        assert_eq!(v.rows().last().unwrap().label, "(no fault)");
        assert_eq!(v.failing_fault(), Some(0));
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3, 1, 2]), Some(2));
        assert_eq!(median(vec![4, 1, 2, 3]), Some(2));
    }
}
