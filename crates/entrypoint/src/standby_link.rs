//! The standby's replication link watch — the pure part.
//!
//! When the active's server dies and is restarted in place, the active's proxy ends every
//! replica connection with it. A standby's ovsdb-server then waits its replication client's
//! reconnect backoff (OVS's 1 s minimum) before it connects again, and the restarted server,
//! which must not answer a client before a replica has confirmed (the proxy's restart hold),
//! answers nothing meanwhile. So each standby's entrypoint watches its own connections to the
//! VIP's replication ports (sock_diag, every [`POLL`]); when an established one is gone and no
//! new one is being made, it asks its server to reconnect at once
//! (`ovsdb-server/connect-active-ovsdb-server`, which on OVS 3.1 opens a fresh session with no
//! backoff; the proxy holds the new connection until the restarted server's socket is there).
//! The server's own sync-status cannot tell: it still says `replicating` during its backoff.
//!
//! **Reconnect rule (invariant):** the command is sent only under the role lock
//! (`ovn_ha_contract::ROLE_LOCK`), after the server was seen, under that lock, to be a backup
//! ([`may_reconnect`]) with no link to the port established or being made, and never while
//! this host holds the VIP — so it never undoes a promotion, and it only shortens a wait the
//! server would end by itself. A link the server is making on its own (its first connect, the
//! agent's re-point after a failover) is left alone; at most one reconnect per [`MIN_GAP`].
//!
//! **At the active's schema conversion** (the last step of a rolling upgrade across an OVN
//! schema change) every replica's link ends too, and a backup on the old schema cannot
//! replicate the new one: reconnected as it is, its replication stops and it turns active;
//! the agent's next monitor (up to 2 s later) converted it, and the active's proxy held every
//! reply until a standby confirmed again. So while this node's database file is behind its
//! image's schema, an ended link first asks the VIP's replication port which schema it
//! serves ([`after_link_end`]); if that is not the file's, the backup is converted to it on
//! the spot (made active, converted, reconnected), all under the role lock after the same
//! checks as a reconnect: a conversion never touches a promoted copy.
//! **A connect that hangs is dialled again:** after a failover the agent re-points every
//! backup at the VIP in Pacemaker's post-promote notification, which runs before the VIP
//! starts on the new active; the backup's SYN then goes to the lost node's address and the
//! kernel sends it again only after its 1 s retransmission timeout (measured: a standby linked
//! to the new active 1.85 s after the VIP moved, and the active holds replies until its
//! standbys link). So a link seen only being made for [`SYN_PATIENCE`] is reconnected (a fresh
//! SYN, after the VIP's gratuitous ARP), then again after twice as long each time, up to
//! [`MAX_REDIAL_GAP`], until one is established — under the same rule as a reconnect.
//!
//! This module decides; `cmd/standby_link.rs` does the I/O.

use ovn_ha_schema::Version;
use ovsdb_unixctl::{Link as ReplicationLink, Role};
use std::time::{Duration, Instant};

/// How often the links are looked at.
pub const POLL: Duration = Duration::from_millis(20);
/// Shortest time between two reconnects of one database.
pub const MIN_GAP: Duration = Duration::from_millis(500);
/// How long a connect may hang (`SYN_SENT`) before it is dialled again; a SYN-ACK on a LAN
/// takes well under a millisecond.
pub const SYN_PATIENCE: Duration = Duration::from_millis(200);
/// Longest gap between two redials of a connect that keeps hanging (no copy at the VIP).
pub const MAX_REDIAL_GAP: Duration = Duration::from_secs(2);

/// What one poll saw of this host's link to the VIP's replication port of one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// This host holds the VIP: its copy is the one followed, not a follower.
    HoldsVip,
    /// An established connection to the port.
    Established,
    /// Only a connection being made (`SYN_SENT`): the server's own attempt.
    Connecting,
    /// None.
    Unlinked,
}

/// What to do after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Wait,
    /// Check the server under the role lock and, if [`may_reconnect`], reconnect it.
    Reconnect,
    /// The same for a connect that hangs: only if the link is still only being made.
    Redial,
}

/// One database's link, across polls.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// An established link was seen at the last poll.
    had: bool,
    last_reconnect: Option<Instant>,
    /// Since when only a connect being made was seen, and how long to wait before dialling
    /// again from then.
    hanging: Option<(Instant, Duration)>,
}

impl Watch {
    /// The step after a poll at `now` that saw `seen`.
    pub fn observe(&mut self, now: Instant, seen: Seen) -> Step {
        if !matches!(seen, Seen::Connecting) {
            self.hanging = None;
        }
        match seen {
            Seen::HoldsVip => {
                self.had = false;
                Step::Wait
            }
            Seen::Connecting => {
                self.had = false;
                let (since, patience) = *self.hanging.get_or_insert((now, SYN_PATIENCE));
                if now.saturating_duration_since(since) < patience {
                    return Step::Wait;
                }
                self.hanging = Some((now, (patience * 2).min(MAX_REDIAL_GAP)));
                self.last_reconnect = Some(now);
                Step::Redial
            }
            Seen::Established => {
                self.had = true;
                Step::Wait
            }
            Seen::Unlinked => {
                if !std::mem::take(&mut self.had) {
                    return Step::Wait;
                }
                if self
                    .last_reconnect
                    .is_some_and(|t| now.saturating_duration_since(t) < MIN_GAP)
                {
                    return Step::Wait;
                }
                self.last_reconnect = Some(now);
                Step::Reconnect
            }
        }
    }
}

