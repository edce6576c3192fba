//! `cargo xtask bench …`: the benchmarks that print figures, one module per concern. xtask only
//! dispatches here.
//!
//! - [`failover`]: failover as clients feel it, stack against stack ([`stack`] brings a stack
//!   up, [`report`] makes the table, [`plot`] the SVG, [`size`] the production-size loading,
//!   [`soak`] the soak scenario with [`pauses`] watching the machine's own stalls).
//! - [`agent`]: the OCF agent's action latency against OVN's shell agent.
//! - [`latency`]: what the semi-synchronous proxy costs a transaction.
//!
//! Imports go one way: `failover` → `soak` → `stack`/`timing`; `report` and `plot` read rows.

mod agent;
mod failover;
mod latency;
mod pauses;
mod plot;
mod report;
mod size;
mod soak;
mod stack;
mod timing;

pub use stack::image;

use anyhow::Result;
use std::process::ExitCode;

/// The benchmarks, as `cargo xtask bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// OCF agent latency: ours against OVN's shell agent, side by side.
    Agent(agent::AgentArgs),
    /// Failover: our stack against OVN's shell agent and OVN RAFT on the same test-bed hosts,
    /// same writer; and the soak under a CPU burner.
    Failover(failover::FailoverArgs),
    /// What the semi-synchronous proxy costs a client: transaction round trips through the VIP
    /// against the active server's own unix socket, interleaved.
    Latency(latency::LatencyArgs),
}

/// Runs one benchmark.
pub fn run(cmd: &BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Agent(args) => agent::run(args),
        BenchCommand::Failover(args) => failover::run(args),
        BenchCommand::Latency(args) => latency::run(args),
    }
}
