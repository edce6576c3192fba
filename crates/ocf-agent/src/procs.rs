//! Processes by pid: pid files, liveness (via /proc, no process spawned), signals and bounded
//! waits.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};

/// Parses a pid file's text (pure).
pub fn parse_pid(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|p| *p > 1)
}

/// Reads a pid file; `None` if missing or garbage.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse_pid(&t))
}

/// The command name (`comm`) of a process, `None` if it does not exist.
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Parses the parent pid out of `/proc/PID/stat` text (pure; the name may hold spaces).
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The process state letter out of `/proc/PID/stat` text (pure).
pub fn parse_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

fn stat(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// The parent pid of a process.
pub fn ppid(pid: i32) -> Option<i32> {
    stat(pid).and_then(|s| parse_ppid(&s))
}

/// True if `pid` exists, is not a zombie and runs a program called `name`.
pub fn is_running(pid: i32, name: &str) -> bool {
    let Some(c) = comm(pid) else { return false };
    if !name.starts_with(&c) && c != name {
        return false;
    }
    stat(pid).and_then(|s| parse_state(&s)) != Some('Z')
}

/// Sends a signal; a process that is already gone is not an error.
pub fn signal(pid: i32, sig: Signal) -> std::io::Result<()> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits until `pid` no longer runs `name`, at most `limit`; true if it is gone.
pub fn wait_gone(pid: i32, name: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_running(pid, name) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        for (t, want) in [
            ("123\n", Some(123)),
            (" 7 ", Some(7)),
            ("1", None),
            ("0", None),
            ("-5", None),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(parse_pid(t), want, "{t:?}");
        }
    }

    #[test]
    fn stat_fields() {
        let s = "4242 (ovsdb server) S 4241 4241 4241 0 -1 4194560 ...";
        assert_eq!(parse_ppid(s), Some(4241));
        assert_eq!(parse_state(s), Some('S'));
        let weird = "1 (a) b) Z 9 1";
        assert_eq!(parse_ppid(weird), Some(9));
        assert_eq!(parse_state(weird), Some('Z'));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn own_process() {
        let me = std::process::id() as i32;
        let name = comm(me).unwrap();
        assert!(is_running(me, &name));
        assert!(!is_running(me, "definitely-not-this"));
        assert!(ppid(me).is_some());
        assert!(!is_running(i32::MAX, "x"));
        assert_eq!(read_pidfile(Path::new("/nonexistent/pid")), None);
    }
}
