//! `cargo xtask bench agent`: monitor and promote/demote latency of our OCF agent against OVN's
//! shell agent on the same two servers.
//!
//! Two test-bed hosts (`oa3b-h1`, `oa3b-h2`: network + mount namespaces on a bridge in
//! 198.18.3.0/24) each run one copy of the NB/SB servers; for each agent in turn the bench
//! starts both copies, promotes the first and puts the VIP (198.18.3.100) on it, then times,
//! from a helper process inside each host (the xtask binary re-executed through `nsenter`, so
//! the figures carry no `nsenter` cost), `monitor` on the promoted copy, `monitor` on the
//! unpromoted copy and a promote + demote cycle of the unpromoted copy. `crm_attribute` is
//! replaced inside the hosts by a stub that exits 0 (there is no cluster), so both agents pay
//! only their own cost for promotion-score updates. Everything is stopped by pid and the bed
//! is removed afterwards, also on error.

use anyhow::{Context, Result, bail};
use ovn_ha_exec::Exec;
use ovn_ha_testbed::{Bed, BedSpec, Host, teardown_by_name};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "oa3b";
const SUBNET: u8 = 3;
const INSTANCE: &str = "ovndb_servers";
const SHELL_AGENT: &str = "/usr/share/ovn/scripts/ovndb-servers.ocf";

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Samples per measured monitor.
    #[arg(long, default_value_t = 200)]
    pub samples: u32,
    /// Promote/demote cycles measured per agent.
    #[arg(long, default_value_t = 50)]
    pub cycles: u32,
    /// Internal: time `--inner-kind` runs of this agent inside a host and print microseconds.
    #[arg(long, hide = true)]
    pub inner_agent: Option<PathBuf>,
    /// Internal: `monitor` or `cycle`.
    #[arg(long, hide = true, default_value = "monitor")]
    pub inner_kind: String,
}

pub fn run(args: &AgentArgs) -> Result<ExitCode> {
    if let Some(agent) = &args.inner_agent {
        return inner(agent, &args.inner_kind, args.samples);
    }
    outer(args)
}

/// Which agent, and how to call it.
#[derive(Debug, Clone)]
struct Agent {
    name: &'static str,
    path: PathBuf,
    env: Vec<(String, String)>,
}

/// Latency figures of one measurement, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Figures {
    median: f64,
    p99: f64,
}

fn figures(mut us: Vec<u64>) -> Figures {
    us.sort_unstable();
    let at = |q: f64| -> f64 {
        if us.is_empty() {
            return f64::NAN;
        }
        let idx = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1;
        us[idx] as f64
    };
    let median = if us.is_empty() {
        f64::NAN
    } else if us.len() % 2 == 1 {
        us[us.len() / 2] as f64
    } else {
        (us[us.len() / 2 - 1] + us[us.len() / 2]) as f64 / 2.0
    };
    Figures {
        median,
        p99: at(0.99),
    }
}

/// Inside a host: runs the agent `samples` times and prints one line `MICROS RC` per run.
fn inner(agent: &Path, kind: &str, samples: u32) -> Result<ExitCode> {
    let actions: &[&str] = match kind {
        "monitor" => &["monitor"],
        "cycle" => &["promote", "demote"],
        other => bail!("unknown inner kind {other}"),
    };
    eprintln!(
        "$ {} ({} × {samples}, timed)",
        actions
            .iter()
            .map(|a| format!("{} {a}", agent.display()))
            .collect::<Vec<_>>()
            .join(" && "),
        actions.len()
    );
    for _ in 0..samples {
        let t = Instant::now();
        let mut rc = 0;
        for a in actions {
            let st = Command::new(agent)
                .arg(a)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .with_context(|| format!("running {} {a}", agent.display()))?;
            rc = rc.max(st.code().unwrap_or(-1));
        }
        println!("{} {rc}", t.elapsed().as_micros());
    }
    Ok(ExitCode::SUCCESS)
}

struct Copy<'a> {
    host: &'a Host,
    /// A snapshot of this xtask binary (cargo may rebuild the original meanwhile).
    helper: PathBuf,
}

