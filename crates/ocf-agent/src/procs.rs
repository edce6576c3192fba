//! Processes by pid: pid files, liveness (`/proc` read with `procfs`, no process spawned),
//! signals and bounded waits.

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

/// A process's `/proc/PID/stat` (command name, state, parent), `None` if it does not exist.
fn stat(pid: i32) -> Option<procfs::process::Stat> {
    procfs::process::Process::new(pid).ok()?.stat().ok()
}

/// The parent pid of a process.
pub fn ppid(pid: i32) -> Option<i32> {
    stat(pid).map(|s| s.ppid)
}

/// True if `pid` exists, is not a zombie and runs a program called `name` (the kernel keeps
/// 15 bytes of a command name, so a longer `name` matches by its start).
pub fn is_running(pid: i32, name: &str) -> bool {
    stat(pid).is_some_and(|s| (name.starts_with(&s.comm) || s.comm == name) && s.state != 'Z')
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
    fn own_process() {
        let me = std::process::id() as i32;
        let name = stat(me).unwrap().comm;
        assert!(is_running(me, &name));
        assert!(!is_running(me, "definitely-not-this"));
        assert!(ppid(me).is_some());
        assert!(!is_running(i32::MAX, "x"));
        assert_eq!(read_pidfile(Path::new("/nonexistent/pid")), None);
    }
}
