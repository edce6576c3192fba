//! Faults to inject into a running local cluster, by name and pid: cut or throttle a host's
//! link, kill a process inside a host, signal a container, drop a host's inbound traffic.

use crate::observe::root_veth;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> std::io::Result<()> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    ovn_ha_exec::Exec::new(&cmd)
        .output()
        .map(|_| ())
        .map_err(std::io::Error::other)
}

/// Takes the host's root-side veth down: the host is cut off the bridge.
pub fn cut_link(host: &str) -> std::io::Result<()> {
    run("ip", &["link", "set", &root_veth(host), "down"])
}

pub fn restore_link(host: &str) -> std::io::Result<()> {
    run("ip", &["link", "set", &root_veth(host), "up"])
}

/// Limits traffic towards the host with a token bucket (`tc tbf`; netem is not available).
pub fn throttle(host: &str, rate: &str) -> std::io::Result<()> {
    run(
        "tc",
        &[
            "qdisc",
            "replace",
            "dev",
            &root_veth(host),
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "16kbit",
            "latency",
            "400ms",
        ],
    )
}

/// Slows one TCP flow only, in `host`'s own egress queue (`tc htb` with a u32 filter; prio
/// and netem are not in every kernel): what `host` sends from local port `sport` to `dst` goes
/// at `rate`, everything else at full speed. What is queued is lost with the host, as a real
/// lagging replica's backlog would be. [`unthrottle_flow`] removes it.
pub fn throttle_flow(host: &str, dst: &str, sport: u16, rate: &str) -> std::io::Result<()> {
    let ns = |args: &[&str]| {
        let mut a = vec!["-n", host];
        a.extend_from_slice(args);
        run("tc", &a)
    };
    ns(&[
        "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default", "20",
    ])?;
    ns(&[
        "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate", rate,
        "ceil", rate,
    ])?;
    ns(&[
        "class", "add", "dev", "eth0", "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit",
    ])?;
    let sport = sport.to_string();
    let dst = format!("{dst}/32");
    ns(&[
        "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "u32", "match", "ip",
        "protocol", "6", "0xff", "match", "ip", "sport", &sport, "0xffff", "match", "ip", "dst",
        &dst, "flowid", "1:10",
    ])
}

pub fn unthrottle_flow(host: &str) -> std::io::Result<()> {
    run("tc", &["-n", host, "qdisc", "del", "dev", "eth0", "root"])
}

pub fn unthrottle(host: &str) -> std::io::Result<()> {
    run("tc", &["qdisc", "del", "dev", &root_veth(host), "root"])
}

/// Drops every packet arriving at the host from `sources` (one-way partition).
pub fn drop_inbound(host: &str, sources: &[String]) -> std::io::Result<()> {
    for s in sources {
        run(
            "ip",
            &[
                "netns", "exec", host, "iptables", "-I", "INPUT", "-s", s, "-j", "DROP",
            ],
        )?;
    }
    Ok(())
}

/// Drops TCP segments arriving at the host from `sources` for `ports` (the replication ports:
/// those standbys cannot reach a copy at the VIP here; the cluster's membership is untouched).
/// [`clear_inbound`] removes them.
pub fn drop_tcp_inbound(host: &str, sources: &[String], ports: &[u16]) -> std::io::Result<()> {
    for s in sources {
        for port in ports {
            let port = port.to_string();
            run(
                "ip",
                &[
                    "netns", "exec", host, "iptables", "-I", "INPUT", "-p", "tcp", "-s", s,
                    "--dport", &port, "-j", "DROP",
                ],
            )?;
        }
    }
    Ok(())
}

/// Drops corosync's traffic (UDP 5405–5406) to and from the host, nothing else: a partition of
/// the membership while clients and replication still reach the host.
pub fn drop_corosync(host: &str) -> std::io::Result<()> {
    for chain in ["INPUT", "OUTPUT"] {
        for port in ["--dport", "--sport"] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    host,
                    "iptables",
                    "-I",
                    chain,
                    "-p",
                    "udp",
                    port,
                    "5405:5406",
                    "-j",
                    "DROP",
                ],
            )?;
        }
    }
    Ok(())
}

/// Removes [`drop_corosync`]'s (and [`drop_inbound`]'s) rules.
pub fn clear_corosync(host: &str) -> std::io::Result<()> {
    run("ip", &["netns", "exec", host, "iptables", "-F", "INPUT"])?;
    run("ip", &["netns", "exec", host, "iptables", "-F", "OUTPUT"])
}

pub fn clear_inbound(host: &str) -> std::io::Result<()> {
    run("ip", &["netns", "exec", host, "iptables", "-F", "INPUT"])
}

/// Pids of processes in the host's network namespace whose command line contains `needle`
/// (and whose name is `comm`).
pub fn pids_in_host(host: &str, comm: &str, needle: &str) -> Vec<i32> {
    host_pids(host)
        .into_iter()
        .filter(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            name.trim() == comm && String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}

/// The sum of the peak resident sizes (`VmHWM`, KiB) of the host's processes named `comm`
/// (all of them when `comm` is empty): an upper bound of what they held at once.
pub fn memory_peak_kib(host: &str, comm: &str) -> u64 {
    let pids = if comm.is_empty() {
        host_pids(host)
    } else {
        pids_in_host(host, comm, "")
    };
    pids.into_iter()
        .filter_map(|pid| {
            procfs::process::Process::new(pid)
                .ok()?
                .status()
                .ok()?
                .vmhwm
        })
        .sum()
}

/// Pids of every process in the host's network namespace.
fn host_pids(host: &str) -> Vec<i32> {
    let Ok(ns) = std::fs::metadata(format!("/var/run/netns/{host}")) else {
        return Vec::new();
    };
    procfs::process::all_processes()
        .map(|all| {
            all.flatten()
                .filter(|p| {
                    std::fs::metadata(format!("/proc/{}/ns/net", p.pid))
                        .is_ok_and(|m| m.dev() == ns.dev() && m.ino() == ns.ino())
                })
                .map(|p| p.pid)
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs the matching processes of the host; returns how many.
pub fn kill9(host: &str, comm: &str, needle: &str) -> usize {
    signal_processes(host, comm, needle, "KILL")
}

/// Sends `signal` (`SEGV`, `ABRT`, `BUS`, `KILL`, …) to the matching processes of the host, as
/// a real crash of theirs would end them; returns how many.
pub fn signal_processes(host: &str, comm: &str, needle: &str, signal: &str) -> usize {
    let pids = pids_in_host(host, comm, needle);
    for pid in &pids {
        let _ = run("kill", &[&format!("-{signal}"), &pid.to_string()]);
    }
    pids.len()
}

/// Sends a signal to the host's container (its entrypoint).
pub fn signal_container(host: &str, signal: &str) -> std::io::Result<()> {
    run("runc", &["kill", host, signal])
}
