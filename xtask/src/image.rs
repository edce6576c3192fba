//! `cargo xtask image`: the ovn-daemonset OCI image (static binaries on a Debian rootfs), built
//! without Docker.

use anyhow::{Result, bail};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// Tag of the image in the layout.
    #[arg(long, default_value = "latest")]
    pub tag: String,
    /// Push the layout to this registry reference.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
}

pub fn run(_args: &ImageArgs) -> Result<ExitCode> {
    bail!("not implemented yet")
}
