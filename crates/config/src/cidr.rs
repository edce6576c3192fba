//! Cluster and service CIDRs as ovn-kubernetes writes them: `10.128.0.0/14/23` (network /
//! per-node host-subnet length) and comma-separated lists of either family.

use ipnet::IpNet;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// A cluster network with the prefix length of the subnet each node gets from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClusterCidr {
    pub net: IpNet,
    pub host_subnet_len: Option<u8>,
}

impl fmt::Display for ClusterCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_subnet_len {
            Some(h) => write!(f, "{}/{}", self.net, h),
            None => write!(f, "{}", self.net),
        }
    }
}

/// A service network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceCidr(pub IpNet);

impl fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses `ADDR/LEN`, insisting on a canonical network address (host bits zero).
fn parse_net(text: &str) -> Result<IpNet, String> {
    let net: IpNet = text.parse().map_err(|_| {
        format!("`{text}` is not a CIDR; write it as ADDRESS/LENGTH, e.g. 10.128.0.0/14")
    })?;
    if net.addr() != net.network() {
        return Err(format!(
            "`{text}` has host bits set; write the network address, {}",
            net.trunc()
        ));
    }
    Ok(net)
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// Parses one `NET/LEN[/HOSTLEN]` entry.
pub fn parse_cluster_cidr(text: &str) -> Result<ClusterCidr, String> {
    let text = text.trim();
    let (net_text, host) = match text.matches('/').count() {
        2 => {
            let (a, h) = text.rsplit_once('/').unwrap_or((text, ""));
            (a, Some(h))
        }
        _ => (text, None),
    };
    let net = parse_net(net_text)?;
    let host_subnet_len = match host {
        None => None,
        Some(h) => {
            let h: u8 = h.parse().map_err(|_| {
                format!("`{text}`: host-subnet length `{h}` is not a number; e.g. 10.128.0.0/14/23")
            })?;
            if h <= net.prefix_len() || h > max_len(net.addr()) {
                return Err(format!(
                    "`{text}`: host-subnet length must be longer than /{} and at most /{}",
                    net.prefix_len(),
                    max_len(net.addr())
                ));
            }
            Some(h)
        }
    };
    Ok(ClusterCidr {
        net,
        host_subnet_len,
    })
}

/// Splits a comma-separated list, rejecting empty entries.
fn split_list(text: &str) -> Result<Vec<&str>, String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "`{text}` has an empty entry; give one or more comma-separated CIDRs"
        ));
    }
    Ok(items)
}

/// Rejects lists with two entries of the same address family where only one is allowed, and
/// entries that overlap each other.
fn check_overlaps(nets: &[IpNet], text: &str) -> Result<(), String> {
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            if a.contains(&b.network()) || b.contains(&a.network()) {
                return Err(format!(
                    "`{text}`: {a} and {b} overlap; give disjoint networks"
                ));
            }
        }
    }
    Ok(())
}

/// Parses `--net-cidr`: one or more comma-separated cluster CIDRs.
pub fn parse_cluster_cidrs(text: &str) -> Result<Vec<ClusterCidr>, String> {
    let list = split_list(text)?
        .into_iter()
        .map(parse_cluster_cidr)
        .collect::<Result<Vec<_>, _>>()?;
    check_overlaps(&list.iter().map(|c| c.net).collect::<Vec<_>>(), text)?;
    Ok(list)
}

/// Parses `--svc-cidr`: one service CIDR per address family, comma-separated.
pub fn parse_service_cidrs(text: &str) -> Result<Vec<ServiceCidr>, String> {
    let list = split_list(text)?
        .into_iter()
        .map(|s| {
            if s.matches('/').count() > 1 {
                return Err(format!(
                    "`{s}`: a service CIDR has no host-subnet length; write ADDRESS/LENGTH"
                ));
            }
            parse_net(s).map(ServiceCidr)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let v4 = list.iter().filter(|c| c.0.addr().is_ipv4()).count();
    if v4 > 1 || list.len() - v4 > 1 {
        return Err(format!(
            "`{text}`: give at most one service CIDR per address family"
        ));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_cidrs_parse() {
        let cases: &[(&str, &str)] = &[
            ("10.128.0.0/14/23", "10.128.0.0/14/23"),
            ("192.168.0.0/16", "192.168.0.0/16"),
            (
                " 10.128.0.0/14/23 , fd00:10:128::/48/64",
                "10.128.0.0/14/23,fd00:10:128::/48/64",
            ),
            ("fd00::/48", "fd00::/48"),
        ];
        for (input, want) in cases {
            let got = parse_cluster_cidrs(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
            assert_eq!(shown.join(","), *want, "{input}");
        }
    }

    #[test]
    fn cluster_cidrs_reject() {
        let cases: &[(&str, &str)] = &[
            ("10.128.0.1/14", "host bits"),
            ("10.128.0.0/14/14", "longer than /14"),
            ("10.128.0.0/14/33", "at most /32"),
            ("10.128.0.0/14/x", "not a number"),
            ("10.128.0.0", "not a CIDR"),
            ("nonsense", "not a CIDR"),
            ("10.0.0.0/8,", "empty entry"),
            ("10.0.0.0/8,10.1.0.0/16", "overlap"),
        ];
        for (input, want) in cases {
            let err = parse_cluster_cidrs(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn service_cidrs() {
        assert_eq!(parse_service_cidrs("172.30.0.0/16").unwrap().len(), 1);
        assert_eq!(
            parse_service_cidrs("172.30.0.0/16,fd00:172:30::/112")
                .unwrap()
                .len(),
            2
        );
        let cases: &[(&str, &str)] = &[
            (
                "172.30.0.0/16,10.0.0.0/16",
                "one service CIDR per address family",
            ),
            ("172.30.0.0/16/24", "no host-subnet length"),
            ("172.30.0.1/16", "host bits"),
        ];
        for (input, want) in cases {
            let err = parse_service_cidrs(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }
}
