//! The reference stack of the failover benchmark: OVN's own RAFT clustering. Three clustered
//! Northbound servers on test-bed hosts (`ovsdb-tool create-cluster` / `join-cluster`, the
//! default 1000 ms election timer), and a client given all three remotes. Only NB: the writer
//! writes NB, and SB would behave the same.

use ovn_ha_testbed::{Bed, BedSpec, HostChild};

const DB: &str = "/var/lib/ovn/ovnnb_db.db";
const SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
const RAFT_PORT: u16 = 6643;

/// A running RAFT cluster; dropping it kills the servers and removes the bed.
#[derive(Debug)]
pub struct Raft {
    servers: Vec<Option<HostChild>>,
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
    /// Creates the bed and the cluster, and starts the three servers.
    pub fn up(prefix: &str, subnet: u8, hosts: usize) -> Result<Raft, RaftError> {
        let bed = Bed::create(&BedSpec::new(prefix, subnet, hosts)?)?;
        let first = bed.hosts()[0].addr();
        let mut servers = Vec::new();
        for host in bed.hosts() {
            let local = format!("tcp:{}:{RAFT_PORT}", host.addr());
            if host.index() == 1 {
                host.run("ovsdb-tool", &["create-cluster", DB, SCHEMA, &local])?;
            } else {
                let remote = format!("tcp:{first}:{RAFT_PORT}");
                host.run(
                    "ovsdb-tool",
                    &["join-cluster", DB, "OVN_Northbound", &local, &remote],
                )?;
            }
            host.run("mkdir", &["-p", "/run/ovn", "/var/log/ovn"])?;
            let mut cmd = host.command("ovsdb-server");
            cmd.args([
                "--no-chdir",
                "-vconsole:off",
                "-vfile:info",
                "--log-file=/var/log/ovn/ovsdb-server-nb.log",
                "--pidfile=/run/ovn/ovnnb_db.pid",
                "--unixctl=/run/ovn/ovnnb_db.ctl",
                "--remote=punix:/run/ovn/ovnnb_db.sock",
            ])
            .arg(format!("--remote=ptcp:6641:{}", host.addr()))
            .arg(DB)
            .stdin(std::process::Stdio::null());
            servers.push(Some(host.spawn(cmd)?));
        }
        Ok(Raft { servers, bed })
    }

    /// The bed, for faults on its hosts.
    pub fn bed(&self) -> &Bed {
        &self.bed
    }

    /// All three client remotes, comma-separated.
    pub fn remotes(&self) -> String {
        self.bed
            .hosts()
            .iter()
            .map(|h| format!("tcp:{}:6641", h.addr()))
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
        let Raft { servers, bed } = self;
        drop(servers);
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
