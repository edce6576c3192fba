//! A bounded client that writes through an OVSDB remote, one short-lived `ovn-nbctl` per write
//! (as OVN's command-line users do), from the machine or from inside a test host's network
//! namespace (where ovn-northd or ovnkube-master would sit on a DB node), optionally with a
//! large transaction now and then; and the pure analysis of what it saw around a fault. The
//! e2e fault suite and the failover benchmark use this same writer for every stack.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to write where, and the bounds.
#[derive(Debug, Clone)]
pub struct WriterSpec {
    /// `tcp:VIP:6641`, or several remotes comma-separated (RAFT).
    pub remote: String,
    /// Prefix of the logical switch names written (`<tag>-<n>`).
    pub tag: String,
    /// Pause between the end of one write and the start of the next.
    pub interval: Duration,
    /// `ovn-nbctl --timeout`, in seconds.
    pub timeout_s: u32,
    /// Most writes.
    pub max_writes: u32,
    /// Longest run.
    pub max_time: Duration,
    /// Network namespace to write from (a test host's name); `None`: the machine.
    pub netns: Option<String>,
    /// Every this many writes, one carries [`BIG_BYTES`] of payload (0: never).
    pub big_every: u32,
    /// Where a large write puts its payload: `None`, on the new switch itself (the data grows
    /// with every large write); `Some(k)`, on one of `k` ballast switches of this writer
    /// (`<tag>-ballast-<i>`), overwritten in turn, so that the data stays bounded in a long run.
    pub ballast_ring: Option<u32>,
    /// `ovn-nbctl`'s key, certificate and CA options for an `ssl:` remote (empty: none).
    pub ssl: Vec<String>,
}

/// Payload of a large write: above 256 KiB, in external_ids values under the kernel's limit for
/// one argument (128 KiB).
pub const BIG_BYTES: usize = 300 * 1024;
const BIG_PIECE: usize = 100 * 1024;

impl WriterSpec {
    pub fn new(remote: &str, tag: &str) -> WriterSpec {
        WriterSpec {
            remote: remote.into(),
            tag: tag.into(),
            interval: Duration::from_millis(50),
            timeout_s: 1,
            max_writes: 5_000,
            max_time: Duration::from_secs(240),
            netns: None,
            big_every: 0,
            ballast_ring: None,
            ssl: Vec::new(),
        }
    }
}

/// One write attempt, timed from the writer's epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    pub name: String,
    pub started: Duration,
    pub ended: Duration,
    pub acked: bool,
}

/// A running writer; [`Writer::stop`] ends it and returns what it did.
#[derive(Debug)]
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<WriteRecord>>,
    epoch: Instant,
}

/// Runs one `ovn-nbctl` write; whether it was acknowledged.
pub fn write_once(remote: &str, timeout_s: u32, args: &[&str]) -> bool {
    write_once_from(None, remote, timeout_s, args)
}

/// Runs one `ovn-nbctl` write from `netns` (a test host's name) or the machine.
pub fn write_once_from(netns: Option<&str>, remote: &str, timeout_s: u32, args: &[&str]) -> bool {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ovn-nbctl"]);
            c
        }
        None => Command::new("ovn-nbctl"),
    };
    cmd.arg(format!("--db={remote}"))
        .arg(format!("--timeout={timeout_s}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Writer {
    pub fn start(spec: WriterSpec) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut records = Vec::new();
            for n in 0..spec.max_writes {
                if flag.load(Ordering::SeqCst) || epoch.elapsed() >= spec.max_time {
                    break;
                }
                let name = format!("{}-{n}", spec.tag);
                let big = spec.big_every > 0 && n % spec.big_every == spec.big_every - 1;
                let args = match spec.ballast_ring {
                    Some(ring) if big => {
                        let slot = (n / spec.big_every) % ring.max(1);
                        ballast_write_args(&name, &format!("{}-ballast-{slot}", spec.tag))
                    }
                    _ => write_args(&name, big),
                };
                let args: Vec<&str> = spec.ssl.iter().chain(&args).map(String::as_str).collect();
                let started = epoch.elapsed();
                let acked =
                    write_once_from(spec.netns.as_deref(), &spec.remote, spec.timeout_s, &args);
                records.push(WriteRecord {
                    name,
                    started,
                    ended: epoch.elapsed(),
                    acked,
                });
                std::thread::sleep(spec.interval);
            }
            records
        });
        Writer {
            stop,
            handle,
            epoch,
        }
    }

    /// The instant all records are timed from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Time since the epoch, to mark a fault.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub fn stop(self) -> Vec<WriteRecord> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

/// The `ovn-nbctl` arguments of one write: a logical switch, with [`BIG_BYTES`] of
/// external_ids when `big` (pure).
pub fn write_args(name: &str, big: bool) -> Vec<String> {
    sized_write_args(name, if big { BIG_BYTES } else { 0 })
}

