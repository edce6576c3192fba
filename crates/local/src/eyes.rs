//! Which copies take writes, seen from inside every host — a cut-off one included — fast enough
//! to sample every 20 ms: the fault suite's split-brain detector.
//!
//! A copy takes writes from some client when three things hold in its host: its server is
//! active (unixctl `sync-status` through the container's root), the VIP is a local address of
//! the host's network namespace (`/proc/<pid>/net/fib_trie`, "host LOCAL"), and the server has
//! a client listener on the database's port (`/proc/<pid>/net/tcp`, through `procfs`). The
//! host's link does not matter: clients on a cut-off host (ovn-northd, ovnkube-master with
//! hostNetwork) still write to it. Two such copies of one database at one sample is split
//! brain. Reading files and one unixctl call per database, no process spawned per sample (the
//! container's pid is looked up once and again only when it is gone).

use crate::cluster::{Site, running_hosts};
use crate::observe::{Copy, ask, container_pid};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// One host at one moment: per database (NB, SB), whether it takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writable {
    pub host: String,
    pub nb: bool,
    pub sb: bool,
}

/// Whether `fib_trie` text (a namespace's `/proc/net/fib_trie`) lists `addr` as a local host
/// address (pure).
pub fn is_local_in_fib_trie(fib_trie: &str, addr: Ipv4Addr) -> bool {
    let wanted = format!("|-- {addr}");
    let mut lines = fib_trie.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == wanted {
            // The leaf's entries follow until the next node; one of them says LOCAL.
            for entry in lines.by_ref() {
                if !entry.starts_with('/') {
                    break;
                }
                if entry.ends_with("host LOCAL") {
                    return true;
                }
            }
        }
    }
    false
}

/// The split-brain sample: the databases two or more hosts take writes for (pure).
pub fn split(writable: &[Writable]) -> Vec<&'static str> {
    let nb = writable.iter().filter(|w| w.nb).count();
    let sb = writable.iter().filter(|w| w.sb).count();
    [("NB", nb), ("SB", sb)]
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(db, _)| db)
        .collect()
}

/// The sampler's memory: each host's container pid.
#[derive(Debug, Default)]
pub struct Eyes {
    pids: BTreeMap<String, u32>,
}

impl Eyes {
    /// Samples every running host of `site` for the VIP and the ports (NB, SB).
    pub fn look(&mut self, site: &Site, vip: Ipv4Addr, ports: [u16; 2]) -> Vec<Writable> {
        running_hosts(site)
            .into_iter()
            .map(|host| {
                let pid = match self.pids.get(&host) {
                    Some(p) if std::path::Path::new(&format!("/proc/{p}")).exists() => Some(*p),
                    _ => container_pid(&host),
                };
                let (nb, sb) = match pid {
                    Some(p) => {
                        self.pids.insert(host.clone(), p);
                        look_inside(p, vip, ports)
                    }
                    None => {
                        self.pids.remove(&host);
                        (false, false)
                    }
                };
                Writable { host, nb, sb }
            })
            .collect()
    }
}

fn look_inside(pid: u32, vip: Ipv4Addr, ports: [u16; 2]) -> (bool, bool) {
    let vip_local = std::fs::read_to_string(format!("/proc/{pid}/net/fib_trie"))
        .is_ok_and(|t| is_local_in_fib_trie(&t, vip));
    if !vip_local {
        return (false, false);
    }
    let listening: Vec<u16> = i32::try_from(pid)
        .ok()
        .and_then(|p| procfs::process::Process::new(p).ok())
        .and_then(|p| p.tcp().ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.state == procfs::net::TcpState::Listen)
        .filter(|e| {
            let ip = e.local_address.ip();
            ip == IpAddr::V4(vip) || ip.is_unspecified()
        })
        .map(|e| e.local_address.port())
        .collect();
    let active = |ctl: &str| ask(pid, ctl) == Copy::Active;
    (
        listening.contains(&ports[0]) && active("ovnnb_db.ctl"),
        listening.contains(&ports[1]) && active("ovnsb_db.ctl"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB: &str = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 198.18.20.0/24 2 0 2
        |-- 198.18.20.0
           /24 link UNICAST
        |-- 198.18.20.11
           /32 host LOCAL
        |-- 198.18.20.100
           /32 host LOCAL
        |-- 198.18.20.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
";

    #[test]
    fn local_addresses_from_fib_trie() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(is_local_in_fib_trie(FIB, ip("198.18.20.100")));
        assert!(is_local_in_fib_trie(FIB, ip("198.18.20.11")));
        assert!(!is_local_in_fib_trie(FIB, ip("198.18.20.255")), "broadcast");
        assert!(!is_local_in_fib_trie(FIB, ip("198.18.20.0")), "the subnet");
        assert!(!is_local_in_fib_trie(FIB, ip("198.18.20.12")));
        assert!(!is_local_in_fib_trie("", ip("198.18.20.100")));
    }

    #[test]
    fn two_writers_of_one_database_is_split_brain() {
        let w = |host: &str, nb, sb| Writable {
            host: host.into(),
            nb,
            sb,
        };
        assert!(split(&[w("h1", true, true), w("h2", false, false)]).is_empty());
        assert_eq!(split(&[w("h1", true, true), w("h2", true, false)]), ["NB"]);
        assert_eq!(
            split(&[
                w("h1", true, true),
                w("h2", true, true),
                w("h3", false, true)
            ]),
            ["NB", "SB"]
        );
    }
}
