//! `cargo xtask bench agent`: monitor and promote/demote latency of our OCF agent against OVN's
//! shell agent on the same two servers.

use anyhow::{Result, bail};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Samples per measured action.
    #[arg(long, default_value_t = 200)]
    pub samples: u32,
}

pub fn run(_args: &AgentArgs) -> Result<ExitCode> {
    bail!("not implemented yet")
}