/// The `ovn-nbctl` arguments of one write of a logical switch carrying about `bytes` of
/// external_ids, in pieces under the kernel's limit for one argument (pure).
pub fn sized_write_args(name: &str, bytes: usize) -> Vec<String> {
    let mut a = vec!["ls-add".to_string(), name.to_string()];
    if bytes > 0 {
        a.extend([
            "--".into(),
            "set".into(),
            "Logical_Switch".into(),
            name.into(),
        ]);
        a.extend(blob_pieces(bytes));
    }
    a
}

/// The `ovn-nbctl` arguments of one large write that adds the small switch `name` and, in the
/// same transaction, overwrites the [`BIG_BYTES`] of external_ids of the switch `ballast`
/// (created if missing): as large on the wire as [`write_args`]' large write, without growing
/// the database (pure).
pub fn ballast_write_args(name: &str, ballast: &str) -> Vec<String> {
    let mut a = vec![
        "--may-exist".to_string(),
        "ls-add".into(),
        ballast.into(),
        "--".into(),
    ];
    a.extend(sized_write_args(name, 0));
    a.extend([
        "--".into(),
        "set".into(),
        "Logical_Switch".into(),
        ballast.into(),
    ]);
    a.extend(blob_pieces(BIG_BYTES));
    a
}

/// `external_ids:blob<i>=…` pieces of about `bytes` in all, each under the kernel's limit for
/// one argument (pure).
fn blob_pieces(bytes: usize) -> impl Iterator<Item = String> {
    (0..bytes.div_ceil(BIG_PIECE))
        .map(|i| format!("external_ids:blob{i}={}", "x".repeat(BIG_PIECE)))
}

/// The names of the logical switches the remote holds now (`None` if it cannot be read).
pub fn switches(remote: &str, timeout_s: u32) -> Option<Vec<String>> {
    switches_with(remote, &[], timeout_s)
}

/// [`switches`] with `ovn-nbctl`'s `ssl` options (an `ssl:` remote).
pub fn switches_with(remote: &str, ssl: &[String], timeout_s: u32) -> Option<Vec<String>> {
    read_switches(remote, ssl, timeout_s).ok()
}

