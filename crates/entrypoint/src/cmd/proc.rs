//! Running helper programs (Pacemaker's and corosync's CLIs) with a time limit, through
//! `ovn-ha-exec`: stdin is written and stdout/stderr are read on threads of their own, so a large
//! input (a whole CIB piped to `cibadmin`) cannot deadlock against a child that writes while it
//! reads; a child that outlives its limit is killed with its process group and reported as a
//! timeout; no SIGCHLD handler is installed. Every child is an owned one ([`super::owned`]): the
//! supervisor's reaper never takes its exit status.

use super::owned;
use anyhow::Result;
use ovn_ha_exec::Exec;
use std::process::{Command, Output};
use std::time::Duration;

/// Runs `program args` with stdin from `input` (if any, else `/dev/null`), killing it after
/// `limit`. A non-zero exit is not an error here (see [`checked`]).
pub fn output(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
) -> Result<Output> {
    output_with_env(program, args, input, limit, &[])
}

/// [`output`] with extra environment variables.
pub fn output_with_env(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
    env: &[(&str, &str)],
) -> Result<Output> {
    run(program, args, input, limit, env, false)
}

fn run(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
    env: &[(&str, &str)],
    checked: bool,
) -> Result<Output> {
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().copied());
    let mut exec = Exec::new(&cmd).owned_by(&owned::OWNER).limit(limit);
    if let Some(text) = input {
        exec = exec.input(text.as_bytes());
    }
    if !checked {
        exec = exec.unchecked();
    }
    Ok(exec.output()?)
}

/// Like [`output`] but fails unless the program exits 0; returns stdout.
pub fn checked(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
) -> Result<String> {
    checked_with_env(program, args, input, limit, &[])
}

/// [`checked`] with extra environment variables.
pub fn checked_with_env(
    program: &str,
    args: &[&str],
    input: Option<&str>,
    limit: Duration,
    env: &[(&str, &str)],
) -> Result<String> {
    let out = run(program, args, input, limit, env, true)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const LIMIT: Duration = Duration::from_secs(20);

    /// 1 MiB through `cat`: far above a pipe's buffer (64 KiB), so writing all of stdin before
    /// reading stdout would block both sides for ever.
    #[test]
    fn a_large_input_comes_back_whole() {
        let line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let input = line.repeat((1 << 20) / line.len());
        assert_eq!(input.len(), 1 << 20);
        let started = Instant::now();
        let out = checked("cat", &[], Some(&input), LIMIT).unwrap();
        assert_eq!(out.len(), input.len());
        assert!(out == input, "cat returned other bytes");
        assert!(started.elapsed() < LIMIT);
    }

    #[test]
    fn stdin_is_empty_without_input_and_env_reaches_the_child() {
        let out = checked_with_env(
            "sh",
            &["-c", "printf '%s|' \"$PROC_TEST\"; cat"],
            None,
            LIMIT,
            &[("PROC_TEST", "x y")],
        )
        .unwrap();
        assert_eq!(out, "x y|");
    }

    #[test]
    fn a_failure_is_output_but_not_checked() {
        let out = output("sh", &["-c", "echo oops >&2; exit 3"], None, LIMIT).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "oops");
        let e = checked("sh", &["-c", "echo oops >&2; exit 3"], None, LIMIT).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.starts_with("`sh -c"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.ends_with(": oops"), "{text}");
    }

    /// A child that ignores stdin and exits is not an error (its closed pipe is expected).
    #[test]
    fn a_child_that_does_not_read_its_input_is_fine() {
        let input = "x".repeat(1 << 20);
        let out = checked("true", &[], Some(&input), LIMIT).unwrap();
        assert_eq!(out, "");
    }

    #[test]
    fn a_child_past_its_limit_is_killed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
        let started = Instant::now();
        let e = output("sh", &["-c", &script], None, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = format!("{e:#}");
        assert!(text.contains("did not finish within 300ms"), "{text}");
        assert!(text.contains("killed"), "{text}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed, reaped by the waiting thread and released from the owned registry.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            || owned::while_locked(|o| o.contains(&pid))
        {
            assert!(Instant::now() < deadline, "pid {pid} still there");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// No SIGCHLD handler is left behind: the process's caught signals (`SigCgt`, a hex mask
    /// with bit n-1 for signal n) do not include SIGCHLD after a run.
    #[test]
    fn no_sigchld_handler_is_installed() {
        checked("true", &[], None, LIMIT).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
            .unwrap();
        let sigchld = nix::sys::signal::Signal::SIGCHLD as u32;
        assert_eq!(mask & (1 << (sigchld - 1)), 0, "SigCgt {mask:x}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let e = output("no-such-program-ovndb-ha", &[], None, LIMIT).unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("cannot start `no-such-program-ovndb-ha`"),
            "{text}"
        );
        let e = checked("no-such-program-ovndb-ha", &["x"], Some("in"), LIMIT).unwrap_err();
        assert!(format!("{e:#}").contains("no-such-program-ovndb-ha"));
    }
}
