//! The corosync node list while the pod runs: takes the pod sets the [`pod_watch`] thread
//! reports, and when the members they describe differ from the running ones, rewrites
//! `/etc/corosync/corosync.conf` atomically (new file beside it, then rename) and reloads
//! corosync with `corosync-cfgtool -R`. Runs on the supervisor's thread between its ticks; each
//! step is bounded (one CLI call of at most 10 s) and logs one line per change.
//!
//! Invariants:
//! - `quorum.expected_votes` is never below the Deployment's replica count nor the number of
//!   listed nodes ([`expected_votes`]), so a partial list never makes a minority quorate.
//! - A pod list that does not show this node at `POD_IP` is never applied (the members stay).
//! - A node leaves the list only when its pod object is gone (a terminating pod stays a
//!   member while it hands over), see [`ovnkube_db_ha::pod_peers`].
//!
//! Departed nodes in Pacemaker: once a removed node is out of corosync's node list (the reload
//! succeeded) and Pacemaker shows it offline, its node entry is removed with
//! `crm_node --force -R <name>`. Pacemaker would otherwise keep an offline entry for every node
//! a pod ever ran on, and `status` would list them for ever; the entry holds nothing the
//! cluster needs (no resource runs there, votes come from corosync), and a pod rescheduled back
//! onto that node is simply added again when it joins. A node still online is never removed.
//!
//! [`pod_watch`]: super::pod_watch
//! [`expected_votes`]: ovnkube_db_ha::corosync_conf::expected_votes

use super::pcmk::cluster_status;
use super::pod_watch::WatchReport;
use super::proc::checked;
use anyhow::{Context, Result};
use ovnkube_db_ha::corosync_conf::{AUTHKEY_PATH, CorosyncConf, expected_votes};
use ovnkube_db_ha::env_config::Timings;
use ovnkube_db_ha::peers::{Member, Peer, members};
use ovnkube_db_ha::pod_peers::{PodView, peers_from_pods};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// Time limit of `corosync-cfgtool -R` and `crm_node -R`.
const CLI_LIMIT: Duration = Duration::from_secs(10);
/// Backoff bounds of a failed reload.
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often departed nodes are looked for in Pacemaker, and how many looks each gets.
const FORGET_EVERY: Duration = Duration::from_secs(5);
const FORGET_LOOKS: u32 = 24;

ovnkube_db_ha::log_part!("members");

/// The text of `corosync.conf` for these members.
pub fn corosync_conf_text(members: &[Member], timings: Timings, replicas: Option<u32>) -> String {
    CorosyncConf {
        members,
        timings,
        keyfile: AUTHKEY_PATH,
        expected_votes: expected_votes(replicas, members.len()),
    }
    .render()
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over `path`.
pub fn write_atomically(path: &str, data: &[u8], mode: u32) -> Result<()> {
    let target = Path::new(path);
    let dir = target.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.new"));
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, target).with_context(|| format!("renaming {} to {path}", tmp.display()))
}

/// The running members and the source of changes.
#[derive(Debug)]
pub struct Membership {
    me: Peer,
    replicas: Option<u32>,
    timings: Timings,
    conf_path: String,
    current: Vec<Member>,
    watch: Option<Receiver<WatchReport>>,
    /// Latest pod set not looked at yet, and when it may be tried (after a failed write).
    pending: Option<(Vec<PodView>, Instant)>,
    /// Last problem or skip note logged, so each is logged once.
    last_note: String,
    /// A reload owed to corosync: when to try and the backoff after that.
    reload: Option<(Instant, Duration)>,
    /// Members added and removed since the last successful reload (for its log line).
    change: (BTreeSet<String>, BTreeSet<String>),
    /// Departed nodes to remove from Pacemaker, with the looks left.
    forget: Vec<(String, u32)>,
    next_forget: Instant,
}

impl Membership {
    /// `current` is what corosync was started with; `watch` is `None` for a static list.
    pub fn new(
        me: Peer,
        replicas: Option<u32>,
        timings: Timings,
        conf_path: &str,
        current: Vec<Member>,
        watch: Option<Receiver<WatchReport>>,
    ) -> Self {
        Membership {
            me,
            replicas,
            timings,
            conf_path: conf_path.to_string(),
            current,
            watch,
            pending: None,
            last_note: String::new(),
            reload: None,
            change: Default::default(),
            forget: Vec::new(),
            next_forget: Instant::now(),
        }
    }

    /// Every member: name and ring address.
    pub fn members(&self) -> Vec<(String, std::net::IpAddr)> {
        self.current
            .iter()
            .map(|m| (m.name.clone(), m.addr))
            .collect()
    }

    /// How many nodes the cluster is configured for: the Deployment's replicas, at least the
    /// members known now.
    pub fn expected(&self) -> usize {
        let replicas = self.replicas.map_or(0, |r| r as usize);
        replicas.max(self.current.len())
    }

    fn note(&mut self, text: String) {
        if text != self.last_note {
            if !text.is_empty() {
                log(&text);
            }
            self.last_note = text;
        }
    }

