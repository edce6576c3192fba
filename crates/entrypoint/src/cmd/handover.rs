//! The graceful handover on SIGTERM of the active's pod, in four steps, each a bounded wait on
//! `crm_mon`: settle (every other copy runs caught up and promotable), drain (writes stopped
//! until the caught-up replicas hold every one), move (the promoted role and the VIP leave this copy while
//! it still runs) and standby (this node, which stops what is now a backup). A standby's pod
//! only takes the last step. Every wait ends early when corosync or pacemaker exits.

use super::cold_start::close_for_handover;
use super::fence::FenceWatch;
use super::pcmk::{cluster_status, dc_idle, set_standby};
use super::supervise::{Daemon, reap_orphans};
use ovnkube_db_ha::crm_mon::ClusterStatus;
use std::time::{Duration, Instant};

/// Longest a handover waits, before the drain, for every other copy to run caught up.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// Longest a handover waits, with writes stopped, for the caught-up replicas to acknowledge
/// every write (normally a few milliseconds).
const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// Time kept back from the grace period for stopping pacemaker and corosync.
const STOP_MARGIN: Duration = Duration::from_secs(8);

ovnkube_db_ha::log_part!("handover");

/// How a wait on the cluster's status ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waited {
    /// The condition held.
    Met,
    /// Corosync or pacemaker exited: nothing is left to wait for.
    Gone,
    /// The time ran out.
    TimedOut,
}

/// Looks at `crm_mon` every `step` until `met` holds, `until` passes, or corosync or pacemaker
/// exits (their orphans are reaped meanwhile); a failed look is logged and tried again.
fn wait_for_status(
    daemons: [&mut Daemon; 2],
    until: Instant,
    step: Duration,
    mut met: impl FnMut(&ClusterStatus) -> bool,
) -> Waited {
    let [corosync, pacemaker] = daemons;
    while Instant::now() < until {
        reap_orphans(&mut [&mut *corosync, &mut *pacemaker]);
        if corosync.exited().is_some() || pacemaker.exited().is_some() {
            return Waited::Gone;
        }
        match cluster_status() {
            Ok(s) if met(&s) => return Waited::Met,
            Ok(_) => {}
            Err(e) => log(format!("reading the status: {e:#}")),
        }
        std::thread::sleep(step);
    }
    Waited::TimedOut
}

