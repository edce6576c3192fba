//! Northbound contents shaped like an ovn-kubernetes cluster's, at a chosen scale: the
//! cluster router, one logical switch per node with its pods' ports, its management and
//! router ports, network-policy port groups with their ACLs, per-namespace address sets, and
//! cluster-wide TCP/UDP load balancers holding every service's VIPs, attached to every node
//! switch (the layout of ovn-kubernetes at 05b8a7c34, `go-controller/pkg/ovn`: facts only).
//! ovn-northd then derives the Southbound database from it as in a real cluster. Pure: the
//! operations of each OVSDB transaction, built from the scale and the load balancers' UUIDs;
//! [`load`] is the thin I/O that sends them.

use crate::ovsdb_rpc;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How big a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub nodes: usize,
    pub pods_per_node: usize,
    /// Services, each one VIP on the TCP load balancer with 2 endpoints (every tenth also on
    /// UDP).
    pub services: usize,
    /// Network policies per node switch, each a port group of some of its pods with 2 ACLs.
    pub policies_per_node: usize,
}

impl Scale {
    /// 100 nodes × 50 pods, 1,000 services, 5 policies per node.
    pub const PRODUCTION: Scale = Scale {
        nodes: 100,
        pods_per_node: 50,
        services: 1_000,
        policies_per_node: 5,
    };

    /// Ten times that: 1,000 nodes × 50 pods, 10,000 services.
    pub const PRODUCTION_10X: Scale = Scale {
        nodes: 1_000,
        pods_per_node: 50,
        services: 10_000,
        policies_per_node: 5,
    };

    /// A small one for tests of the loader itself.
    pub const TINY: Scale = Scale {
        nodes: 3,
        pods_per_node: 4,
        services: 5,
        policies_per_node: 1,
    };

    pub fn pods(&self) -> usize {
        self.nodes * self.pods_per_node
    }
}

/// The cluster router's name.
pub const ROUTER: &str = "ovn_cluster_router";

/// Address `host` of node `n`'s /24 in 10.128.0.0/14 (pure).
fn node_ip(node: usize, host: usize) -> String {
    let subnet = 128 * 256 + node;
    format!("10.{}.{}.{host}", subnet / 256, subnet % 256)
}

/// A pod's IPv4 address: the node's gateway is .1, its management port .2, pods from .3.
fn pod_ip(node: usize, pod: usize) -> String {
    node_ip(node, 3 + pod % 250)
}

fn pod_mac(node: usize, pod: usize) -> String {
    format!(
        "0a:58:{:02x}:{:02x}:{:02x}:{:02x}",
        (node >> 8) & 0xff,
        node & 0xff,
        (pod >> 8) & 0xff,
        pod & 0xff
    )
}

fn set(items: Vec<Value>) -> Value {
    json!(["set", items])
}

fn map(pairs: Vec<(String, String)>) -> Value {
    json!([
        "map",
        pairs
            .into_iter()
            .map(|(k, v)| json!([k, v]))
            .collect::<Vec<_>>()
    ])
}

/// The first transaction: the cluster router and the load balancers with every service's
/// VIP. Its result's `uuid`s at index 1 and 2 are the TCP and UDP load balancers (pure).
pub fn cluster_ops(s: &Scale) -> Vec<Value> {
    let backends = |i: usize| {
        let (a, b) = (i % s.pods().max(1), (i * 7 + 1) % s.pods().max(1));
        let ep = |p: usize| {
            format!(
                "{}:8080",
                pod_ip(p / s.pods_per_node.max(1), p % s.pods_per_node.max(1))
            )
        };
        format!("{},{}", ep(a), ep(b))
    };
    let vip = |i: usize| format!("172.30.{}.{}:{}", i / 250, 1 + i % 250, 80 + i % 5);
    let tcp: Vec<(String, String)> = (0..s.services).map(|i| (vip(i), backends(i))).collect();
    let udp: Vec<(String, String)> = (0..s.services)
        .step_by(10)
        .map(|i| (vip(i), backends(i)))
        .collect();
    vec![
        json!({"op": "insert", "table": "Logical_Router",
               "row": {"name": ROUTER}}),
        json!({"op": "insert", "table": "Load_Balancer",
               "row": {"name": "cluster-tcp", "protocol": "tcp", "vips": map(tcp)}}),
        json!({"op": "insert", "table": "Load_Balancer",
               "row": {"name": "cluster-udp", "protocol": "udp", "vips": map(udp)}}),
    ]
}