    /// One step, between supervisor ticks: take the newest pod set, apply a member change,
    /// retry an owed reload, remove departed nodes from Pacemaker.
    pub fn tick(&mut self) {
        self.receive();
        if let Some((pods, at)) = self.pending.take() {
            if Instant::now() >= at {
                self.consider(pods);
            } else {
                self.pending = Some((pods, at));
            }
        }
        if let Some((at, backoff)) = self.reload
            && Instant::now() >= at
        {
            self.try_reload(backoff);
        }
        if self.reload.is_none() && !self.forget.is_empty() && Instant::now() >= self.next_forget {
            self.next_forget = Instant::now() + FORGET_EVERY;
            self.forget_departed();
        }
    }

    fn receive(&mut self) {
        let Some(rx) = &self.watch else { return };
        // Bounded: drains what is queued now, keeping only the newest pod set.
        for _ in 0..10_000 {
            match rx.try_recv() {
                Ok(WatchReport::Pods(pods)) => self.pending = Some((pods, Instant::now())),
                Ok(WatchReport::NoConfig(e) | WatchReport::Unreachable(e)) => log(e),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    log("the pod watcher stopped; keeping the current members");
                    self.watch = None;
                    return;
                }
            }
        }
    }

    fn consider(&mut self, pods: Vec<PodView>) {
        let found = match peers_from_pods(&pods, &self.me) {
            Ok(found) => found,
            Err(e) => {
                self.note(format!("not applying the pod list: {e}"));
                return;
            }
        };
        let wanted = match members(&found.peers) {
            Ok(m) => m,
            Err(e) => {
                self.note(format!("not applying the pod list: {e}"));
                return;
            }
        };
        self.note(found.skipped.join("; "));
        if wanted == self.current {
            return;
        }
        let text = corosync_conf_text(&wanted, self.timings, self.replicas);
        if let Err(e) = write_atomically(&self.conf_path, text.as_bytes(), 0o644) {
            log(format!("{e:#}; trying again in {RETRY_MIN:?}"));
            self.pending = Some((pods, Instant::now() + RETRY_MIN));
            return;
        }
        let names =
            |m: &[Member]| -> BTreeSet<String> { m.iter().map(|m| m.name.clone()).collect() };
        let (old, new) = (names(&self.current), names(&wanted));
        for added in new.difference(&old) {
            if !self.change.1.remove(added) {
                self.change.0.insert(added.clone());
            }
        }
        for removed in old.difference(&new) {
            if !self.change.0.remove(removed) {
                self.change.1.insert(removed.clone());
            }
        }
        self.forget.retain(|(name, _)| !new.contains(name));
        self.current = wanted;
        self.reload = Some((Instant::now(), RETRY_MIN));
    }

    fn try_reload(&mut self, backoff: Duration) {
        let summary = format!(
            "{} (added: {}; removed: {}; expected votes {})",
            self.current
                .iter()
                .map(|m| format!("{}={}", m.name, m.addr))
                .collect::<Vec<_>>()
                .join(","),
            join_or_none(&self.change.0),
            join_or_none(&self.change.1),
            expected_votes(self.replicas, self.current.len())
        );
        match checked("corosync-cfgtool", &["-R"], None, CLI_LIMIT) {
            Ok(_) => {
                log(format!("now {summary}; corosync reloaded"));
                let removed = std::mem::take(&mut self.change.1);
                self.change.0.clear();
                self.forget
                    .extend(removed.into_iter().map(|name| (name, FORGET_LOOKS)));
                self.next_forget = Instant::now() + FORGET_EVERY;
                self.reload = None;
            }
            Err(e) => {
                log(format!(
                    "wrote {summary}, but the reload failed (next try in {backoff:?}): {e:#}"
                ));
                self.reload = Some((Instant::now() + backoff, (backoff * 2).min(RETRY_MAX)));
            }
        }
    }

    /// Removes departed nodes that Pacemaker shows offline; a node still online waits, and
    /// each gets a bounded number of looks.
    fn forget_departed(&mut self) {
        let status = match cluster_status() {
            Ok(s) => s,
            Err(_) => {
                self.forget.retain_mut(|(_, looks)| {
                    *looks -= 1;
                    *looks > 0
                });
                return;
            }
        };
        let mut keep = Vec::new();
        for (name, looks) in std::mem::take(&mut self.forget) {
            match status.nodes.iter().find(|n| n.name == name) {
                None => {}
                Some(n) if n.online => {
                    if looks > 1 {
                        keep.push((name, looks - 1));
                    } else {
                        log(format!(
                            "{name} left the node list but Pacemaker still shows it online; leaving its entry"
                        ));
                    }
                }
                Some(_) => match checked("crm_node", &["--force", "-R", &name], None, CLI_LIMIT) {
                    Ok(_) => log(format!("removed the departed node {name} from Pacemaker")),
                    Err(e) if looks > 1 => {
                        log(format!(
                            "removing {name} from Pacemaker failed, will retry: {e:#}"
                        ));
                        keep.push((name, looks - 1));
                    }
                    Err(e) => log(format!("giving up removing {name} from Pacemaker: {e:#}")),
                },
            }
        }
        self.forget = keep;
    }
}

fn join_or_none(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::write_atomically;

    #[test]
    fn writes_atomically_with_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corosync.conf");
        let path = path.to_str().unwrap();
        std::fs::write(path, "old").unwrap();
        write_atomically(path, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "new");
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
    }
}