impl Copy<'_> {
    fn command(&self, agent: &Agent, action: &str, extra: &[(&str, &str)]) -> Command {
        let mut cmd = self.host.command(&agent.path);
        cmd.arg(action);
        for (k, v) in &agent.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn action(&self, agent: &Agent, action: &str) -> Result<()> {
        Exec::new(&self.command(agent, action, &[]))
            .logged()
            .output()
            .with_context(|| format!("{} {action} on {}", agent.name, self.host.name()))
            .map(|_| ())
    }

    fn sh(&self, script: &str) -> Result<String> {
        let mut cmd = self.host.command("sh");
        cmd.args(["-c", script]);
        Ok(Exec::new(&cmd).logged().text()?)
    }

    /// Times `kind` runs from inside the host; returns the samples and the exit codes seen.
    fn measure(
        &self,
        agent: &Agent,
        kind: &str,
        samples: u32,
        extra: &[(&str, &str)],
    ) -> Result<(Vec<u64>, Vec<i32>)> {
        let mut cmd = self.host.command(&self.helper);
        cmd.args(["bench", "agent", "--samples", &samples.to_string()])
            .arg("--inner-agent")
            .arg(&agent.path)
            .args(["--inner-kind", kind]);
        for (k, v) in &agent.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = Exec::new(&cmd).logged().stderr_shown().output()?;
        let mut us = Vec::new();
        let mut rcs = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut f = line.split_whitespace();
            if let (Some(t), Some(rc)) = (f.next(), f.next()) {
                us.push(t.parse()?);
                let rc: i32 = rc.parse()?;
                if !rcs.contains(&rc) {
                    rcs.push(rc);
                }
            }
        }
        Ok((us, rcs))
    }

    /// Stops whatever runs on the host: the agent's stop, then kill by pid file.
    fn cleanup(&self, agents: &[Agent]) {
        for a in agents {
            let _ = self.command(a, "stop", &[]).output();
        }
        let _ = self.host.command("sh").args(["-c",
            "for f in /run/ovn/*.pid; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); \
             pp=$(awk '{print $4}' /proc/$p/stat 2>/dev/null); kill -9 $p 2>/dev/null; \
             [ -n \"$pp\" ] && [ \"$(cat /proc/$pp/comm 2>/dev/null)\" = ovsdb-server ] && kill -9 $pp; done; true",
        ]).output();
    }
}

struct Guard<'a> {
    copies: &'a [Copy<'a>],
    agents: Vec<Agent>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        for c in self.copies {
            c.cleanup(&self.agents);
        }
    }
}

struct Row {
    what: &'static str,
    ours: Figures,
    shell: Figures,
}