/// [`switches_with`], or why the read failed: `ovn-nbctl`'s exit status and last stderr line.
pub fn read_switches(remote: &str, ssl: &[String], timeout_s: u32) -> Result<Vec<String>, String> {
    let out = Command::new("ovn-nbctl")
        .arg(format!("--db={remote}"))
        .arg(format!("--timeout={timeout_s}"))
        .args(ssl)
        .args(["--bare", "--columns=name", "list", "Logical_Switch"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ovn-nbctl did not run: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "ovn-nbctl {}: {}",
            out.status,
            err.lines().last().unwrap_or("no stderr")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// [`switches_with`], tried again (every 100 ms, each read bounded by 5 s) until it answers or
/// `limit` passes: an end check must never take a failed read for an empty database (a RAFT
/// client given every member can time out while a restored member rejoins).
pub fn switches_within(remote: &str, ssl: &[String], limit: Duration) -> Option<Vec<String>> {
    switches_reporting(remote, ssl, limit).0
}

/// [`switches_within`], with every failed read's error, in order (empty when the first read
/// answered): a check that retries still shows what it retried over.
pub fn switches_reporting(
    remote: &str,
    ssl: &[String],
    limit: Duration,
) -> (Option<Vec<String>>, Vec<String>) {
    let mut present = None;
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    crate::poll::poll(limit, || match read_switches(remote, ssl, 5) {
        Ok(names) => {
            present = Some(names);
            true
        }
        Err(e) => {
            failures.push(format!("{:.1} s: {e}", start.elapsed().as_secs_f64()));
            false
        }
    });
    (present, failures)
}

/// What the writer saw around a fault at `fault_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub writes: usize,
    pub acked: usize,
    /// End of the last acknowledged write that started before the fault.
    pub last_ack_before: Option<Duration>,
    /// End of the first acknowledged write that started after the fault.
    pub first_ack_after: Option<Duration>,
    /// `first_ack_after - last_ack_before`: the client-side write outage.
    pub outage: Option<Duration>,
    /// `first_ack_after - fault_at`.
    pub since_fault: Option<Duration>,
    /// Longest gap between consecutive acknowledged writes from the last one before the fault
    /// to the end of the run: the outage a client really saw, flapping included.
    pub longest_gap: Option<Duration>,
    /// Where the longest gap began: the end of the acknowledged write before it.
    pub longest_gap_from: Option<Duration>,
    /// Writes that failed after the first acknowledged write following the fault.
    pub failed_after_recovery: usize,
    /// Writes slower than `stall` in the minute after recovery.
    pub stalls_after_recovery: usize,
}

/// Pure analysis of a writer's records, stalls and failures counted in the minute after
/// recovery.
pub fn analyze(records: &[WriteRecord], fault_at: Duration, stall: Duration) -> Outcome {
    analyze_within(records, fault_at, stall, Duration::from_secs(60))
}

/// [`analyze`] with stalls and failures counted in `window` after the first acknowledged write
/// following the fault.
pub fn analyze_within(
    records: &[WriteRecord],
    fault_at: Duration,
    stall: Duration,
    window: Duration,
) -> Outcome {
    let acked: Vec<&WriteRecord> = records.iter().filter(|r| r.acked).collect();
    let last_ack_before = acked
        .iter()
        .filter(|r| r.started < fault_at)
        .map(|r| r.ended)
        .max();
    let first_ack_after = acked
        .iter()
        .filter(|r| r.started >= fault_at)
        .map(|r| r.ended)
        .min();
    let (failed_after_recovery, stalls_after_recovery) = match first_ack_after {
        Some(t) => {
            let after: Vec<&WriteRecord> = records
                .iter()
                .filter(|r| r.started > t && r.started <= t + window)
                .collect();
            (
                after.iter().filter(|r| !r.acked).count(),
                after.iter().filter(|r| r.ended - r.started > stall).count(),
            )
        }
        None => (0, 0),
    };
    let gap = last_ack_before.and_then(|from| {
        let mut ends: Vec<Duration> = acked
            .iter()
            .map(|r| r.ended)
            .filter(|e| *e >= from)
            .collect();
        ends.sort();
        ends.windows(2).map(|w| (w[1] - w[0], w[0])).max()
    });
    Outcome {
        longest_gap: gap.map(|(g, _)| g),
        longest_gap_from: gap.map(|(_, from)| from),
        writes: records.len(),
        acked: acked.len(),
        last_ack_before,
        first_ack_after,
        outage: first_ack_after
            .zip(last_ack_before)
            .map(|(a, b)| a.saturating_sub(b)),
        since_fault: first_ack_after.map(|a| a.saturating_sub(fault_at)),
        failed_after_recovery,
        stalls_after_recovery,
    }
}

/// Acknowledged names missing from `present`.
pub fn lost<'a>(records: &'a [WriteRecord], present: &[String]) -> Vec<&'a str> {
    let set: std::collections::HashSet<&str> = present.iter().map(String::as_str).collect();
    records
        .iter()
        .filter(|r| r.acked && !set.contains(r.name.as_str()))
        .map(|r| r.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, s: u64, e: u64, acked: bool) -> WriteRecord {
        WriteRecord {
            name: name.into(),
            started: Duration::from_millis(s),
            ended: Duration::from_millis(e),
            acked,
        }
    }

    #[test]
    fn big_writes_carry_the_payload_in_pieces() {
        assert_eq!(write_args("w-1", false), ["ls-add", "w-1"]);
        let a = write_args("w-2", true);
        assert_eq!(a[..5], ["ls-add", "w-2", "--", "set", "Logical_Switch"]);
        assert_eq!(a[5], "w-2");
        let payload: usize = a[6..].iter().map(|x| x.len()).sum();
        assert!(payload >= BIG_BYTES);
        const { assert!(BIG_BYTES >= 256 * 1024) };
        assert!(a.iter().all(|x| x.len() < 128 * 1024));
    }

    #[test]
    fn a_ballast_write_adds_the_small_switch_and_overwrites_the_ballast() {
        let a = ballast_write_args("w-9", "w-ballast-1");
        assert_eq!(
            a[..10],
            [
                "--may-exist",
                "ls-add",
                "w-ballast-1",
                "--",
                "ls-add",
                "w-9",
                "--",
                "set",
                "Logical_Switch",
                "w-ballast-1"
            ]
        );
        let payload: usize = a[10..].iter().map(|x| x.len()).sum();
        assert!(payload >= BIG_BYTES);
        assert!(a.iter().all(|x| x.len() < 128 * 1024));
    }

    #[test]
    fn outage_is_last_ack_before_to_first_ack_after() {
        let r = vec![
            rec("a", 0, 10, true),
            rec("b", 60, 70, true),
            rec("c", 120, 1120, false), // started before the fault at 100? no: 120 > 100
            rec("d", 1170, 2170, false),
            rec("e", 2220, 2300, true),
            rec("f", 2350, 2950, true), // a stall (600 ms)
            rec("g", 3000, 4000, false),
        ];
        let o = analyze(&r, Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(o.last_ack_before, Some(Duration::from_millis(70)));
        assert_eq!(o.first_ack_after, Some(Duration::from_millis(2300)));
        assert_eq!(o.outage, Some(Duration::from_millis(2230)));
        assert_eq!(o.since_fault, Some(Duration::from_millis(2200)));
        assert_eq!(o.longest_gap, Some(Duration::from_millis(2230)));
        assert_eq!(o.failed_after_recovery, 1);
        assert_eq!(o.stalls_after_recovery, 2);
        assert_eq!((o.writes, o.acked), (7, 4));
        let short = analyze_within(
            &r,
            Duration::from_millis(100),
            Duration::from_millis(500),
            Duration::from_millis(100),
        );
        assert_eq!(
            (short.failed_after_recovery, short.stalls_after_recovery),
            (0, 1)
        );
    }

    #[test]
    fn no_recovery_and_lost_writes() {
        let r = vec![rec("a", 0, 10, true), rec("b", 200, 1200, false)];
        let o = analyze(&r, Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(o.first_ack_after, None);
        assert_eq!(o.outage, None);
        assert_eq!(o.longest_gap, None);
        assert_eq!(lost(&r, &["x".into()]), ["a"]);
        assert!(lost(&r, &["a".into()]).is_empty());
    }
}
