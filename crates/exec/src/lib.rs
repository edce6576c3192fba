//! The one subprocess layer of the project — the pod's entrypoint, xtask, the benchmarks, the
//! local cluster and the test bed — on `duct`. A command is described with
//! `std::process::Command` (program, arguments, environment, directory) and run through
//! [`Exec`]: optionally logged to stderr as a shell-quoted line before it starts, fed its input
//! and read on threads of its own (so a large input cannot deadlock against a child that writes
//! while it reads), optionally bounded in time (the child's whole process group is killed at the
//! limit), and checked unless asked not to.
//!
//! A bounded run is waited for on a thread of its own, which returns the moment the child exits
//! (no polling) and installs no SIGCHLD handler (duct's own timed wait would, for good, and its
//! signals would interrupt other threads' timed reads). A process that reaps children it did not
//! start (the entrypoint is a pod's PID 1) passes its registry as an [`Owner`], which records
//! each child before its reaper could take the child's exit status. The OCF agent uses this
//! crate only off its per-second monitor path.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// What can go wrong running a command. Each variant quotes the command line.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started (missing, not executable, …).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// Waiting for the program failed.
    #[error("waiting for `{command}`: {source}")]
    Wait {
        command: String,
        #[source]
        source: io::Error,
    },
    /// The program ran and exited unsuccessfully (its stderr, trimmed, is quoted).
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// The program outlived its limit; its process group was killed.
    #[error("`{command}` did not finish within {limit:?} and was killed")]
    TimedOut { command: String, limit: Duration },
}

