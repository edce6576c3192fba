//! The `soak` scenario of `cargo xtask bench failover`: a Pacemaker stack left alone for
//! `--soak-minutes` while one busy thread per core burns the machine's CPU, counting what
//! nobody asked for: corosync membership changes (distinct ring ids in "A new membership (…) was
//! formed" lines of every host's log since the soak began), late tokens (corosync's "Token has
//! not been received in … ms" warnings: near misses), promotions (Pacemaker's "Result of promote
//! operation" lines in the file `PCMK_logfile` names, set for the soak) and changes of the active
//! host seen by a sampler every 2 s; a light writer
//! (one `ovn-nbctl ls-add` a second) reports failed and slow writes and acknowledged writes lost.
//! The log parsing is pure and tested here.

use crate::stack::{PacemakerUp, Quiet, Stack, site, up_pacemaker};
use crate::timing::{clock, poll};
use anyhow::{Context, Result};
use ovn_ha_local::cluster::{self, Site};
use ovn_ha_local::observe;
use ovn_ha_local::writer::{self, Writer, WriterSpec};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What one soak saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoakResult {
    pub stack: String,
    pub minutes: f64,
    pub burner_threads: usize,
    pub membership_changes: usize,
    pub late_tokens: usize,
    /// `None`: no Pacemaker log to count them in.
    pub promotions: Option<usize>,
    pub active_changes: usize,
    /// Samples in which no host had an active copy.
    pub no_active_samples: usize,
    /// Samples in which two hosts were writable and reachable.
    pub split_brain_samples: usize,
    pub samples: usize,
    pub writes: usize,
    pub failed_writes: usize,
    pub slow_writes: usize,
    pub lost: usize,
}

impl SoakResult {
    pub fn summary(&self) -> String {
        format!(
            "{:.1} min, {} membership changes, {} late tokens, {} promotions, {} active-host changes, {} of {} writes failed, {} slow, {} acked lost",
            self.minutes,
            self.membership_changes,
            self.late_tokens,
            count_or_dash(self.promotions),
            self.active_changes,
            self.failed_writes,
            self.writes,
            self.slow_writes,
            self.lost
        )
    }
}

/// Ring ids of the memberships corosync formed, in the order logged
/// (`… [TOTEM ] A new membership (1.2a) was formed. Members joined: 2`).
pub fn membership_ids(log: &str) -> Vec<String> {
    const MARK: &str = "A new membership (";
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(MARK)? + MARK.len()..];
            let id = &rest[..rest.find(')')?];
            (rest[id.len()..].starts_with(") was formed")).then(|| id.to_string())
        })
        .collect()
}

/// Membership changes across all hosts' logs: each membership is logged by every member, so
/// distinct ring ids count.
pub fn membership_changes<'a>(logs: impl IntoIterator<Item = &'a str>) -> usize {
    logs.into_iter()
        .flat_map(membership_ids)
        .collect::<BTreeSet<_>>()
        .len()
}

/// corosync's warnings that a token came late (a membership change was close).
pub fn late_tokens(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Token has not been received in"))
        .count()
}

/// corosync's lines about the token, memberships and knet links: what to read when a soak
/// counted something.
pub fn notable_lines(log: &str) -> Vec<&str> {
    const MARKS: [&str; 4] = [
        "Token has not been received in",
        "token timed out",
        "A new membership (",
        "[KNET  ] link: host:",
    ];
    log.lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .collect()
}

/// Promotions Pacemaker's controller ran on this host (`Result of promote operation for
/// ovndb_servers on h2: ok`).
pub fn promotions(pacemaker_log: &str) -> usize {
    pacemaker_log
        .lines()
        .filter(|l| l.contains("Result of promote operation for"))
        .count()
}

