//! The stacks the failover bench compares (ours, OVN's shell agent with the original and with
//! our timings, OVN RAFT), the scenarios each has, and bringing a Pacemaker stack up on the
//! bench's test-bed hosts (`site`) from freshly rendered manifests.

use anyhow::{Context, Result};
use ovn_ha_local::cluster::{self, Reporter, Site, UpMount, UpOptions};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Our agent and entrypoint: the local cluster of `cargo xtask deploy`.
    Ours,
    /// The same, rendered with `--ssl`: the proxy ends TLS, the standbys replicate over
    /// `ssl:`, and the one-shot writer dials `ssl:VIP` with the rendered client certificate
    /// (the persistent clients are not run: the Python IDL has no TLS in the image's packages).
    OursTls,
    /// OVN's shell agent under our entrypoint's corosync + Pacemaker with the original
    /// ovn-kubernetes settings: corosync defaults, monitors 15 s / 60 s, dc-deadtime 20 s.
    Shell,
    /// OVN's shell agent with exactly the timings our entrypoint ships.
    ShellTuned,
    /// OVN's RAFT clustered databases, election timer 1000 ms, client given all remotes.
    Raft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The active (leader) host's link is cut.
    NodeLoss,
    /// `kill -9` of the active (leader) NB server.
    KillServer,
    /// Graceful switchover: SIGTERM to the active pod (Pacemaker stacks only).
    Switchover,
    /// SIGSEGV of the active NB server: a real crash, leaving its pidfile (Pacemaker stacks
    /// only).
    SegvServer,
    /// The active host's corosync traffic (UDP 5405–5406) dropped both ways while clients and
    /// replication still reach it (Pacemaker stacks only).
    CorosyncPartition,
    /// Cold start to the first acknowledged write.
    Bootstrap,
    /// Every pod replaced by the same pod on the image of a newer Debian suite (OVN's schemas
    /// change), standbys first, the active last, until every copy serves the new schemas
    /// (`ours` only: the shell agent cannot replicate across the schema change).
    RollingUpgrade,
    /// `--soak-minutes` under a CPU burner: unasked membership changes and promotions.
    Soak,
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Ours => "ours",
            Stack::OursTls => "ours-tls",
            Stack::Shell => "shell",
            Stack::ShellTuned => "shell-tuned",
            Stack::Raft => "raft",
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::NodeLoss => "node loss",
            Scenario::KillServer => "kill -9 server",
            Scenario::Switchover => "switchover",
            Scenario::SegvServer => "SIGSEGV server",
            Scenario::CorosyncPartition => "corosync-only partition",
            Scenario::Bootstrap => "cold bootstrap",
            Scenario::RollingUpgrade => "rolling upgrade",
            Scenario::Soak => "soak",
        })
    }
}

impl Stack {
    /// Runs under corosync + Pacemaker (ours or the shell agent).
    pub fn is_pacemaker(self) -> bool {
        self != Stack::Raft
    }