fn outer(args: &AgentArgs) -> Result<ExitCode> {
    if !nix_is_root() {
        bail!("the agent benchmark needs root (network and mount namespaces)");
    }
    for p in [
        "/usr/sbin/ovsdb-server",
        "/usr/bin/ovsdb-tool",
        SHELL_AGENT,
        "/usr/bin/nsenter",
    ] {
        if !Path::new(p).exists() {
            bail!("{p} is missing (cargo xtask test installs the packages)");
        }
    }
    let mut list = Command::new("ip");
    list.args(["netns", "list"]);
    if Exec::new(&list).logged().text()?.contains("oa3-h") {
        bail!("the ocf-agent two-host test (oa3-*) is running on 198.18.3.0/24; try again later");
    }
    let root = ovn_ha_local::workspace::root();
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "-p", "ovndb-servers"]);
    Exec::new(&build).logged().inherit()?;
    let ours_path = root.join("target/release/ovndb-servers");

    teardown_by_name(PREFIX).context("removing an old bench bed")?;
    let bed = Bed::create(&BedSpec::new(PREFIX, SUBNET, 2)?)?;
    let vip = bed.spec().addr(100).to_string();

    // A crm_attribute that succeeds at once, for both agents alike (no cluster here).
    let stub = bed.spec().state_dir().join("crm_attribute-stub");
    std::fs::write(&stub, "#!/bin/sh\nexit 0\n")?;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755))?;
    for h in bed.hosts() {
        h.bind_mount(&stub, "/usr/sbin/crm_attribute")?;
    }

    let common = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = vec![
            ("OCF_ROOT".into(), "/usr/lib/ocf".into()),
            (
                "OCF_FUNCTIONS_DIR".into(),
                "/usr/lib/ocf/lib/heartbeat".into(),
            ),
            ("OCF_RESOURCE_INSTANCE".into(), INSTANCE.into()),
            ("OCF_RESKEY_master_ip".into(), vip.clone()),
            ("OCF_RESKEY_CRM_meta_timeout".into(), "20000".into()),
        ];
        v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        v
    };
    let agents = vec![
        Agent {
            name: "ours",
            path: ours_path,
            env: common(&[]),
        },
        Agent {
            name: "shell",
            path: SHELL_AGENT.into(),
            env: common(&[]),
        },
    ];
    let helper = bed.spec().state_dir().join("xtask-bench-helper");
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    std::fs::copy(&exe, &helper)
        .with_context(|| format!("copying {} to {}", exe.display(), helper.display()))?;
    let copies: Vec<Copy<'_>> = bed
        .hosts()
        .iter()
        .map(|host| Copy {
            host,
            helper: helper.clone(),
        })
        .collect();
    let guard = Guard {
        copies: &copies,
        agents: agents.clone(),
    };
    let (a, b) = (&copies[0], &copies[1]);
    let promoted = [
        ("OCF_RESKEY_CRM_meta_interval", "1000"),
        ("OCF_RESKEY_CRM_meta_role", "Promoted"),
    ];
    let unpromoted = [
        ("OCF_RESKEY_CRM_meta_interval", "2000"),
        ("OCF_RESKEY_CRM_meta_role", "Unpromoted"),
    ];

    let mut results: Vec<[Figures; 3]> = Vec::new();
    for agent in &agents {
        eprintln!("== {} agent: {}", agent.name, agent.path.display());
        a.action(agent, "start")?;
        b.action(agent, "start")?;
        a.action(agent, "promote")?;
        a.sh(&format!("ip addr add {vip}/24 dev eth0"))?;
        if agent.name == "ours" {
            // Steady state: the standby replicates from the VIP.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !b
                .sh("ovs-appctl -t /run/ovn/ovnsb_db.ctl ovsdb-server/sync-status; ovs-appctl -t /run/ovn/ovnnb_db.ctl ovsdb-server/sync-status")?
                .matches("replicating")
                .count()
                .eq(&2)
            {
                if Instant::now() > deadline {
                    bail!("the standby did not start replicating within 30 s");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // Warm up caches (page cache, score cache), then measure.
        a.measure(agent, "monitor", 5, &promoted)?;
        b.measure(agent, "monitor", 5, &unpromoted)?;
        let (pm, prc) = a.measure(agent, "monitor", args.samples, &promoted)?;
        let (um, urc) = b.measure(agent, "monitor", args.samples, &unpromoted)?;
        let (cy, crc) = b.measure(agent, "cycle", args.cycles, &[])?;
        eprintln!(
            "exit codes: promoted monitor {prc:?}, unpromoted monitor {urc:?}, cycle (max) {crc:?}"
        );
        if prc != [8] || urc != [0] || crc != [0] {
            bail!(
                "{} agent returned unexpected codes: {prc:?} {urc:?} {crc:?}",
                agent.name
            );
        }
        results.push([figures(pm), figures(um), figures(cy)]);
        a.sh(&format!("ip addr del {vip}/24 dev eth0"))?;
        a.action(agent, "demote")?;
        a.action(agent, "stop")?;
        b.action(agent, "stop")?;
    }
    drop(guard);
    bed.teardown()?;

    let rows: Vec<Row> = [
        "monitor, promoted copy",
        "monitor, unpromoted copy",
        "promote + demote cycle",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, what)| Row {
        what,
        ours: results[0][i],
        shell: results[1][i],
    })
    .collect();
    print_table(&rows, args);
    let goal = rows[0].ours.median <= 2000.0 && rows[0].shell.median / rows[0].ours.median >= 25.0;
    println!(
        "goal (median promoted monitor <= 2 ms and >= 25x faster than the shell agent): {}",
        if goal { "met" } else { "NOT met" }
    );
    Ok(if goal {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn print_table(rows: &[Row], args: &AgentArgs) {
    println!(
        "\nOCF agent latency ({} monitor samples, {} promote/demote cycles per agent)\n",
        args.samples, args.cycles
    );
    println!(
        "| {:<26} | {:>11} | {:>11} | {:>12} | {:>12} | {:>14} |",
        "action", "ours median", "ours p99", "shell median", "shell p99", "speed-up (med)"
    );
    println!(
        "|{:-<28}|{:->13}|{:->13}|{:->14}|{:->14}|{:->16}|",
        "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<26} | {:>11} | {:>11} | {:>12} | {:>12} | {:>13.1}x |",
            r.what,
            ms(r.ours.median),
            ms(r.ours.p99),
            ms(r.shell.median),
            ms(r.shell.p99),
            r.shell.median / r.ours.median
        );
    }
    println!();
}

fn nix_is_root() -> bool {
    // /proc/self/status "Uid:" real uid, without another dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let f = figures((1..=100).collect());
        assert_eq!(f.median, 50.5);
        assert_eq!(f.p99, 99.0);
        let f = figures(vec![5, 1, 3]);
        assert_eq!((f.median, f.p99), (3.0, 5.0));
        assert!(figures(Vec::new()).median.is_nan());
    }
}
