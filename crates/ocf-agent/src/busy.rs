//! Busy or stuck: a server that has not answered its control socket within the call timeout
//! is stuck (stopped, deadlocked, blocked in the kernel) or busy (ovsdb-server answers between
//! two runs of its main loop, and at a 100 MB database one run of a large transaction, a full
//! resync or a compaction on a loaded host takes seconds). Only a stuck server is a failure:
//! Pacemaker would restart a busy standby, whose full resync loads the active further, or fail
//! over from a busy active. So while the server's CPU time keeps growing the wait goes on, in
//! steps, up to one deadline for the whole look. [`grant`] decides (pure); [`Patience`] reads
//! `/proc` (procfs, no process spawned).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest a copy may go on answering no look because it is busy before a monitor reports it
/// failed: a server in an endless loop is still caught, a minute late.
pub const BUSY_LIMIT: Duration = Duration::from_secs(60);

/// Whether a monitor reports a look in which the only trouble was busy servers as the role it
/// expects, `streak` into a run of such looks (pure).
pub fn tolerated(streak: Duration) -> bool {
    streak < BUSY_LIMIT
}

/// Since when the looks have found a busy server: a file in the run directory holding the
/// first such look's time (Unix milliseconds), removed by a look that got its answers.
#[derive(Debug)]
pub struct Streak {
    path: PathBuf,
}

impl Streak {
    pub fn at(run_dir: &Path) -> Self {
        Streak {
            path: run_dir.join("ovndb-busy-since"),
        }
    }

    /// How long the streak has run, starting it now if none was recorded.
    pub fn so_far(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let since = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        match since {
            Some(since) => now.saturating_sub(since),
            None => {
                let _ = std::fs::write(&self.path, now.as_millis().to_string());
                Duration::ZERO
            }
        }
    }

    /// Ends the streak (a look got its answers).
    pub fn end(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The least share of the wall time a server must have run to count as busy: a stopped or
/// blocked process runs none, a busy one on a loaded 2-core host a third or more.
pub const BUSY_SHARE: f64 = 0.1;

/// How much longer to wait, after a wait of `wall` in which the server ran for `cpu` (pure):
/// `None` ends the wait (not busy, or `left` is spent); otherwise `step`, cut to `left`.
pub fn grant(cpu: Duration, wall: Duration, left: Duration, step: Duration) -> Option<Duration> {
    let busy = !wall.is_zero() && cpu.as_secs_f64() >= BUSY_SHARE * wall.as_secs_f64();
    (busy && !left.is_zero()).then(|| step.min(left))
}

/// A process's CPU time so far (user + system), if it exists.
fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    let ticks = stat.utime + stat.stime;
    Some(Duration::from_secs_f64(
        ticks as f64 / procfs::ticks_per_second() as f64,
    ))
}

/// The wait for one server's reply: started when the request was sent, ending at the look's
/// deadline at the latest.
#[derive(Debug)]
pub struct Patience {
    pid: i32,
    deadline: Instant,
    step: Duration,
    last: Option<(Instant, Duration)>,
    /// Whether any extra time was granted (the server was busy).
    pub extended: bool,
}

impl Patience {
    /// Starts watching `pid` now.
    pub fn new(pid: i32, deadline: Instant, step: Duration) -> Self {
        Patience {
            pid,
            deadline,
            step,
            last: cpu_time(pid).map(|c| (Instant::now(), c)),
            extended: false,
        }
    }

    /// More time, if the server ran enough since the last look.
    pub fn more(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let cpu = cpu_time(self.pid)?;
        let (at, before) = self.last.replace((now, cpu))?;
        let granted = grant(
            cpu.saturating_sub(before),
            now.duration_since(at),
            self.deadline.saturating_duration_since(now),
            self.step,
        );
        self.extended |= granted.is_some();
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_streak_is_tolerated_up_to_the_limit() {
        assert!(tolerated(Duration::ZERO));
        assert!(tolerated(BUSY_LIMIT - Duration::from_millis(1)));
        assert!(!tolerated(BUSY_LIMIT));
    }

    #[test]
    fn the_streak_starts_once_and_ends() {
        let dir = std::env::temp_dir().join(format!("busy-streak-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = Streak::at(&dir);
        s.end();
        assert_eq!(s.so_far(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.so_far() >= Duration::from_millis(20));
        s.end();
        assert_eq!(s.so_far(), Duration::ZERO);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_server_that_ran_gets_more_time() {
        let ms = Duration::from_millis;
        #[rustfmt::skip]
        let table = [
            // cpu,      wall,       left,       step,     granted
            (ms(0),      ms(2500),   ms(3000),   ms(500),  None),            // stopped / blocked
            (ms(200),    ms(2500),   ms(3000),   ms(500),  None),            // 8 %: stuck enough
            (ms(250),    ms(2500),   ms(3000),   ms(500),  Some(ms(500))),   // 10 %: busy
            (ms(1800),   ms(2500),   ms(3000),   ms(500),  Some(ms(500))),
            (ms(400),    ms(500),    ms(200),    ms(500),  Some(ms(200))),   // cut to the deadline
            (ms(400),    ms(500),    ms(0),      ms(500),  None),            // deadline spent
            (ms(0),      ms(0),      ms(3000),   ms(500),  None),            // nothing measured
        ];
        for (cpu, wall, left, step, want) in table {
            assert_eq!(
                grant(cpu, wall, left, step),
                want,
                "{cpu:?} of {wall:?}, {left:?} left"
            );
        }
    }

    #[test]
    fn a_sleeping_process_is_not_busy_and_a_spinning_one_is() {
        // This test's thread sleeps between looks: no grant. (Its own tid: other test
        // threads run in the same process.)
        let me = nix::unistd::gettid().as_raw();
        let far = Instant::now() + Duration::from_secs(10);
        let mut p = Patience::new(me, far, Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(p.more(), None);
        // Spinning between looks: granted.
        let mut p = Patience::new(me, far, Duration::from_millis(100));
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert_eq!(p.more(), Some(Duration::from_millis(100)));
        assert!(p.extended);
        // A pid that does not exist: no grant.
        assert_eq!(
            Patience::new(i32::MAX, far, Duration::from_millis(100)).more(),
            None
        );
    }
}