    /// Environment the entrypoint gets on top of the rendered one: the original
    /// ovn-kubernetes timings for `shell`, nothing (the shipped defaults) otherwise; both shell
    /// stacks switch our crash restart in place off, so a killed server is found by the shell
    /// agent's own monitor, our semi-synchronous proxy off, so the shell agent's servers
    /// listen on the ports themselves, and our client tickles off.
    pub fn extra_env(self) -> Vec<(String, String)> {
        use ovn_ha_config::db_env as var;
        match self {
            Stack::Shell => [
                (var::TOKEN_MS, "3000"),
                (var::TOKEN_COEFFICIENT_MS, "650"),
                (var::PROMOTED_MONITOR_MS, "15000"),
                (var::UNPROMOTED_MONITOR_MS, "60000"),
                (var::DC_DEADTIME_MS, "20000"),
                (var::TRANSITION_DELAY_MS, "0"),
                (var::CRASH_RESTART, "off"),
                (var::SEMI_SYNC, "off"),
                (var::CLIENT_TICKLE, "off"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            Stack::ShellTuned => vec![
                (var::CRASH_RESTART.to_string(), "off".to_string()),
                (var::SEMI_SYNC.to_string(), "off".to_string()),
                (var::CLIENT_TICKLE.to_string(), "off".to_string()),
            ],
            _ => Vec::new(),
        }
    }

    /// Bind mounts: OVN's shell agent (in the image from ovn-common) over our agent's path.
    pub fn extra_mounts(self) -> Vec<UpMount> {
        match self {
            Stack::Shell | Stack::ShellTuned => {
                vec![UpMount::image_file_over(SHELL_AGENT, OUR_AGENT)]
            }
            _ => Vec::new(),
        }
    }

    /// How long after the fault every run of this stack is given to recover before the stall
    /// window starts (the shell agent's original timings: up to a 15 s monitor, 8 s corosync).
    pub fn recovery_allowance(self) -> Duration {
        match self {
            Stack::Shell => Duration::from_secs(40),
            _ => Duration::from_secs(15),
        }
    }

    /// Whether this stack has the scenario.
    pub fn has(self, scenario: Scenario) -> bool {
        if scenario == Scenario::RollingUpgrade {
            return self == Stack::Ours;
        }
        !(self == Stack::Raft
            && matches!(
                scenario,
                Scenario::Switchover
                    | Scenario::Soak
                    | Scenario::SegvServer
                    | Scenario::CorosyncPartition
            ))
    }
}

/// OVN's shell agent inside the image.
pub const SHELL_AGENT: &str = "/usr/share/ovn/scripts/ovndb-servers.ocf";
/// Where the image installs our agent (`ocf:ovn:ovndb-servers`).
pub const OUR_AGENT: &str = "/usr/lib/ocf/resource.d/ovn/ovndb-servers";

#[derive(Debug)]
pub struct Quiet;

impl Reporter for Quiet {
    fn step(&mut self, _: &str) {}
    fn command(&mut self, _: &str) {}
}

/// The Pacemaker stacks' hosts (subnet 30); every stack uses the same ones, one at a time.
pub fn site() -> Site {
    Site::named("bench", 30)
}

/// Renders the manifests for the bench site into a temporary directory (with `--ssl` for
/// `tls`); the `ovn-nbctl` options of the client certificate, empty without TLS.
fn manifests(
    site: &Site,
    tls: bool,
) -> Result<(tempfile::TempDir, ovn_ha_config::Config, Vec<String>)> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let (config, ssl) = ovn_ha_local::e2e::render_with(site, dir.path(), tls)?;
    Ok((dir, config, ssl))
}

/// The image to run: `--image`, or the workspace's default layout.
pub fn image(arg: Option<&str>) -> String {
    arg.map_or_else(ovn_ha_local::workspace::default_image, str::to_string)
}

/// A Pacemaker stack that is up: its site, manifests, configuration and bootstrap time.
pub struct PacemakerUp {
    pub site: Site,
    pub config: ovn_ha_config::Config,
    pub bootstrap: Duration,
    /// `ovn-nbctl`'s options for the `ssl:` remote (empty without TLS).
    pub ssl: Vec<String>,
    _manifests: tempfile::TempDir,
}

/// Brings a Pacemaker stack up on fresh hosts (removing leftovers first), with `env` on top of
/// the stack's own. On failure the caller still calls [`cluster::down`].
pub fn up_pacemaker(
    stack: Stack,
    image: &str,
    env: &[(&str, &str)],
    realtime: bool,
) -> Result<PacemakerUp> {
    let site = site();
    cluster::down(&site, &mut Quiet)?;
    let (dir, config, ssl) = manifests(&site, stack == Stack::OursTls)?;
    let opts = UpOptions {
        manifests: dir.path().to_path_buf(),
        image: image.to_string(),
        hosts: 3,
        vip: config.vip.addr,
        // The shell stack's first DC election alone waits 20 s.
        wait: Duration::from_secs(180),
        extra_env: stack
            .extra_env()
            .into_iter()
            .chain(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect(),
        extra_mounts: stack.extra_mounts(),
        realtime,
        ssl: ssl.clone(),
    };
    let report = cluster::up(&site, &opts, &mut Quiet)?;
    Ok(PacemakerUp {
        site,
        config,
        bootstrap: report.bootstrap,
        ssl,
        _manifests: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_differ_only_in_agent_and_timings() {
        assert!(Stack::Ours.extra_env().is_empty() && Stack::Ours.extra_mounts().is_empty());
        assert!(Stack::OursTls.extra_env().is_empty() && Stack::OursTls.extra_mounts().is_empty());
        // Both shell stacks only switch our crash restart in place, our proxy and our client
        // tickles off; `shell` adds timings.
        let off = ("OVN_DB_HA_CRASH_RESTART".to_string(), "off".to_string());
        let async_ = ("OVN_DB_HA_SEMI_SYNC".to_string(), "off".to_string());
        let no_tickle = ("OVN_DB_HA_CLIENT_TICKLE".to_string(), "off".to_string());
        assert_eq!(
            Stack::ShellTuned.extra_env(),
            [off.clone(), async_.clone(), no_tickle.clone()]
        );
        for e in [&async_, &off, &no_tickle] {
            assert!(Stack::Shell.extra_env().contains(e));
        }
        assert_eq!(
            Stack::ShellTuned.extra_mounts(),
            Stack::Shell.extra_mounts()
        );
        let m = &Stack::Shell.extra_mounts()[0];
        assert_eq!(m.destination, OUR_AGENT);
        assert!(m.read_only);
        let env = Stack::Shell.extra_env();
        assert!(env.contains(&("OVN_DB_HA_PROMOTED_MONITOR_MS".into(), "15000".into())));
        assert!(env.contains(&("OVN_DB_HA_TOKEN_COEFFICIENT_MS".into(), "650".into())));
    }
}
