//! Which cluster members the semi-synchronous rounds wait on although no replica connection
//! of theirs takes part — the pure part.
//!
//! A round whose required replicas confirmed only proves that the *connected* replicas hold its
//! writes. A member with no eligible replica link here (a new active that a standby has not
//! reached yet, a standby still fetching its initial copy, one cut off) holds none of them, yet
//! it may carry an earlier active's "caught up" mark and be promoted if this copy is lost now
//! (measured: a write acknowledged by a new active that no standby had reached, lost when the
//! standby with the old active's mark was promoted). So such a member is waited on like a
//! replica that stopped confirming, unless
//! - a look at the cluster within [`FRESH`] showed it unpromotable (offline, in standby, its
//!   promotion gate closed), or
//! - the rounds gave up on it after `CONFIRM_LIMIT` (its cluster stack does not answer) and it
//!   has not linked since.
//!
//! What a look showed can change without a link event (a node comes back, a gate opens), so a
//! verdict older than [`FRESH`] counts for nothing: the rounds wait for a new look.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a look's "unpromotable" verdict stands. Every entrypoint looks about once a second
/// (its lagging-copy gate), and the rounds' own waits look every 150 ms.
pub const FRESH: Duration = Duration::from_secs(2);

/// The members one database's rounds must wait on now.
/// - `peers`: every other member's ring address;
/// - `linked`: the hosts whose replica link here confirmed the round being released (or a
///   later one);
/// - `unpromotable`: when a look last showed each host unpromotable;
/// - `given_up`: the hosts released after the confirmation limit and not linked since.
pub fn to_await(
    peers: &BTreeSet<IpAddr>,
    linked: &BTreeSet<IpAddr>,
    unpromotable: &BTreeMap<IpAddr, Instant>,
    given_up: &BTreeSet<IpAddr>,
    now: Instant,
) -> Vec<IpAddr> {
    peers
        .iter()
        .filter(|p| !linked.contains(p) && !given_up.contains(p))
        .filter(|p| {
            unpromotable
                .get(p)
                .is_none_or(|at| now.saturating_duration_since(*at) > FRESH)
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 18, 0, n])
    }

    fn set(ns: &[u8]) -> BTreeSet<IpAddr> {
        ns.iter().map(|n| ip(*n)).collect()
    }

    #[test]
    fn members_without_a_link_are_waited_on_unless_shown_unpromotable_lately() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let seen = |pairs: &[(u8, u64)]| -> BTreeMap<IpAddr, Instant> {
            pairs.iter().map(|(n, ms)| (ip(*n), at(*ms))).collect()
        };
        let peers = set(&[2, 3]);
        type Row = (
            &'static str,
            &'static [u8],
            &'static [(u8, u64)],
            &'static [u8],
            u64,
            &'static [u8],
        );
        // (case, linked, seen unpromotable (host, at ms), given up, now in ms, waited on)
        let cases: &[Row] = &[
            ("both linked", &[2, 3], &[], &[], 0, &[]),
            (
                "the new active's first round: nobody linked yet",
                &[],
                &[],
                &[],
                0,
                &[2, 3],
            ),
            (
                "one linked, the other (the lost old active) shown offline",
                &[2],
                &[(3, 0)],
                &[],
                500,
                &[],
            ),
            (
                "that verdict has gone stale",
                &[2],
                &[(3, 0)],
                &[],
                2_500,
                &[3],
            ),
            ("given up after the limit", &[2], &[], &[3], 0, &[]),
            (
                "a verdict on a linked host changes nothing",
                &[2, 3],
                &[(2, 0)],
                &[],
                0,
                &[],
            ),
            (
                "the standby still unlinked, promotable",
                &[],
                &[(3, 0)],
                &[],
                100,
                &[2],
            ),
        ];
        for (case, linked, unpromotable, given_up, now, want) in cases {
            let want: Vec<IpAddr> = want.iter().map(|n| ip(*n)).collect();
            assert_eq!(
                to_await(
                    &peers,
                    &set(linked),
                    &seen(unpromotable),
                    &set(given_up),
                    at(*now)
                ),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn a_lone_member_waits_on_nobody() {
        let now = Instant::now();
        let none = BTreeSet::new();
        assert!(to_await(&none, &none, &BTreeMap::new(), &none, now).is_empty());
    }
}
