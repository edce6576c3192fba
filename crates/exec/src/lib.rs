//! The one subprocess layer of the tools — xtask, the benchmarks, the local cluster and the test
//! bed — on `duct`. A command is described with `std::process::Command` (program, arguments,
//! environment, directory) and run through [`Exec`]: optionally logged to stderr as a
//! shell-quoted line before it starts, fed its input and read on threads of its own (so a large
//! input cannot deadlock against a child that writes while it reads), optionally bounded in time
//! (the child's whole process group is killed at the limit), and checked unless asked not to.
//!
//! The pod's entrypoint keeps its own runner on `duct` (`cmd/proc.rs`): its children must be
//! registered with its reaper before they start. The OCF agent uses this crate only off its
//! per-second monitor path.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

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

/// How often a bounded wait looks at the child.
const POLL: Duration = Duration::from_millis(5);

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
        }
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
        let handle = expression.start().map_err(|source| ExecError::Spawn {
            command: command.clone(),
            source,
        })?;
        let wait_error = |source| ExecError::Wait {
            command: command.clone(),
            source,
        };
        let out = match self.limit {
            None => handle.into_output().map_err(wait_error)?,
            Some(limit) => {
                let deadline = Instant::now() + limit;
                loop {
                    if handle.try_wait().map_err(wait_error)?.is_some() {
                        break handle.into_output().map_err(wait_error)?;
                    }
                    if Instant::now() >= deadline {
                        kill_group(&handle);
                        return Err(ExecError::TimedOut { command, limit });
                    }
                    std::thread::sleep(POLL);
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
}

/// Kills the child's process group (it leads one, see `expression`) and reaps the child.
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
    let _ = handle.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

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