/// Hands this node's copies over within `grace` less the stop margin, and returns when the
/// promoted copy and the VIP run on another node (or no other node can take them). The
/// standby flag stays set: it is cleared at the next start, never during shutdown.
///
/// On the promoted copy it first waits (up to half the budget) for a replica as healthy as
/// this copy, then settles, stops taking writes and waits (up to [`DRAIN_LIMIT`]) until every
/// caught-up replica — the ones promotion prefers — has acknowledged every write, so the copy
/// promoted next holds everything this one acknowledged; then it moves the promoted role.
pub(super) fn hand_over(
    grace: Duration,
    me: &str,
    fence: &FenceWatch,
    corosync: &mut Daemon,
    pacemaker: &mut Daemon,
) {
    let budget = grace
        .saturating_sub(STOP_MARGIN)
        .max(Duration::from_secs(1));
    let deadline = Instant::now() + budget;
    // Without a replica as healthy as this one yet (e.g. right after a bootstrap, before the
    // standbys connected), wait for one — up to half the budget — so a stale copy is not
    // promoted.
    let ready_by = Instant::now() + budget / 2;
    let mut promoted_here = false;
    let waited = wait_for_status(
        [&mut *corosync, &mut *pacemaker],
        ready_by,
        Duration::from_millis(200),
        |s| {
            promoted_here = s.promoted.iter().any(|n| n == me);
            s.replica_ready_to_take_over(me) || !s.quorum
        },
    );
    let ready = match waited {
        Waited::Gone => return,
        Waited::Met => true,
        Waited::TimedOut => {
            log("no replica reported itself as healthy as this copy; handing over anyway");
            false
        }
    };
    if promoted_here {
        if ready && settle(me, ready_by, [&mut *corosync, &mut *pacemaker]) == Waited::Gone {
            return;
        }
        fence.drain();
        let drain_by = Instant::now()
            + DRAIN_LIMIT.min(deadline.saturating_duration_since(Instant::now()) / 2);
        while !fence.drained() && Instant::now() < drain_by {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !fence.drained() {
            log(format!(
                "no caught-up replica confirmed every write within {DRAIN_LIMIT:?}; handing over anyway"
            ));
        }
        if ready
            && move_promotion_away(me, deadline, [&mut *corosync, &mut *pacemaker]) == Waited::Gone
        {
            return;
        }
    }
    if let Err(e) = set_standby(me, true) {
        log(format!("could not put {me} in standby: {e:#}"));
        return;
    }
    log(format!(
        "{me} is in standby; waiting up to {:?} for the handover",
        deadline.saturating_duration_since(Instant::now())
    ));
    let mut done = None;
    let waited = wait_for_status(
        [corosync, pacemaker],
        deadline,
        Duration::from_millis(200),
        |s| {
            if s.served_elsewhere_than(me) {
                done = Some(format!(
                    "handover done: promoted copy and VIP on {}",
                    s.vip.join(",")
                ));
            } else if !s.quorum
                || !s
                    .nodes
                    .iter()
                    .any(|n| n.name != me && n.online && !n.standby)
            {
                done = Some("no other node can take over; stopping anyway".to_string());
            }
            done.is_some()
        },
    );
    match (waited, done) {
        (Waited::Met, Some(line)) => log(line),
        (Waited::TimedOut, _) => {
            log("handover not confirmed within the grace period; stopping anyway");
        }
        _ => {}
    }
}

/// Waits, before the drain and so outside the write outage, until every other member runs its
/// copy caught up and promotable (`ClusterStatus::settled_for_handover`), at most
/// [`SETTLE_LIMIT`] and not past `ready_by`, and the DC runs no transition. In a rolling
/// update the active's pod goes last, often while the standby replaced just before it is still
/// starting: its start, its notifications and its first marks then ran inside the handover's
/// transition and aborted it, or its transition ran first with writes stopped.
fn settle(me: &str, ready_by: Instant, daemons: [&mut Daemon; 2]) -> Waited {
    let started = Instant::now();
    let until = (started + SETTLE_LIMIT).min(ready_by);
    let waited = wait_for_status(daemons, until, Duration::from_millis(200), |s| {
        // A transition still under way (a replaced standby's start notifications, its first
        // monitor) would hold the handover's own, with writes stopped; a failed look does not.
        let idle = || s.dc.as_deref().is_none_or(|dc| dc_idle(dc).unwrap_or(true));
        !s.quorum || (s.settled_for_handover(me) && idle())
    });
    let ms = started.elapsed().as_millis();
    match waited {
        Waited::Met if ms >= 300 => {
            log(format!(
                "every other copy runs caught up and promotable, the DC idle; handing over after \
                 {ms} ms"
            ));
        }
        Waited::TimedOut => log(format!(
            "not every other copy runs caught up and promotable after {ms} ms; handing over \
             anyway"
        )),
        _ => {}
    }
    waited
}

/// Moves the promoted role off this copy while it still runs, ahead of the standby: its
/// promotion gate closed and its score −INFINITY make Pacemaker demote it and promote the best
/// other copy in one transition. Standby first would stop this copy between the demote and the
/// promote (a notification round and the stop itself), and the stop's removal of its score
/// aborted that transition on the way. Waits, within half the time left, until the promoted
/// copy and the VIP run elsewhere; the standby that follows then only stops a backup.
fn move_promotion_away(me: &str, deadline: Instant, daemons: [&mut Daemon; 2]) -> Waited {
    if let Err(e) = close_for_handover(me) {
        log(format!(
            "could not close the promotion gate for the handover: {e:#}"
        ));
        return Waited::TimedOut;
    }
    let started = Instant::now();
    let until = started + deadline.saturating_duration_since(started) / 2;
    let mut moved_to = None;
    let waited = wait_for_status(daemons, until, Duration::from_millis(100), |s| {
        if s.served_elsewhere_than(me) {
            moved_to = Some(s.vip.join(","));
        }
        moved_to.is_some() || !s.quorum
    });
    match (waited, moved_to) {
        (Waited::Met, Some(to)) => log(format!(
            "promoted copy and VIP moved to {to} in {} ms; stopping this copy",
            started.elapsed().as_millis()
        )),
        (Waited::TimedOut, _) => {
            log("the promoted copy did not move within its share of the grace period; standby now")
        }
        _ => {}
    }
    waited
}
