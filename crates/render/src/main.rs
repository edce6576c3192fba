//! `ovn-ha-render`: what `dist/images/daemonset.sh` runs — validate every flag and write the four
//! manifests (`ovn_ha_render::cli`). Bad input exits with status 2 and writes nothing.

use clap::Parser;
use std::process::ExitCode;

/// Renders the OVN DB HA manifests: ovn-setup, ovnkube-db-ha, ovnkube-master, ovnkube-node.
#[derive(Debug, Parser)]
#[command(name = "daemonset.sh")]
struct Cli {
    #[command(flatten)]
    args: ovn_ha_render::cli::RenderArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match ovn_ha_render::cli::run(&cli.args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
