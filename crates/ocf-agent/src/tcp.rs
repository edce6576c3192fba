//! Is a server's replication connection really up? ovsdb-server 3.1 keeps printing
//! `replicating:` after its connection to the active dropped, until it reconnects, so the
//! agent checks for an established TCP connection from the server's own sockets to the
//! target, reading `/proc/PID/net/tcp{,6}` and `/proc/PID/fd` (no process spawned).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The TCP address of a `tcp:`/`ssl:` remote (`tcp:IP:PORT`, IPv6 in brackets); `None` for
/// other kinds (`unix:`) or malformed text. Pure.
pub fn parse_tcp_target(target: &str) -> Option<SocketAddr> {
    let rest = target
        .strip_prefix("tcp:")
        .or_else(|| target.strip_prefix("ssl:"))?;
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(SocketAddr::new(host.parse().ok()?, port.parse().ok()?))
}

/// Decodes a `/proc/net/tcp{,6}` address (`0100007F:1A01`, words in host byte order). Pure.
pub fn parse_proc_addr(field: &str) -> Option<SocketAddr> {
    let (ip_hex, port_hex) = field.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let s = ip_hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(s, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip_hex.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            }
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Socket inodes of established connections to `remote` in a `/proc/net/tcp{,6}` table. Pure.
pub fn established_inodes(table: &str, remote: SocketAddr) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "01" {
                return None;
            }
            (parse_proc_addr(f[2])? == remote).then(|| f[9].parse().ok())?
        })
        .collect()
}

/// Reads `/proc/PID/net/tcp` or `tcp6`. The kernel hands the table out in chunks of about
/// a page (each read stops when its page-sized buffer is full, and lines are under 200
/// bytes), so a chunk well under a page is the last one: stopping there saves the final empty
/// read, which costs another walk of the whole connection hash table.
pub fn read_table(pid: i32, v6: bool) -> Option<String> {
    use std::io::Read;
    let name = if v6 { "tcp6" } else { "tcp" };
    let mut f = std::fs::File::open(format!("/proc/{pid}/net/{name}")).ok()?;
    let mut out = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                if n < LAST_CHUNK_BELOW {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// A read shorter than this ends the table (see [`read_table`]).
const LAST_CHUNK_BELOW: usize = 2048;

/// Socket inodes `pid` holds (from `/proc/PID/fd`).
pub fn socket_inodes(pid: i32) -> Option<Vec<u64>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter_map(|l| {
                l.to_string_lossy()
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .collect(),
    )
}

/// For each `(pid, remote)`, whether that process holds an established TCP connection to
/// `remote`; `None` where it cannot be read. Each table is read at most once.
pub fn connected(pairs: &[(i32, SocketAddr)]) -> Vec<Option<bool>> {
    let mut v4: Option<Option<String>> = None;
    let mut v6: Option<Option<String>> = None;
    pairs
        .iter()
        .map(|(pid, remote)| {
            let table = if remote.is_ipv4() {
                v4.get_or_insert_with(|| read_table(*pid, false))
            } else {
                v6.get_or_insert_with(|| read_table(*pid, true))
            };
            let inodes = established_inodes(table.as_deref()?, *remote);
            if inodes.is_empty() {
                return Some(false);
            }
            let held = socket_inodes(*pid)?;
            Some(inodes.iter().any(|i| held.contains(i)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    #[test]
    fn targets() {
        let cases = [
            ("tcp:198.18.3.100:6641", Some("198.18.3.100:6641")),
            ("ssl:[2001:db8::1]:6642", Some("[2001:db8::1]:6642")),
            ("unix:/var/run/ovn/ovnnb_db.no-active", None),
            ("tcp:nohost:1", None),
            ("tcp:1.2.3.4", None),
        ];
        for (t, want) in cases {
            assert_eq!(parse_tcp_target(t), want.map(|w| w.parse().unwrap()), "{t}");
        }
    }

    #[test]
    fn proc_tables() {
        let vip: Ipv4Addr = "198.18.3.100".parse().unwrap();
        let me: Ipv4Addr = "198.18.3.11".parse().unwrap();
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: {me}:B5B8 {vip}:19F1 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 20 4 30 10 -1\n\
             1: {me}:B5B9 {vip}:19F2 02 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n\
             2: {me}:19F1 {vip}:B5BA 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 20 4 30 10 -1\n",
            me = hex4(me),
            vip = hex4(vip)
        );
        let nb: SocketAddr = "198.18.3.100:6641".parse().unwrap();
        let sb: SocketAddr = "198.18.3.100:6642".parse().unwrap();
        assert_eq!(established_inodes(&table, nb), vec![4242]);
        // SYN-SENT (02) does not count.
        assert!(established_inodes(&table, sb).is_empty());
        assert_eq!(parse_proc_addr(&format!("{}:19F1", hex4(vip))), Some(nb));
        assert_eq!(parse_proc_addr("garbage"), None);
    }

    #[test]
    fn tables_longer_than_a_chunk_are_read_whole() {
        // 80 connections (160 lines, ~24 KB): several page-sized chunks.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let conns: Vec<_> = (0..80)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let me = std::process::id() as i32;
        let table = read_table(me, false).unwrap();
        assert!(table.lines().count() > 160, "{}", table.lines().count());
        assert_eq!(established_inodes(&table, addr).len(), 80);
        drop(conns);
    }

    #[test]
    fn own_loopback_connection_is_seen() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _c = std::net::TcpStream::connect(addr).unwrap();
        let me = std::process::id() as i32;
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            connected(&[(me, addr), (me, other)]),
            vec![Some(true), Some(false)]
        );
    }
}
