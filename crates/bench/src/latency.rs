//! `cargo xtask bench latency`: what the semi-synchronous proxy costs a client. One persistent
//! OVSDB session writes through the VIP (the entrypoint's proxy, the network, and the wait for
//! every caught-up standby to confirm), and, interleaved with it, one on the active server's
//! own unix socket (no proxy, no network, no confirmation — what a client of an asynchronous
//! server would see, minus the network), the same transactions each, on a local cluster of its
//! own (site `bench`).

use anyhow::{Context, Result, bail};
use ovn_ha_local::cluster::Site;
use ovn_ha_local::observe::{self, Copy};
use ovn_ha_local::{e2e, ovsdb_rpc};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Transactions per size and path.
    #[arg(long, default_value_t = 300)]
    transactions: usize,
}

const TIMEOUT: Duration = Duration::from_secs(10);
/// The transaction sizes: one small row, and one with a 64 KiB value (a large port group).
const SIZES: [(&str, usize); 2] = [("one switch", 0), ("one switch + 64 KiB", 64 * 1024)];

pub fn run(args: &LatencyArgs) -> Result<ExitCode> {
    if args.transactions == 0 || args.transactions > 100_000 {
        bail!("--transactions must be 1–100000");
    }
    let _lock = e2e::lock(|| eprintln!("waiting for the end-to-end lock ({})", e2e::LOCK_FILE))?;
    let c = e2e::up(Site::named("bench", 30), 3).context("bringing up the bench cluster")?;
    let active = converged(&c.site).context("the cluster did not converge within 60 s")?;
    let pid = observe::container_pid(&active).context("no container pid for the active")?;
    let sock = format!("/proc/{pid}/root/run/ovn/ovnnb_db.sock");
    let vip: SocketAddr = c
        .remote
        .strip_prefix("tcp:")
        .unwrap_or(&c.remote)
        .parse()
        .with_context(|| format!("the NB remote {}", c.remote))?;
    eprintln!(
        "active {active}; {} transactions per size and path, interleaved",
        args.transactions
    );
    let mut via_vip = TcpStream::connect_timeout(&vip, TIMEOUT)?;
    via_vip.set_nodelay(true)?;
    via_vip.set_read_timeout(Some(TIMEOUT))?;
    let mut direct = UnixStream::connect(&sock).with_context(|| sock.clone())?;
    direct.set_read_timeout(Some(TIMEOUT))?;
    println!(
        "| transaction | path | n | median ms | p90 ms | p99 ms | max ms |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for (label, size) in SIZES {
        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        for i in 0..args.transactions {
            for (k, times) in times.iter_mut().enumerate() {
                let ops = [insert(&format!("lat-{size}-{k}-{i}"), size)];
                let t = Instant::now();
                if k == 0 {
                    ovsdb_rpc::transact(&mut direct, "OVN_Northbound", &ops)?;
                } else {
                    ovsdb_rpc::transact(&mut via_vip, "OVN_Northbound", &ops)?;
                }
                times.push(t.elapsed());
            }
        }
        for (k, path) in [
            "active's unix socket (no proxy, no confirmation)",
            "VIP through the proxy (standbys confirm)",
        ]
        .iter()
        .enumerate()
        {
            let mut t = times[k].clone();
            t.sort();
            let q = |p: f64| -> f64 {
                let i = ((t.len() as f64 - 1.0) * p).round() as usize;
                t.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
            };
            println!(
                "| {label} | {path} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                t.len(),
                q(0.5),
                q(0.9),
                q(0.99),
                q(1.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn insert(name: &str, size: usize) -> Value {
    let mut row = json!({"name": name});
    if size > 0 {
        row["external_ids"] = json!(["map", [["blob", "x".repeat(size)]]]);
    }
    json!({"op": "insert", "table": "Logical_Switch", "row": row})
}

/// Waits until one copy is active and the two others replicate; returns the active's host.
fn converged(site: &Site) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let views = observe::sample(site);
        let replicating = views.iter().filter(|v| v.nb == Copy::Replicating).count();
        if let Some(a) = observe::active_host(&views)
            && replicating == 2
        {
            // The replicas' proxy links become eligible once their initial copy has passed.
            std::thread::sleep(Duration::from_secs(2));
            return Some(a.to_string());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
