//! Self-fencing on quorum loss — the pure part: reading corosync's quorum notifications.
//!
//! A node cut off from the majority must stop taking writes before the majority promotes
//! another copy, without waiting for its own Pacemaker (which stops resources only after its
//! scheduler has run, and whose IPaddr2 stop may take seconds). corosync notifies quorum changes
//! the moment the new membership forms — on both sides of a partition at about the same time,
//! `token` + `consensus` after the fault — and `corosync-quorumtool -m` prints each
//! notification as a status block with a `Quorate:` line. The I/O side (`cmd/quorum.rs`)
//! reads those lines and, on a loss (or when corosync itself is gone), closes the databases'
//! client listeners and releases the VIP within one fence poll; the majority's Pacemaker needs
//! a DC, a transition and a promote after the same membership change before another copy takes
//! writes (see ARCHITECTURE.md for the bound and the margin).

/// The quorum state a `corosync-quorumtool` output line states, if it states one
/// (`Quorate:          Yes` / `No`).
pub fn quorate_line(line: &str) -> Option<bool> {
    let rest = line.trim().strip_prefix("Quorate:")?;
    match rest.trim() {
        "Yes" => Some(true),
        "No" => Some(false),
        _ => None,
    }
}

/// The node names in corosync's membership, from `corosync-quorumtool -l` (a table under a
/// `Nodeid Votes Name` header; the local node's name is followed by `(local)`).
pub fn member_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("Nodeid"))
        .skip(1)
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            fields.next()?.parse::<u32>().ok()?;
            fields.next()?;
            fields.next().map(str::to_string)
        })
        .collect()
}

/// What the watcher knows: nothing yet, or the last state corosync stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quorum {
    /// No statement yet (start-up): no action either way.
    #[default]
    Unknown,
    Quorate,
    /// Lost after having been quorate, or corosync gone: fenced.
    Lost,
}

/// What the I/O side must do on a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumChange {
    /// Stop taking writes and release the VIP.
    Fence,
    /// Quorum is back: writes may be taken again (by whatever Pacemaker runs here now).
    Unfence,
}

impl Quorum {
    /// Feeds one statement (`Some(quorate)`) or the monitor's end (`None`: corosync is gone or
    /// the monitor died, which counts as lost once quorum had been seen).
    pub fn step(&mut self, statement: Option<bool>) -> Option<QuorumChange> {
        let (next, change) = match (*self, statement) {
            (Quorum::Quorate, Some(false) | None) => (Quorum::Lost, Some(QuorumChange::Fence)),
            (Quorum::Lost, Some(true)) => (Quorum::Quorate, Some(QuorumChange::Unfence)),
            (Quorum::Unknown, Some(true)) => (Quorum::Quorate, None),
            (state, _) => (state, None),
        };
        *self = next;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_membership_lists_node_names() {
        let text = "\nMembership information\n----------------------\n    Nodeid      Votes Name\n     53157          1 e2e-h1 (local)\n     61458          1 e2e-h2\n";
        let names: Vec<String> = member_names(text).into_iter().collect();
        assert_eq!(names, ["e2e-h1", "e2e-h2"]);
        assert!(member_names("Cannot initialize CMAP service").is_empty());
    }

    #[test]
    fn reads_the_quorate_line() {
        for (line, want) in [
            ("Quorate:          Yes", Some(true)),
            ("Quorate:          No", Some(false)),
            ("  Quorate: Yes  ", Some(true)),
            ("Flags:            Quorate ", None),
            ("Quorum:           2  ", None),
            ("Quorate:          Maybe", None),
            ("", None),
        ] {
            assert_eq!(quorate_line(line), want, "{line:?}");
        }
    }

    #[test]
    fn fences_only_after_having_been_quorate() {
        use QuorumChange::{Fence, Unfence};
        type Case<'a> = (&'a [Option<bool>], &'a [Option<QuorumChange>]);
        // Each case: statements, then the changes expected.
        let cases: &[Case] = &[
            // Start-up without quorum, then quorate: nothing to do.
            (&[Some(false), Some(true)], &[None, None]),
            // Quorate, lost, back.
            (
                &[Some(true), Some(false), Some(false), Some(true)],
                &[None, Some(Fence), None, Some(Unfence)],
            ),
            // corosync dies: fenced; the monitor dying again changes nothing.
            (&[Some(true), None, None], &[None, Some(Fence), None]),
            // The monitor ends before any statement: nothing known, nothing done.
            (&[None, Some(true), Some(true)], &[None, None, None]),
        ];
        for (statements, want) in cases {
            let mut q = Quorum::default();
            let got: Vec<_> = statements.iter().map(|s| q.step(*s)).collect();
            assert_eq!(&got, want, "{statements:?}");
        }
    }
}
