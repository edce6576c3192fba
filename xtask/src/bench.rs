//! `cargo xtask bench …`: benchmarks that print figures.

use anyhow::Result;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// OCF agent latency: ours against OVN's shell agent, side by side.
    Agent(crate::bench_agent::AgentArgs),
    /// Failover: our stack against OVN's shell agent and OVN RAFT on the same test-bed hosts,
    /// same writer; and the soak under a CPU burner.
    Failover(crate::bench_failover::FailoverArgs),
    /// What the semi-synchronous proxy costs a client: transaction round trips through the VIP
    /// against the active server's own unix socket, interleaved.
    Latency(crate::bench_latency::LatencyArgs),
}

pub fn run(cmd: &BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Agent(args) => crate::bench_agent::run(args),
        BenchCommand::Failover(args) => crate::bench_failover::run(args),
        BenchCommand::Latency(args) => crate::bench_latency::run(args),
    }
}