/// Node `n`'s transaction: its switch with the pods', management and router ports, the
/// router port on the cluster router, its namespace's address set, and its policies' port
/// groups and ACLs; the switch holds the load balancers `lbs` (UUIDs) (pure).
pub fn node_ops(s: &Scale, n: usize, lbs: &[String]) -> Vec<Value> {
    let node = format!("node-{n}");
    let mut ops = Vec::new();
    let mut ports = Vec::new();
    let mut pod_ports = Vec::new();
    for p in 0..s.pods_per_node {
        let id = format!("pod{n}_{p}");
        let (mac, ip) = (pod_mac(n, p), pod_ip(n, p));
        ops.push(
            json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": id,
            "row": {"name": format!("ns{}_pod-{n}-{p}", p % 10),
                    "addresses": format!("{mac} {ip}"),
                    "port_security": format!("{mac} {ip}/24"),
                    "external_ids": map(vec![("pod".into(), "true".into()),
                                             ("namespace".into(), format!("ns{}", p % 10))])}}),
        );
        ports.push(json!(["named-uuid", id]));
        pod_ports.push(json!(["named-uuid", id]));
    }
    ops.push(
        json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "mgmt",
        "row": {"name": format!("k8s-{node}"),
                "addresses": format!("{} {}", pod_mac(n, 0xffff), node_ip(n, 2))}}),
    );
    ops.push(
        json!({"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "stor",
        "row": {"name": format!("stor-{node}"), "type": "router", "addresses": "router",
                "options": map(vec![("router-port".into(), format!("rtos-{node}"))])}}),
    );
    ports.push(json!(["named-uuid", "mgmt"]));
    ports.push(json!(["named-uuid", "stor"]));
    ops.push(
        json!({"op": "insert", "table": "Logical_Router_Port", "uuid-name": "rtos",
        "row": {"name": format!("rtos-{node}"), "mac": pod_mac(n, 0xfffe),
                "networks": format!("{}/24", node_ip(n, 1))}}),
    );
    ops.push(json!({"op": "mutate", "table": "Logical_Router",
        "where": [["name", "==", ROUTER]],
        "mutations": [["ports", "insert", set(vec![json!(["named-uuid", "rtos"])])]]}));
    let lbs: Vec<Value> = lbs.iter().map(|u| json!(["uuid", u])).collect();
    ops.push(json!({"op": "insert", "table": "Logical_Switch",
        "row": {"name": node, "ports": set(ports), "load_balancer": set(lbs),
                "other_config": map(vec![("subnet".into(), format!("{}/24", node_ip(n, 0)))])}}));
    let ips: Vec<Value> = (0..s.pods_per_node).map(|p| json!(pod_ip(n, p))).collect();
    ops.push(json!({"op": "insert", "table": "Address_Set",
        "row": {"name": format!("as_{node}"), "addresses": set(ips)}}));
    let per = (s.pods_per_node / s.policies_per_node.max(1)).max(1);
    for k in 0..s.policies_per_node {
        let (allow, deny) = (format!("acl{k}a"), format!("acl{k}d"));
        let members: Vec<Value> = pod_ports.iter().skip(k * per).take(per).cloned().collect();
        let pg = format!("pg_{node}_{k}");
        ops.push(json!({"op": "insert", "table": "ACL", "uuid-name": allow,
            "row": {"priority": 1001, "direction": "to-lport", "action": "allow-related",
                    "match": format!("outport == @{pg} && ip4 && ip4.src == $as_{node}")}}));
        ops.push(json!({"op": "insert", "table": "ACL", "uuid-name": deny,
            "row": {"priority": 1000, "direction": "to-lport", "action": "drop",
                    "match": format!("outport == @{pg}")}}));
        ops.push(json!({"op": "insert", "table": "Port_Group",
            "row": {"name": pg, "ports": set(members),
                    "acls": set(vec![json!(["named-uuid", allow]), json!(["named-uuid", deny])])}}));
    }
    ops
}

