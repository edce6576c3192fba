//! Project automation: one binary, one command enum, a module per command. Every subprocess
//! goes through `ovn_ha_exec` and is logged before it runs; the benchmarks live in
//! `ovn_ha_bench`.

mod backup;
mod chaos;
mod deploy;
mod deps;
mod image;
mod local;
mod test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, render, test and benchmark OVN DB HA"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the Kubernetes manifests into dist/yaml (what dist/images/daemonset.sh runs).
    Render(Box<ovn_ha_render::cli::RenderArgs>),
    /// Build the ovn-daemonset OCI image into target/image (no Docker needed).
    Image(image::ImageArgs),
    /// Deploy dist/yaml to a Kubernetes cluster (--kubeconfig), or print it (--dry-run).
    Deploy(Box<deploy::DeployArgs>),
    /// Show the local cluster: hosts, containers, and the cluster as its entrypoint sees it.
    Status {
        /// Print the cluster status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Back up the local cluster's active NB and SB (with SHA256SUMS) into a directory.
    Backup {
        /// Directory to write (new or empty).
        #[arg(long, value_name = "DIR")]
        output: std::path::PathBuf,
    },
    /// Restore a backup into the local cluster's active copy (checksums verified first).
    Restore {
        /// Directory written by `cargo xtask backup`.
        #[arg(long, value_name = "DIR")]
        input: std::path::PathBuf,
    },
    /// Stop and remove the local cluster (containers, hosts, links, directories).
    Down,
    /// Install what the tests need, then run fmt, clippy and every test.
    Test(test::TestArgs),
    /// Run a benchmark and print its figures.
    #[command(subcommand)]
    Bench(ovn_ha_bench::BenchCommand),
    /// Run a seeded random fault schedule against a local cluster and check its history.
    Chaos(chaos::ChaosArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => ovn_ha_render::cli::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Status { json } => local::status(json),
        Command::Down => local::down(),
        Command::Backup { output } => backup::run_backup(&output),
        Command::Restore { input } => backup::run_restore(&input),
        Command::Image(args) => image::run(&args),
        Command::Bench(cmd) => ovn_ha_bench::run(&cmd),
        Command::Chaos(args) => chaos::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
