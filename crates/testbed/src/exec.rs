//! Running the helper programs (`ip`, `mount`, ...) through the tools' one subprocess layer
//! (`ovn_ha_exec`), their failures turned into [`BedError`]s that quote the command line and
//! its stderr.

use crate::error::Result;
use ovn_ha_exec::Exec;
use std::process::{Command, Output};

/// Renders a command line for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    ovn_ha_exec::display(cmd)
}

/// Runs `cmd` to completion (stdin empty) and returns its output if it exited 0.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    Ok(Exec::new(cmd).output()?)
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
