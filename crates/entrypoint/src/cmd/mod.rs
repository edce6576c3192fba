//! The command line (clap) and the subcommands' I/O. Configuration problems exit with 2, any
//! other failure with 1.

mod backup;
mod cold_start;
mod crash_watch;
mod fence;
mod guard_thread;
mod handover;
mod membership;
mod metrics_http;
mod owned;
mod panics;
mod pcmk;
mod pod_watch;
mod probe;
mod proc;
mod quorum;
mod run;
mod standby_link;
mod status;
mod supervise;
mod takeover;
mod tcp_diag;
mod tickle;
mod vip;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Entrypoint of the ovnkube-db HA pod.
#[derive(Debug, Parser)]
#[command(name = "ovnkube-db-ha", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The pod's main process: corosync + pacemaker + the CIB, handover on SIGTERM.
    Run,
    /// Cluster status: nodes, quorum, promoted copy, VIP, local sync state, failed actions.
    Status {
        /// JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Fast checks for the kubelet.
    Probe {
        #[arg(value_enum)]
        kind: ProbeKind,
    },
    /// Write a consistent NB + SB snapshot of the active copy, with SHA256SUMS and a manifest.
    Backup {
        /// Directory to write (created if missing; must not hold a backup already).
        #[arg(long, value_name = "DIR")]
        output: std::path::PathBuf,
        /// Back up this copy even though it is not the active (a replica's, labelled so).
        #[arg(long)]
        from_standby: bool,
    },
    /// Verify a backup's checksums, then replace the active's NB and SB contents with it.
    Restore {
        /// Directory written by `backup`.
        #[arg(long, value_name = "DIR")]
        input: std::path::PathBuf,
    },
    /// Print what `run` would write, from the same environment (nothing is started).
    Print {
        #[arg(value_enum)]
        what: PrintWhat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProbeKind {
    /// This copy is promoted, or an unpromoted copy replicating from the active.
    Readiness,
    /// corosync and pacemaker answer.
    Liveness,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PrintWhat {
    /// The corosync.conf text.
    CorosyncConf,
    /// The full CIB document.
    Cib,
}

/// Failure classes mapped to exit codes.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad configuration: exit 2, nothing was started or written.
    Config(Vec<String>),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run => {
            ovnkube_db_ha::logging::init();
            run::run()
        }
        Command::Status { json } => status::status(json).map_err(Failure::Other),
        Command::Probe { kind } => match kind {
            ProbeKind::Readiness => probe::readiness(),
            ProbeKind::Liveness => probe::liveness(),
        }
        .map_err(Failure::Other),
        Command::Backup {
            output,
            from_standby,
        } => backup::backup(&output, from_standby),
        Command::Restore { input } => backup::restore(&input),
        Command::Print { what } => run::print(matches!(what, PrintWhat::Cib)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(problems)) => {
            for p in problems {
                eprintln!("ovnkube-db-ha: configuration: {p}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("ovnkube-db-ha: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
