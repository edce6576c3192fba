//! Running helper programs (Pacemaker's and corosync's CLIs) with a time limit.

use super::owned;
use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `program args` with stdin from `input` (if any), killing it after `limit`.
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
    let mut cmd = Command::new(program);
    cmd.envs(env.iter().copied());
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = owned::spawn(&mut cmd).with_context(|| format!("starting {program}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        stdin
            .write_all(text.as_bytes())
            .with_context(|| format!("writing to {program}"))?;
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = child.wait_with_output();
        owned::release(pid);
        let _ = tx.send(out);
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.with_context(|| format!("waiting for {program}")),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            bail!(
                "{program} {} did not finish within {limit:?}",
                args.join(" ")
            )
        }
    }
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
    let out = output_with_env(program, args, input, limit, env)?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