impl ExecError {
    /// The exit status, for a program that ran and failed.
    pub fn status(&self) -> Option<ExitStatus> {
        match self {
            Self::Failed { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Formats a command line for logs and messages, each argument shell-quoted when it needs it.
pub fn display(cmd: &Command) -> String {
    let mut parts = vec![quote(cmd.get_program())];
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A registry of children their starter waits for itself, kept by a process that also reaps
/// children it did not start (a pod's PID 1): its reaper must never take these exit statuses.
pub trait Owner: Sync {
    /// Runs `start` (which forks and returns the new pids) with the registry locked, and records
    /// the pids before unlocking it.
    fn start(&self, start: &mut dyn FnMut() -> io::Result<Vec<u32>>) -> io::Result<()>;
    /// Forgets a child once it has been waited for.
    fn release(&self, pid: u32);
}

/// One run of a command: `Exec::new(&cmd).logged().limit(d).input(bytes).output()`.
#[derive(Debug)]
pub struct Exec<'a> {
    cmd: &'a Command,
    logged: bool,
    limit: Option<Duration>,
    input: Option<Vec<u8>>,
    checked: bool,
    stderr_shown: bool,
    log_file: Option<std::fs::File>,
    owner: Option<&'static dyn Owner>,
}

impl std::fmt::Debug for dyn Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Owner")
    }
}

impl<'a> Exec<'a> {
    /// A run of `cmd`: not logged, unbounded, stdin empty, checked.
    pub fn new(cmd: &'a Command) -> Self {
        Self {
            cmd,
            logged: false,
            limit: None,
            input: None,
            checked: true,
            stderr_shown: false,
            log_file: None,
            owner: None,
        }
    }

    /// Starts the child as one of `owner`'s and releases it once it has been waited for.
    pub fn owned_by(mut self, owner: &'static dyn Owner) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Logs the command line (`$ …`) to stderr before it starts.
    pub fn logged(mut self) -> Self {
        self.logged = true;
        self
    }

    /// Kills the child's process group and fails with [`ExecError::TimedOut`] after `limit`.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Feeds `bytes` to the child's stdin (written on a thread of its own).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Some(bytes.into());
        self
    }

    /// Returns the output whatever the exit status (a failure to start or a timeout is still an
    /// error).
    pub fn unchecked(mut self) -> Self {
        self.checked = false;
        self
    }

    /// With [`Exec::inherit`]: the child's stdout and stderr go to `file` (a long tool's log).
    pub fn log_to(mut self, file: std::fs::File) -> Self {
        self.log_file = Some(file);
        self
    }

    /// Leaves the child's stderr on ours (progress of a long helper) instead of capturing it.
    pub fn stderr_shown(mut self) -> Self {
        self.stderr_shown = true;
        self
    }

    /// Runs with stdout and stderr captured; fails unless it exits 0 (when checked).
    pub fn output(self) -> Result<Output, ExecError> {
        let mut expression = self.expression().stdout_capture();
        if !self.stderr_shown {
            expression = expression.stderr_capture();
        }
        self.finish(expression)
    }

    /// [`Exec::output`]'s stdout as (lossy) text.
    pub fn text(self) -> Result<String, ExecError> {
        self.output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs with stdout and stderr inherited (a build's progress stays visible), or both written
    /// to the file given to [`Exec::log_to`]; fails unless it exits 0 (when checked).
    pub fn inherit(self) -> Result<ExitStatus, ExecError> {
        let mut expression = self.expression();
        if let Some(file) = &self.log_file {
            let file = file.try_clone().map_err(|source| ExecError::Spawn {
                command: display(self.cmd),
                source,
            })?;
            expression = expression.stderr_to_stdout().stdout_file(file);
        }
        self.finish(expression).map(|out| out.status)
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(self.cmd.get_program(), self.cmd.get_args()).unchecked();
        for (name, value) in self.cmd.get_envs() {
            e = match value {
                Some(value) => e.env(name, value),
                None => e.env_remove(name),
            };
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            e = e.dir(dir);
        }
        e = match &self.input {
            Some(bytes) => e.stdin_bytes(bytes.clone()),
            None => e.stdin_null(),
        };
        if self.limit.is_some() {
            // A group of its own, so the limit can kill what the child started too.
            e = e.before_spawn(|c| {
                c.process_group(0);
                Ok(())
            });
        }
        e
    }

    fn finish(&self, expression: duct::Expression) -> Result<Output, ExecError> {
        let command = display(self.cmd);
        if self.logged {
            eprintln!("$ {command}");
        }
        let handle = self.start(&expression).map_err(|source| ExecError::Spawn {
            command: command.clone(),
            source,
        })?;
        let pids = handle.pids();
        let owner = self.owner;
        let release = move || {
            if let Some(owner) = owner {
                pids.iter().for_each(|&pid| owner.release(pid));
            }
        };
        let wait_error = |source| ExecError::Wait {
            command: command.clone(),
            source,
        };
        let out = match self.limit {
            None => {
                let out = handle.into_output();
                release();
                out.map_err(wait_error)?
            }
            Some(limit) => {
                // Waited for on a thread of its own, which reaps the child and outlives a
                // timeout, so a grandchild holding the pipes open cannot hold the caller too.
                let handle = Arc::new(handle);
                let waiter = Arc::clone(&handle);
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let waited = waiter.wait().cloned();
                    release();
                    let _ = tx.send(waited);
                });
                match rx.recv_timeout(limit) {
                    Ok(out) => out.map_err(wait_error)?,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        kill_group(&handle);
                        return Err(ExecError::TimedOut { command, limit });
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(wait_error(io::Error::other(
                            "the waiting thread ended without a result",
                        )));
                    }
                }
            }
        };
        if self.checked && !out.status.success() {
            return Err(ExecError::Failed {
                command,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Starts the expression, as the owner's child when there is one.
    fn start(&self, expression: &duct::Expression) -> io::Result<duct::Handle> {
        let Some(owner) = self.owner else {
            return expression.start();
        };
        let mut started = None;
        owner.start(&mut || {
            let handle = expression.start()?;
            let pids = handle.pids();
            started = Some(handle);
            Ok(pids)
        })?;
        started.ok_or_else(|| io::Error::other("the owner did not start the child"))
    }
}

/// Kills the child's process group (it leads one, see `expression`); the waiting thread reaps
/// the child.
fn kill_group(handle: &duct::Handle) {
    for pid in handle.pids() {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = handle.kill();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    /// An owner that records what it was asked.
    struct Recorder(Mutex<Vec<String>>);

    impl Owner for Recorder {
        fn start(&self, start: &mut dyn FnMut() -> io::Result<Vec<u32>>) -> io::Result<()> {
            let pids = start()?;
            self.0.lock().unwrap().push(format!("start {}", pids.len()));
            Ok(())
        }
        fn release(&self, _pid: u32) {
            self.0.lock().unwrap().push("release".into());
        }
    }

    #[test]
    fn an_owner_records_the_child_before_it_is_waited_for_and_releases_it_after() {
        static OWNER: Recorder = Recorder(Mutex::new(Vec::new()));
        let out = Exec::new(&sh("echo hi")).owned_by(&OWNER).text().unwrap();
        assert_eq!(out, "hi\n");
        let out = Exec::new(&sh("echo there"))
            .owned_by(&OWNER)
            .limit(Duration::from_secs(20))
            .text()
            .unwrap();
        assert_eq!(out, "there\n");
        // The bounded run releases on its waiting thread, before it hands the output over.
        assert_eq!(
            *OWNER.0.lock().unwrap(),
            ["start 1", "release", "start 1", "release"]
        );
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn lines_are_shell_quoted_only_where_needed() {
        let mut c = Command::new("ip");
        c.args(["addr", "add", "10.0.0.1/24", "it's here", ""]);
        assert_eq!(display(&c), r"ip addr add 10.0.0.1/24 'it'\''s here' ''");
    }

    /// 1 MiB through `cat`, far above a pipe's 64 KiB: writing all of stdin before reading
    /// stdout would block both sides for ever.
    #[test]
    fn a_large_input_comes_back_whole() {
        let input = "0123456789abcdef".repeat(1 << 16);
        let out = Exec::new(&Command::new("cat"))
            .input(input.clone())
            .limit(Duration::from_secs(20))
            .text()
            .unwrap();
        assert!(out == input, "cat returned other bytes");
    }

    #[test]
    fn environment_and_directory_reach_the_child() {
        let mut c = sh("printf '%s|' \"$EXEC_TEST\"; pwd");
        c.env("EXEC_TEST", "x y").current_dir("/tmp");
        assert_eq!(Exec::new(&c).text().unwrap().trim(), "x y|/tmp");
    }

    #[test]
    fn a_failure_quotes_status_and_stderr_unless_unchecked() {
        let c = sh("echo oops >&2; exit 3");
        let e = Exec::new(&c).output().unwrap_err();
        assert_eq!(e.status().and_then(|s| s.code()), Some(3));
        let text = e.to_string();
        assert!(text.starts_with("`sh -c 'echo oops"), "{text}");
        assert!(text.ends_with("exit status: 3): oops"), "{text}");
        let out = Exec::new(&c).unchecked().output().unwrap();
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn a_log_file_gets_stdout_and_stderr() {
        let dir = std::env::temp_dir().join(format!("ovn-ha-exec-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let file = std::fs::File::create(&path).unwrap();
        Exec::new(&sh("echo out; echo err >&2"))
            .log_to(file)
            .inherit()
            .unwrap();
        let log = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(log, "out\nerr\n");
    }

    #[test]
    fn a_missing_program_is_named() {
        let e = Exec::new(&Command::new("no-such-program-ovn-ha"))
            .output()
            .unwrap_err();
        assert!(matches!(e, ExecError::Spawn { .. }), "{e}");
        assert!(e.to_string().contains("no-such-program-ovn-ha"), "{e}");
    }

    /// The limit kills the whole group: the shell's background `sleep` too, which would
    /// otherwise hold the captured pipes open.
    #[test]
    fn a_child_past_its_limit_is_killed_with_its_group() {
        let dir = std::env::temp_dir().join(format!("ovn-ha-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let c = sh(&format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let started = Instant::now();
        let e = Exec::new(&c)
            .limit(Duration::from_millis(300))
            .output()
            .unwrap_err();
        assert!(matches!(e, ExecError::TimedOut { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let gone = (0..200).any(|_| {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            // Gone, or a zombie waiting for init.
            let done = stat.map_or(true, |s| s.contains(") Z "));
            if !done {
                std::thread::sleep(Duration::from_millis(10));
            }
            done
        });
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(gone, "the grandchild sleep {pid} survived the limit");
    }
}
