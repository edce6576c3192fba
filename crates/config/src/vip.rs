//! The virtual IP that follows the active DB copy.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// The VIP: a plain address, with the prefix length of the node subnet when given
/// (`ADDR/LEN`). Without one, the IPaddr2 agent derives it from the route to the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

impl Vip {
    /// The address as it goes into a URL host: IPv6 bracketed.
    pub fn url_host(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// `tcp:HOST:PORT`, the OVSDB remote form.
    pub fn ovsdb_remote(&self, port: u16) -> String {
        format!("tcp:{}:{port}", self.url_host())
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr.fmt(f)
    }
}

/// Parses `ADDR` or `ADDR/LEN`; rejects addresses that cannot be a node's unicast address.
pub fn parse_vip(text: &str) -> Result<Vip, String> {
    let text = text.trim();
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        format!("`{text}` is not an IP address; give a free address of the node subnet, e.g. 192.168.122.100")
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                return Err(format!(
                    "`{text}`: prefix length `{p}` must be a number from 1 to {max}, or omit it"
                ));
            }
        },
    };
    let unusable = match addr {
        IpAddr::V4(a) => {
            a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local()
        }
        IpAddr::V6(a) => {
            a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local()
        }
    };
    if unusable {
        return Err(format!(
            "`{addr}` is not a unicast address other hosts can reach; give a free address of the node subnet"
        ));
    }
    Ok(Vip { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts() {
        let cases: &[(&str, &str, Option<u8>, &str)] = &[
            (
                "192.168.122.100",
                "192.168.122.100",
                None,
                "tcp:192.168.122.100:6641",
            ),
            (
                "192.168.122.100/24",
                "192.168.122.100",
                Some(24),
                "tcp:192.168.122.100:6641",
            ),
            ("fd00::64", "fd00::64", None, "tcp:[fd00::64]:6641"),
            ("fd00::64/64", "fd00::64", Some(64), "tcp:[fd00::64]:6641"),
        ];
        for (input, addr, prefix, remote) in cases {
            let vip = parse_vip(input).unwrap();
            assert_eq!(vip.to_string(), *addr);
            assert_eq!(vip.prefix, *prefix);
            assert_eq!(vip.ovsdb_remote(6641), *remote);
        }
    }

    #[test]
    fn rejects() {
        let cases: &[(&str, &str)] = &[
            ("not-an-ip", "not an IP address"),
            ("", "not an IP address"),
            ("10.0.0.1/33", "from 1 to 32"),
            ("10.0.0.1/x", "must be a number"),
            ("127.0.0.1", "unicast"),
            ("0.0.0.0", "unicast"),
            ("224.0.0.1", "unicast"),
            ("255.255.255.255", "unicast"),
            ("::1", "unicast"),
            ("fe80::1", "unicast"),
        ];
        for (input, want) in cases {
            let err = parse_vip(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