/// The load balancers' UUIDs from [`cluster_ops`]' result (pure).
pub fn load_balancers(result: &Value) -> Vec<String> {
    (1..=2)
        .filter_map(|i| result[i]["uuid"][1].as_str().map(String::from))
        .collect()
}

/// Counts of what [`load`] wrote, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub transactions: usize,
    pub took: Duration,
}

/// Writes the contents through `nb` (a VIP's NB client port), one transaction per node after
/// the cluster's own.
pub fn load(nb: SocketAddr, s: &Scale, limit: Duration) -> Result<Loaded, ovsdb_rpc::RpcError> {
    let started = Instant::now();
    let first = ovsdb_rpc::transact_tcp(nb, "OVN_Northbound", &cluster_ops(s), limit)?;
    let lbs = load_balancers(&first);
    for n in 0..s.nodes {
        ovsdb_rpc::transact_tcp(nb, "OVN_Northbound", &node_ops(s, n, &lbs), limit)?;
    }
    Ok(Loaded {
        transactions: 1 + s.nodes,
        took: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_in_the_node_subnet() {
        assert_eq!(pod_ip(0, 0), "10.128.0.3");
        assert_eq!(pod_ip(300, 1), "10.129.44.4");
        assert_ne!(pod_mac(1, 2), pod_mac(2, 1));
        let s = Scale::PRODUCTION;
        let all: std::collections::HashSet<String> = (0..s.nodes)
            .flat_map(|n| (0..s.pods_per_node).map(move |p| pod_ip(n, p)))
            .collect();
        assert_eq!(all.len(), s.pods());
    }

    #[test]
    fn a_node_transaction_holds_its_switch_ports_and_policies() {
        let s = Scale::TINY;
        let ops = node_ops(&s, 2, &["u1".into(), "u2".into()]);
        let count = |table: &str| {
            ops.iter()
                .filter(|o| o["op"] == "insert" && o["table"] == table)
                .count()
        };
        assert_eq!(count("Logical_Switch_Port"), s.pods_per_node + 2);
        assert_eq!(count("Logical_Switch"), 1);
        assert_eq!(count("ACL"), 2 * s.policies_per_node);
        assert_eq!(count("Port_Group"), s.policies_per_node);
        let ls = ops.iter().find(|o| o["table"] == "Logical_Switch").unwrap();
        assert_eq!(ls["row"]["name"], "node-2");
        assert_eq!(
            ls["row"]["ports"][1].as_array().unwrap().len(),
            s.pods_per_node + 2
        );
        assert_eq!(ls["row"]["load_balancer"][1][1], json!(["uuid", "u2"]));
        assert_eq!(ls["row"]["other_config"][1][0][1], "10.128.2.0/24");
    }

    #[test]
    fn the_cluster_transaction_holds_every_service() {
        let s = Scale::PRODUCTION;
        let ops = cluster_ops(&s);
        assert_eq!(
            ops[1]["row"]["vips"][1].as_array().unwrap().len(),
            s.services
        );
        assert_eq!(
            ops[2]["row"]["vips"][1].as_array().unwrap().len(),
            s.services / 10
        );
        let result =
            json!([{"uuid": ["uuid", "r"]}, {"uuid": ["uuid", "t"]}, {"uuid": ["uuid", "u"]}]);
        assert_eq!(load_balancers(&result), ["t", "u"]);
    }
}
