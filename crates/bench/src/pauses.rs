//! The machine's own hiccups during a soak, so a late corosync token can be told apart from
//! a stall of the whole machine: a watcher thread that sleeps 10 ms at a time and records
//! every wake-up more than 200 ms late (something held this VM or its kernel, not one
//! process), and the steal time `/proc/stat` reports, per second. Parsing is pure and tested
//! here; the watcher stops at its deadline or when dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A wake-up later than [`LATE`].
pub const LATE: Duration = Duration::from_millis(200);
const NAP: Duration = Duration::from_millis(10);

/// Steal time in `/proc/stat`'s aggregate `cpu` line, in clock ticks (the 8th number).
pub fn steal_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// Wall-clock time of day, UTC, with milliseconds (`06:44:12.345`).
pub fn time_of_day(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()) % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// What the watcher saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pauses {
    /// (when the late wake-up came, how late) for every wake-up later than [`LATE`].
    pub late_wakeups: Vec<(SystemTime, Duration)>,
    /// The largest steal time of any one second, summed over CPUs, and when.
    pub worst_steal: Option<(SystemTime, Duration)>,
}

impl Pauses {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "machine: {} wake-ups of a 10 ms sleeper later than {} ms",
            self.late_wakeups.len(),
            LATE.as_millis()
        );
        for (at, late) in self.late_wakeups.iter().take(10) {
            s += &format!("; {} +{} ms", time_of_day(*at), late.as_millis());
        }
        if let Some((at, steal)) = self.worst_steal {
            s += &format!(
                "; worst steal {} ms in the second to {}",
                steal.as_millis(),
                time_of_day(at)
            );
        }
        s
    }
}

/// The running watcher; [`Watcher::stop`] joins it and returns what it saw.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Pauses>>,
    thread: Option<JoinHandle<()>>,
}

fn read_steal() -> Option<u64> {
    steal_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

impl Watcher {
    /// Starts watching for at most `limit`.
    pub fn start(limit: Duration) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Pauses::default()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        // USER_HZ is 100 on Linux: one tick is 10 ms.
        let tick = Duration::from_millis(10);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut last_steal = (Instant::now(), read_steal());
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < limit {
                let before = Instant::now();
                std::thread::sleep(NAP);
                let late = before.elapsed().saturating_sub(NAP);
                let mut seen = seen2.lock().unwrap_or_else(|e| e.into_inner());
                if late > LATE {
                    seen.late_wakeups.push((SystemTime::now(), late));
                }
                if last_steal.0.elapsed() >= Duration::from_secs(1) {
                    let now = read_steal();
                    if let (Some(a), Some(b)) = (last_steal.1, now) {
                        let steal = tick * u32::try_from(b.saturating_sub(a)).unwrap_or(u32::MAX);
                        if seen.worst_steal.is_none_or(|(_, w)| steal > w) {
                            seen.worst_steal = Some((SystemTime::now(), steal));
                        }
                    }
                    last_steal = (Instant::now(), now);
                }
            }
        });
        Watcher {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) -> Pauses {
        self.halt();
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_number_of_the_cpu_line() {
        let stat =
            "cpu  4705 150 1120 16250 520 0 12 345 0 0\ncpu0 2000 0 500 8000 200 0 6 170 0 0\n";
        assert_eq!(steal_ticks(stat), Some(345));
        assert_eq!(steal_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(steal_ticks("cpu  1 2 3\n"), None);
    }

    #[test]
    fn time_of_day_is_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_139_452_345);
        assert_eq!(time_of_day(t), "06:44:12.345");
    }

    #[test]
    fn watcher_stops_and_summarizes() {
        let w = Watcher::start(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
        let p = w.stop();
        assert!(p.summary().starts_with("machine: "));
        let q = Pauses {
            late_wakeups: vec![(UNIX_EPOCH, Duration::from_millis(640))],
            worst_steal: Some((UNIX_EPOCH, Duration::from_millis(120))),
        };
        assert_eq!(
            q.summary(),
            "machine: 1 wake-ups of a 10 ms sleeper later than 200 ms; 00:00:00.000 +640 ms; worst steal 120 ms in the second to 00:00:00.000"
        );
    }
}