/// Whether a server in `role` may be told to reconnect: a backup whose replication has not
/// failed. An active copy never (the command would make it a backup); a failed or unconfigured
/// one is the agent's to handle. `replicating` qualifies: OVS keeps saying so while it waits
/// out its backoff after the link ended.
pub fn may_reconnect(role: &Role) -> bool {
    matches!(
        role,
        Role::Backup(b) if matches!(
            b.link,
            ReplicationLink::Connecting | ReplicationLink::NotConnected | ReplicationLink::Replicating
        )
    )
}

/// What a backup does once its link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterLinkEnd {
    /// Reconnect as it is (the usual case: the active failed or restarted).
    Reconnect,
    /// Convert its database to the schema the active serves now, then reconnect.
    Convert { from: Version, to: Version },
}

/// **Conversion rule:** a backup converts when its file is on another schema than the one the
/// active serves now (`active`, `None` when the VIP did not answer) — only ever looked at
/// while the file is behind the image (an upgrade is under way: `file` < `image`), so an
/// ended link costs a schema fetch only then.
pub fn after_link_end(file: Version, image: Version, active: Option<Version>) -> AfterLinkEnd {
    match active {
        Some(to) if file < image && to != file => AfterLinkEnd::Convert { from: file, to },
        _ => AfterLinkEnd::Reconnect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovsdb_unixctl::BackupStatus;

    fn backup(link: ReplicationLink) -> Role {
        Role::Backup(BackupStatus {
            target: "tcp:198.18.0.100:6643".into(),
            link,
            replicated: vec![],
            excluded: None,
        })
    }

    #[test]
    fn only_a_link_that_existed_and_is_gone_asks_for_a_reconnect() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = Watch::default();
        // (time, seen, step)
        let table = [
            (0, Seen::Connecting, Step::Wait),     // the server's first connect
            (20, Seen::Unlinked, Step::Wait),      // refused: its own backoff, never linked
            (40, Seen::Established, Step::Wait),   // replicating
            (60, Seen::Established, Step::Wait),   // still
            (80, Seen::Unlinked, Step::Reconnect), // the active's server died
            (100, Seen::Unlinked, Step::Wait),     // asked once, not again
            (120, Seen::Established, Step::Wait),  // reconnected
            (140, Seen::Unlinked, Step::Wait),     // gone again within MIN_GAP: its own backoff
            (700, Seen::Established, Step::Wait),
            (720, Seen::Connecting, Step::Wait), // re-pointed by the agent: a new link
            (740, Seen::Unlinked, Step::Wait),   // that one failed: not ours to hurry
            (760, Seen::Established, Step::Wait),
            (780, Seen::Unlinked, Step::Reconnect), // past MIN_GAP
            (800, Seen::Established, Step::Wait),
            (820, Seen::HoldsVip, Step::Wait), // promoted here: nothing to follow
            (840, Seen::Unlinked, Step::Wait), // the link ended with the promotion
        ];
        for (at, seen, want) in table {
            assert_eq!(w.observe(ms(at), seen), want, "at {at} ms, {seen:?}");
        }
    }

    #[test]
    fn a_connect_that_hangs_is_dialled_again_sooner_than_the_kernel_would() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = Watch::default();
        // (time, seen, step)
        let table = [
            (0, Seen::Established, Step::Wait),
            (20, Seen::Connecting, Step::Wait), // the agent re-pointed it (post-promote)
            (200, Seen::Connecting, Step::Wait),
            (220, Seen::Connecting, Step::Redial), // 200 ms without a SYN-ACK
            (240, Seen::Connecting, Step::Wait),   // the fresh SYN
            (619, Seen::Connecting, Step::Wait),
            (620, Seen::Connecting, Step::Redial), // then 400 ms
            (1_420, Seen::Connecting, Step::Redial), // 800 ms
            (3_020, Seen::Connecting, Step::Redial), // 1.6 s
            (5_019, Seen::Connecting, Step::Wait),
            (5_020, Seen::Connecting, Step::Redial), // 2 s at most
            (5_040, Seen::Established, Step::Wait),  // linked: the patience starts over
            (5_060, Seen::Connecting, Step::Wait),
            (5_260, Seen::Connecting, Step::Redial),
            (5_280, Seen::HoldsVip, Step::Wait), // promoted here
            (5_300, Seen::Connecting, Step::Wait),
        ];
        for (at, seen, want) in table {
            assert_eq!(w.observe(ms(at), seen), want, "at {at} ms, {seen:?}");
        }
    }

    #[test]
    fn a_backup_converts_only_to_an_active_schema_its_file_lacks_during_an_upgrade() {
        let (old, new) = (Version(7, 0, 0), Version(7, 11, 0));
        let convert = AfterLinkEnd::Convert { from: old, to: new };
        // (file, image, the active's, step)
        let table = [
            (old, new, Some(new), convert), // the active converted: follow it now
            (old, new, Some(old), AfterLinkEnd::Reconnect), // a handover or a crash, no change
            (old, new, None, AfterLinkEnd::Reconnect), // the VIP is moving: the monitor decides
            (new, new, Some(new), AfterLinkEnd::Reconnect), // converted already
            (new, new, Some(old), AfterLinkEnd::Reconnect), // no upgrade here: never downgrade
        ];
        for (file, image, active, want) in table {
            assert_eq!(
                after_link_end(file, image, active),
                want,
                "{file} {image} {active:?}"
            );
        }
    }

    #[test]
    fn only_a_backup_that_is_not_replicating_is_reconnected() {
        let table = [
            (Role::Active, false),
            (backup(ReplicationLink::Connecting), true),
            (backup(ReplicationLink::NotConnected), true),
            (backup(ReplicationLink::Replicating), true),
            (backup(ReplicationLink::Failed), false),
            (backup(ReplicationLink::NotConfigured), false),
        ];
        for (role, want) in table {
            assert_eq!(may_reconnect(&role), want, "{role:?}");
        }
    }
}
