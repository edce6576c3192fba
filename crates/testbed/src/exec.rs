//! Running the helper programs (`ip`, `mount`, ...) with their failures turned into
//! [`BedError`]s that quote the command line and its stderr.

use crate::error::{BedError, Result};
use std::process::{Command, Output, Stdio};

/// Renders a command line for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` to completion (stdin closed) and returns its output if it exited 0.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null());
    let output = cmd.output().map_err(|source| BedError::Spawn {
        command: describe(cmd),
        source,
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(BedError::Failed {
            command: describe(cmd),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Runs `program args...` and returns its stdout as text.
pub(crate) fn run_text(program: &str, args: &[&str]) -> Result<String> {
    let output = run(Command::new(program).args(args))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `program args...`, discarding output.
pub(crate) fn run_quiet(program: &str, args: &[&str]) -> Result<()> {
    run(Command::new(program).args(args)).map(|_| ())
}
