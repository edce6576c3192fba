//! `cargo xtask render`: validate flags and write the manifests.
use anyhow::Result;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {}

pub fn run(_args: &RenderArgs) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
