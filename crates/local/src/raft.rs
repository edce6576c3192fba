//! The reference stack of the failover benchmark: OVN's own RAFT clustering. Three clustered
//! Northbound servers on test-bed hosts (`ovsdb-tool create-cluster` / `join-cluster`, the
//! default 1000 ms election timer) and three clustered Southbound ones (for ovn-northd), and
//! clients given all three remotes. The faults (leader kill, leader's link cut) aim at NB's
//! leader; SB's leader may sit elsewhere, as in any RAFT deployment.

use ovn_ha_testbed::{Bed, BedSpec, HostChild};

/// One clustered database.
struct Db {
    name: &'static str,
    /// File stem (`ovnnb` → `ovnnb_db.db`, `ovnnb_db.ctl`, …).
    short: &'static str,
    schema: &'static str,
    raft_port: u16,
    client_port: u16,
}

const NB: Db = Db {
    name: "OVN_Northbound",
    short: "ovnnb",
    schema: "/usr/share/ovn/ovn-nb.ovsschema",
    raft_port: 6643,
    client_port: 6641,
};
const SB: Db = Db {
    name: "OVN_Southbound",
    short: "ovnsb",
    schema: "/usr/share/ovn/ovn-sb.ovsschema",
    raft_port: 6644,
    client_port: 6642,
};

/// A running RAFT cluster; dropping it kills the servers and removes the bed.
#[derive(Debug)]
pub struct Raft {
    servers: Vec<Option<HostChild>>,
    sb_servers: Vec<Option<HostChild>>,
    bed: Bed,
}

#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("test bed: {0}")]
    Bed(#[from] ovn_ha_testbed::BedError),
    #[error("{0}")]
    Setup(String),
}

/// Whether a `cluster/status` text says this server leads.
pub fn is_leader(status: &str) -> bool {
    status.lines().any(|l| l.trim() == "Role: leader")
}

impl Raft {
    /// Creates the bed and the clusters, and starts the three servers of each database.
    pub fn up(prefix: &str, subnet: u8, hosts: usize) -> Result<Raft, RaftError> {
        let bed = Bed::create(&BedSpec::new(prefix, subnet, hosts)?)?;
        let first = bed.hosts()[0].addr();
        let mut servers = Vec::new();
        let mut sb_servers = Vec::new();
        for host in bed.hosts() {
            host.run("mkdir", &["-p", "/run/ovn", "/var/log/ovn"])?;
            for db in [&NB, &SB] {
                let local = format!("tcp:{}:{}", host.addr(), db.raft_port);
                let file = format!("/var/lib/ovn/{}_db.db", db.short);
                if host.index() == 1 {
                    host.run("ovsdb-tool", &["create-cluster", &file, db.schema, &local])?;
                } else {
                    let remote = format!("tcp:{first}:{}", db.raft_port);
                    host.run(
                        "ovsdb-tool",
                        &["join-cluster", &file, db.name, &local, &remote],
                    )?;
                }
                let mut cmd = host.command("ovsdb-server");
                cmd.args(["--no-chdir", "-vconsole:off", "-vfile:info"])
                    .arg(format!(
                        "--log-file=/var/log/ovn/ovsdb-server-{}.log",
                        db.short
                    ))
                    .arg(format!("--pidfile=/run/ovn/{}_db.pid", db.short))
                    .arg(format!("--unixctl=/run/ovn/{}_db.ctl", db.short))
                    .arg(format!("--remote=punix:/run/ovn/{}_db.sock", db.short))
                    .arg(format!("--remote=ptcp:{}:{}", db.client_port, host.addr()))
                    .arg(&file)
                    .stdin(std::process::Stdio::null());
                let child = Some(host.spawn(cmd)?);
                if db.short == NB.short {
                    servers.push(child);
                } else {
                    sb_servers.push(child);
                }
            }
        }
        Ok(Raft {
            servers,
            sb_servers,
            bed,
        })
    }

    /// The bed, for faults on its hosts.
    pub fn bed(&self) -> &Bed {
        &self.bed
    }

    /// All three NB client remotes, comma-separated.
    pub fn remotes(&self) -> String {
        self.remotes_of(NB.client_port)
    }

    /// All three SB client remotes, comma-separated.
    pub fn sb_remotes(&self) -> String {
        self.remotes_of(SB.client_port)
    }

    fn remotes_of(&self, port: u16) -> String {
        self.bed
            .hosts()
            .iter()
            .map(|h| format!("tcp:{}:{port}", h.addr()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `cluster/status` of server `i` (through `ovs-appctl`: this is the benchmark's reference
    /// stack, not our control path).
    fn status_of(&self, i: usize) -> Option<String> {
        let pid = self.servers.get(i)?.as_ref()?.pid();
        let ctl = format!("/proc/{pid}/root/run/ovn/ovnnb_db.ctl");
        let out = std::process::Command::new("ovs-appctl")
            .args([
                "--timeout=1",
                "-t",
                &ctl,
                "cluster/status",
                "OVN_Northbound",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Index (0-based) of the server that says it leads, if one does.
    pub fn leader(&self) -> Option<usize> {
        (0..self.servers.len()).find(|&i| self.status_of(i).is_some_and(|s| is_leader(&s)))
    }

    /// SIGKILLs server `i` (the benchmark's "kill -9 of the leader").
    pub fn kill(&mut self, i: usize) {
        if let Some(slot) = self.servers.get_mut(i) {
            // Dropping the guard SIGKILLs its process group.
            slot.take();
        }
    }

    /// Removes everything.
    pub fn down(self) -> Result<(), RaftError> {
        let Raft {
            servers,
            sb_servers,
            bed,
        } = self;
        drop(servers);
        drop(sb_servers);
        bed.teardown()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_role() {
        let leader = "4d5e\nName: OVN_Northbound\nCluster ID: 1\nServer ID: 2\nAddress: tcp:1:6643\nStatus: cluster member\nRole: leader\nTerm: 2\n";
        assert!(is_leader(leader));
        assert!(!is_leader("Role: follower\n"));
    }
}