/// Changes of the active host between samples; samples without one are skipped (an outage is
/// not a change unless another host comes back active).
pub fn active_changes(samples: &[Option<String>]) -> usize {
    let mut last: Option<&str> = None;
    let mut changes = 0;
    for s in samples.iter().flatten() {
        if last.is_some_and(|l| l != s) {
            changes += 1;
        }
        last = Some(s);
    }
    changes
}

/// One busy thread per core, each stopping by itself at its deadline; dropped → stopped and
/// joined.
struct Burner {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Burner {
    fn start(n: usize, limit: Duration) -> Burner {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                        for i in 0..100_000u64 {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                    }
                })
            })
            .collect();
        Burner { stop, threads }
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Pacemaker's log file in the container when the entrypoint names none (on the `var-log`
/// emptyDir volume, as is the entrypoint's own `/var/log/pacemaker/pacemaker.log`).
const FALLBACK_PACEMAKER_LOG: &str = "/var/log/pacemaker.log";

/// A host's logs: the container's output (entrypoint and corosync) and Pacemaker's file, at the
/// entrypoint's path and at the fallback.
fn logs(site: &Site, host: &str) -> (PathBuf, [PathBuf; 2]) {
    let var_log = site.state_dir.join("hosts").join(host).join("pod/var-log");
    (
        site.state_dir.join("logs").join(format!("{host}.log")),
        [
            var_log.join("pacemaker/pacemaker.log"),
            var_log.join("pacemaker.log"),
        ],
    )
}

