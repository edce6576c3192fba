//! Who the cluster members are: the static `OVN_DB_HA_PEERS` list (`name=ip,...`), the stable
//! corosync node id of each member, and the [`PeerDiscovery`] seam of the static list. The
//! Kubernetes API source ([`crate::pod_peers`], watched by the binary) yields the same
//! [`Peer`]s, so node ids agree whichever source a node uses.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One cluster member: its node name (the Pacemaker/corosync node name) and ring address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Peer {
    pub name: String,
    pub addr: IpAddr,
}

/// A member with its corosync node id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub name: String,
    pub addr: IpAddr,
    pub nodeid: u32,
}

/// Where the peer list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSource {
    /// A fixed list (outside Kubernetes, e.g. the test bed).
    Static(Vec<Peer>),
    /// The pods of this Deployment, found through the Kubernetes API by label selector.
    Kubernetes { selector: String, namespace: String },
}

/// A source of the current member list, as known at start. The Kubernetes API source does not
/// implement it: its lists arrive over time from the pod watcher thread.
pub trait PeerDiscovery {
    /// The members as currently known, this node included.
    fn peers(&self) -> Result<Vec<Peer>, String>;
}

/// The static list as a discovery source.
#[derive(Debug, Clone)]
pub struct StaticPeers(pub Vec<Peer>);

impl PeerDiscovery for StaticPeers {
    fn peers(&self) -> Result<Vec<Peer>, String> {
        Ok(self.0.clone())
    }
}

/// Checks a node name as corosync and Pacemaker take it (a Kubernetes node name fits).
pub fn validate_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable node name: use letters, digits, '.', '-' or '_', starting with a letter or digit, at most 253 characters"
        ))
    }
}

/// Parses `name=ip,name=ip,...` (spaces around items allowed, empty items ignored). Every
/// problem is reported, joined into one message.
pub fn parse_static_peers(text: &str) -> Result<Vec<Peer>, String> {
    let mut peers = Vec::new();
    let mut problems = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((name, addr)) = item.split_once('=') else {
            problems.push(format!("`{item}` is not `name=ip`"));
            continue;
        };
        let (name, addr) = (name.trim(), addr.trim());
        if let Err(e) = validate_node_name(name) {
            problems.push(e);
            continue;
        }
        match addr.parse::<IpAddr>() {
            Ok(addr) => peers.push(Peer {
                name: name.to_string(),
                addr,
            }),
            Err(_) => problems.push(format!("`{addr}` (for {name}) is not an IP address")),
        }
    }
    let mut names = BTreeMap::new();
    let mut addrs = BTreeMap::new();
    for peer in &peers {
        if let Some(other) = names.insert(peer.name.clone(), peer.addr) {
            problems.push(format!(
                "{} is listed twice ({other} and {})",
                peer.name, peer.addr
            ));
        }
        if let Some(other) = addrs.insert(peer.addr, peer.name.clone()) {
            problems.push(format!(
                "{} and {other} share the address {}",
                peer.name, peer.addr
            ));
        }
    }
    if peers.is_empty() && problems.is_empty() {
        problems.push("the list is empty".to_string());
    }
    if problems.is_empty() {
        Ok(peers)
    } else {
        Err(problems.join("; "))
    }
}

/// The corosync node id of a node: derived from its name alone, so every member computes the
/// same id for it whatever list order or discovery source it sees, and a rescheduled pod on the
/// same node keeps its id. knet takes ids up to 65535; 0 is not allowed.
pub fn node_id(name: &str) -> u32 {
    // FNV-1a, 32 bit, folded to 16 bit.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let folded = (hash >> 16) ^ (hash & 0xffff);
    if folded == 0 { 1 } else { folded }
}

/// Members sorted by name with their node ids; an error names any two nodes whose ids collide.
pub fn members(peers: &[Peer]) -> Result<Vec<Member>, String> {
    let mut sorted: Vec<Peer> = peers.to_vec();
    sorted.sort();
    let mut by_id: BTreeMap<u32, String> = BTreeMap::new();
    let mut out = Vec::new();
    for peer in sorted {
        let nodeid = node_id(&peer.name);
        if let Some(other) = by_id.insert(nodeid, peer.name.clone()) {
            return Err(format!(
                "node names {other} and {} map to the same corosync node id {nodeid}; rename one node",
                peer.name
            ));
        }
        out.push(Member {
            name: peer.name,
            addr: peer.addr,
            nodeid,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_lists() {
        type Expected = Result<&'static [(&'static str, &'static str)], &'static str>;
        let cases: &[(&str, Expected)] = &[
            (
                "a=198.18.4.11,b=198.18.4.12",
                Ok(&[("a", "198.18.4.11"), ("b", "198.18.4.12")]),
            ),
            (
                " a = 198.18.4.11 , ,b=fd00::2,",
                Ok(&[("a", "198.18.4.11"), ("b", "fd00::2")]),
            ),
            ("a", Err("`a` is not `name=ip`")),
            ("a=1.2.3", Err("`1.2.3` (for a) is not an IP address")),
            ("a=198.18.4.11,a=198.18.4.12", Err("a is listed twice")),
            (
                "a=198.18.4.11,b=198.18.4.11",
                Err("share the address 198.18.4.11"),
            ),
            ("-x=198.18.4.11", Err("not a usable node name")),
            ("", Err("the list is empty")),
        ];
        for (text, want) in cases {
            let got = parse_static_peers(text);
            match want {
                Ok(pairs) => {
                    let got = got.unwrap();
                    let got: Vec<(String, String)> = got
                        .iter()
                        .map(|p| (p.name.clone(), p.addr.to_string()))
                        .collect();
                    let want: Vec<(String, String)> = pairs
                        .iter()
                        .map(|(n, a)| (n.to_string(), a.to_string()))
                        .collect();
                    assert_eq!(got, want, "{text}");
                }
                Err(fragment) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(fragment), "{text}: {err}");
                }
            }
        }
    }

    #[test]
    fn node_ids_are_stable_nonzero_and_16_bit() {
        // Golden values: changing the derivation would renumber running clusters.
        assert_eq!(node_id("t4cl-h1"), node_id("t4cl-h1"));
        for name in [
            "a",
            "node1",
            "worker-0.example.com",
            "t4cl-h1",
            "t4cl-h2",
            "t4cl-h3",
        ] {
            let id = node_id(name);
            assert!((1..=65535).contains(&id), "{name}: {id}");
        }
        assert_eq!(
            [node_id("t4cl-h1"), node_id("t4cl-h2"), node_id("t4cl-h3")],
            [4985, 4564, 5703]
        );
        assert_ne!(node_id("node1"), node_id("node2"));
    }

    #[test]
    fn members_are_sorted_with_ids_independent_of_order() {
        let a = parse_static_peers("n3=10.0.0.3,n1=10.0.0.1,n2=10.0.0.2").unwrap();
        let b = parse_static_peers("n1=10.0.0.1,n2=10.0.0.2,n3=10.0.0.3").unwrap();
        assert_eq!(members(&a).unwrap(), members(&b).unwrap());
        let m = members(&a).unwrap();
        assert_eq!(m[0].name, "n1");
        assert_eq!(m[0].nodeid, node_id("n1"));
    }
}