fn size(path: &PathBuf) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The text appended to `path` after byte `from`.
fn tail(path: &PathBuf, from: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Where each log stood when the soak began: (path, size) of every host's container log and
/// of every Pacemaker log candidate.
struct Marks {
    container: Vec<(PathBuf, u64)>,
    pacemaker: Vec<(PathBuf, u64)>,
}

impl Marks {
    fn take(site: &Site, hosts: &[String]) -> Marks {
        let mut marks = Marks {
            container: Vec::new(),
            pacemaker: Vec::new(),
        };
        for h in hosts {
            let (c, p) = logs(site, h);
            marks.container.push((c.clone(), size(&c)));
            marks
                .pacemaker
                .extend(p.into_iter().map(|p| (p.clone(), size(&p))));
        }
        marks
    }

    /// [`notable_lines`] of every host's container log since the marks, host by host.
    fn notable(&self) -> Vec<String> {
        self.container
            .iter()
            .flat_map(|(c, s)| {
                let host = c.file_stem().map(|h| h.to_string_lossy().into_owned());
                let host = host.unwrap_or_default();
                notable_lines(&tail(c, *s))
                    .into_iter()
                    .map(|l| format!("{host}: {l}"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// (membership changes, late tokens, promotions) since the marks; promotions are unknown
    /// when no host has a Pacemaker log.
    fn count(&self) -> (usize, usize, Option<usize>) {
        let container: Vec<String> = self.container.iter().map(|(c, s)| tail(c, *s)).collect();
        let logged = self.pacemaker.iter().any(|(p, _)| p.is_file());
        let promoted = self
            .pacemaker
            .iter()
            .map(|(p, s)| promotions(&tail(p, *s)))
            .sum();
        (
            membership_changes(container.iter().map(String::as_str)),
            container.iter().map(|t| late_tokens(t)).sum(),
            logged.then_some(promoted),
        )
    }
}

fn count_or_dash(n: Option<usize>) -> String {
    n.map_or("–".into(), |n| n.to_string())
}

/// Runs one soak of `stack` for `length`.
pub fn run(stack: Stack, length: Duration, image: &str, realtime: bool) -> Result<SoakResult> {
    let result = (|| -> Result<SoakResult> {
        // The entrypoint names Pacemaker's log file itself; an older one named none, so the
        // soak asks for one (the entrypoint's own setting wins where it has one).
        let up: PacemakerUp = up_pacemaker(
            stack,
            image,
            &[("PCMK_logfile", FALLBACK_PACEMAKER_LOG)],
            realtime,
        )?;
        let site = &up.site;
        poll(Duration::from_secs(120), || {
            observe::converged(&observe::sample(site), 3)
        })
        .context("the cluster did not converge")?;
        // Let the start-up transitions finish and reach the logs.
        std::thread::sleep(Duration::from_secs(5));
        let hosts = cluster::running_hosts(site);
        let marks = Marks::take(site, &hosts);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let burner = Burner::start(cores, length + Duration::from_secs(60));
        let watcher = crate::pauses::Watcher::start(length + Duration::from_secs(60));
        let remote = up.config.ovn_north();
        let mut spec = WriterSpec::new(&remote, "soak");
        spec.interval = Duration::from_secs(1);
        spec.max_time = length + Duration::from_secs(60);
        spec.max_writes = u32::try_from(spec.max_time.as_secs() * 2).unwrap_or(u32::MAX);
        let w = Writer::start(spec);
        let start = Instant::now();
        let mut actives: Vec<Option<String>> = Vec::new();
        let (mut none, mut split) = (0, 0);
        let mut next_report = Duration::from_secs(60);
        while start.elapsed() < length {
            let views = observe::sample(site);
            actives.push(observe::active_host(&views).map(str::to_string));
            if !views.iter().any(|v| v.nb == observe::Copy::Active) {
                none += 1;
            }
            if observe::writable_and_reachable(&views).len() > 1 {
                split += 1;
            }
            if start.elapsed() >= next_report {
                let (m, l, p) = marks.count();
                eprintln!(
                    "    soak {stack}: {} of {}: {m} membership changes, {l} late tokens, {} promotions, {} active-host changes so far",
                    clock(start.elapsed()),
                    clock(length),
                    count_or_dash(p),
                    active_changes(&actives)
                );
                next_report += Duration::from_secs(60);
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        let records = w.stop();
        drop(burner);
        eprintln!("    {}", watcher.stop().summary());
        for line in marks.notable().iter().take(40) {
            eprintln!("    {line}");
        }
        let minutes = start.elapsed().as_secs_f64() / 60.0;
        let present = writer::switches_within(&remote, &[], Duration::from_secs(60))
            .with_context(|| format!("the end check read no switch list through {remote}"))?;
        let (membership_changes, late_tokens, promotions) = marks.count();
        Ok(SoakResult {
            stack: stack.to_string(),
            minutes,
            burner_threads: cores,
            membership_changes,
            late_tokens,
            promotions,
            active_changes: active_changes(&actives),
            no_active_samples: none,
            split_brain_samples: split,
            samples: actives.len(),
            writes: records.len(),
            failed_writes: records.iter().filter(|r| !r.acked).count(),
            slow_writes: records
                .iter()
                .filter(|r| r.ended - r.started > Duration::from_millis(500))
                .count(),
            lost: writer::lost(&records, &present).len(),
        })
    })();
    cluster::down(&site(), &mut Quiet)?;
    result
}

/// The soak table.
pub fn table(results: &[SoakResult]) -> String {
    let mut out = String::from(
        "| stack | minutes | burner threads | membership changes | late tokens | promotions | active-host changes | samples without active / split brain | writes (failed / > 0.5 s) | acked lost |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} / {} of {} | {} ({} / {}) | {} |\n",
            r.stack,
            r.minutes,
            r.burner_threads,
            r.membership_changes,
            r.late_tokens,
            count_or_dash(r.promotions),
            r.active_changes,
            r.no_active_samples,
            r.split_brain_samples,
            r.samples,
            r.writes,
            r.failed_writes,
            r.slow_writes,
            r.lost
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "\
Nov 25 22:49:01.123 notice  [TOTEM ] A new membership (fa1e.5) was formed. Members joined: 64030
Nov 25 22:49:01.456 notice  [TOTEM ] A new membership (f774.9) was formed. Members joined: 63348 63971
Nov 25 22:59:11.000 notice  [TOTEM ] Token has not been received in 450 ms 
Nov 25 22:59:12.000 notice  [TOTEM ] A new membership (1.d) was formed. Members left: 3
Nov 25 22:59:12.000 notice  [QUORUM] Members[2]: 1 2
";
    const H2: &str = "\
Nov 25 22:49:01.456 notice  [TOTEM ] A new membership (f774.9) was formed. Members joined: 63348 64030
Nov 25 22:59:12.000 notice  [TOTEM ] A new membership (1.d) was formed. Members left: 3
Nov 25 22:59:12.000 notice  [MAIN  ] some line mentioning A new membership (x) elsewhere
";

    #[test]
    fn notable_lines_are_token_membership_and_link_lines() {
        let log = "Nov 26 06:44:12 warning [TOTEM ] Token has not been received in 450 ms\n\
                   Nov 26 06:44:12 notice  [TOTEM ] A processor failed, forming new configuration: token timed out (600ms), waiting 720ms for consensus.\n\
                   Nov 26 06:44:13 notice  [QUORUM] Sync members[3]: 1 2 3\n\
                   Nov 26 06:44:13 notice  [TOTEM ] A new membership (1.2a) was formed. Members\n\
                   Nov 26 06:44:14 info    [KNET  ] link: host: 2 link: 0 is down\n";
        let n = notable_lines(log);
        assert_eq!(n.len(), 4);
        assert!(n[1].contains("token timed out") && n[3].contains("is down"));
    }

    #[test]
    fn memberships_are_counted_once_across_hosts() {
        assert_eq!(membership_ids(H1), ["fa1e.5", "f774.9", "1.d"]);
        assert_eq!(membership_ids(H2), ["f774.9", "1.d"]);
        assert_eq!(membership_changes([H1, H2]), 3);
        assert_eq!(membership_changes([""]), 0);
        assert_eq!(late_tokens(H1), 1);
        assert_eq!(late_tokens(H2), 0);
    }

    #[test]
    fn promotions_and_active_changes() {
        let log = "\
Nov 26 00:19:30.988 bench-h3 pacemaker-controld  [31] (log_executor_event) \tnotice: Result of promote operation for ovndb_servers on bench-h3: ok | CIB update 22, graph action confirmed; call=14 key=ovndb_servers_promote_0 rc=0
Nov 25 22:49:20 h2 pacemaker-controld  [77] (log_executor_event) notice: Result of notify operation for ovndb_servers on h2: ok
Nov 25 22:59:20 h2 pacemaker-controld  [77] (log_executor_event) notice: Result of promote operation for ovndb_servers on h2: ok | rc=0
";
        assert_eq!(promotions(log), 2);
        let s = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter().map(|x| x.map(str::to_string)).collect()
        };
        assert_eq!(
            active_changes(&s(&[Some("a"), Some("a"), None, Some("a")])),
            0
        );
        assert_eq!(
            active_changes(&s(&[Some("a"), None, Some("b"), Some("a")])),
            2
        );
        assert_eq!(active_changes(&s(&[])), 0);
    }

    #[test]
    fn table_and_burner() {
        let r = SoakResult {
            stack: "ours".into(),
            minutes: 2.0,
            burner_threads: 2,
            samples: 60,
            writes: 120,
            promotions: Some(0),
            ..SoakResult::default()
        };
        let t = table(std::slice::from_ref(&r));
        assert!(
            t.contains("| ours | 2.0 | 2 | 0 | 0 | 0 | 0 | 0 / 0 of 60 | 120 (0 / 0) | 0 |"),
            "{t}"
        );
        assert!(r.summary().contains("0 membership changes"));
        let unknown = SoakResult {
            promotions: None,
            ..r.clone()
        };
        assert!(table(&[unknown]).contains("| 0 | 0 | – | 0 |"));
        let started = Instant::now();
        let b = Burner::start(2, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
        drop(b);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stops when dropped"
        );
    }
}
