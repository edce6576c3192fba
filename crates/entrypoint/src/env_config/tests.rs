//! Data-driven tests of the environment parser: each case is an environment and either the
//! expected configuration fields or the set of variables that must be reported.

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const GOOD: &[(&str, &str)] = &[
    ("OVN_DB_VIP", "198.18.5.100"),
    ("OVN_DB_VIP_PREFIX", "24"),
    ("K8S_NODE", "t4cl-h1"),
    ("POD_IP", "198.18.5.11"),
    (
        "OVN_DB_HA_PEERS",
        "t4cl-h1=198.18.5.11,t4cl-h2=198.18.5.12,t4cl-h3=198.18.5.13",
    ),
];

fn with(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut e = env(GOOD);
    for (k, v) in overrides {
        e.insert(k.to_string(), v.to_string());
    }
    e
}

fn without(name: &str) -> BTreeMap<String, String> {
    let mut e = env(GOOD);
    e.remove(name);
    e
}

#[test]
fn good_environment_with_defaults() {
    let c = parse_env(&env(GOOD)).unwrap();
    assert_eq!(c.vip.addr.to_string(), "198.18.5.100");
    assert_eq!(c.vip.prefix, Some(24));
    assert_eq!((c.nb_port, c.sb_port), (6641, 6642));
    assert_eq!(c.replication_ports, [6643, 6644]);
    assert_eq!(c.node_name, "t4cl-h1");
    assert_eq!(c.pod_ip.to_string(), "198.18.5.11");
    assert_eq!(
        c.authkey_file,
        PathBuf::from("/etc/corosync-authkey/authkey")
    );
    assert_eq!(c.grace, Duration::from_secs(30));
    assert_eq!(
        c.timings,
        Timings {
            token_ms: 600,
            token_coefficient_ms: 0,
            consensus_ms: None
        }
    );
    assert_eq!(c.timings.consensus_for(3), 720);
    assert_eq!(c.pacemaker, PacemakerTimings::default());
    assert!(c.crash_restart);
    assert_eq!(c.deployment, "ovnkube-db");
    assert_eq!(
        (
            c.pacemaker.promoted_monitor_ms,
            c.pacemaker.unpromoted_monitor_ms,
            c.pacemaker.dc_deadtime_ms
        ),
        (1_000, 2_000, 5_000)
    );
    match c.peers {
        PeerSource::Static(p) => assert_eq!(p.len(), 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn optional_knobs_are_read() {
    let c = parse_env(&with(&[
        ("OVN_NB_PORT", "7641"),
        ("OVN_SB_PORT", "7642"),
        ("OVN_DB_HA_NB_REPLICATION_PORT", "7643"),
        ("OVN_DB_HA_SB_REPLICATION_PORT", "7644"),
        ("OVN_DB_HA_GRACE_SECONDS", "60"),
        ("OVN_DB_HA_TOKEN_MS", "1000"),
        ("OVN_DB_HA_AUTHKEY_FILE", "/run/key"),
        ("OVN_DB_VIP_PREFIX", ""),
        ("POD_NAME", "ovnkube-db-abc"),
        ("POD_NAMESPACE", "ovn-kubernetes"),
        ("OVN_DB_HA_DEPLOYMENT", "ovn-db.v2"),
    ]))
    .unwrap();
    assert_eq!(c.deployment, "ovn-db.v2");
    assert_eq!((c.nb_port, c.sb_port), (7641, 7642));
    assert_eq!(c.replication_ports, [7643, 7644]);
    assert_eq!(c.grace, Duration::from_secs(60));
    assert_eq!(c.timings.consensus_ms, None);
    assert_eq!(c.timings.consensus_for(3), 1200);
    assert_eq!(c.vip.prefix, None);
    assert_eq!(c.authkey_file, PathBuf::from("/run/key"));
    assert_eq!(c.pod_name.as_deref(), Some("ovnkube-db-abc"));
}

/// The original ovn-kubernetes timings, as the benchmark's `shell` stack sets them.
#[test]
fn timing_knobs_are_read() {
    let c = parse_env(&with(&[
        ("OVN_DB_HA_TOKEN_MS", "3000"),
        ("OVN_DB_HA_TOKEN_COEFFICIENT_MS", "650"),
        ("OVN_DB_HA_PROMOTED_MONITOR_MS", "15000"),
        ("OVN_DB_HA_UNPROMOTED_MONITOR_MS", "60000"),
        ("OVN_DB_HA_DC_DEADTIME_MS", "20000"),
        ("OVN_DB_HA_TRANSITION_DELAY_MS", "0"),
    ]))
    .unwrap();
    assert_eq!(c.timings.token_coefficient_ms, 650);
    assert_eq!(c.timings.consensus_for(3), 4380);
    assert_eq!(
        c.pacemaker,
        PacemakerTimings {
            promoted_monitor_ms: 15_000,
            unpromoted_monitor_ms: 60_000,
            dc_deadtime_ms: 20_000,
            transition_delay_ms: 0,
        }
    );
    let c = parse_env(&with(&[("OVN_DB_HA_CONSENSUS_MS", "900")])).unwrap();
    assert_eq!(c.timings.consensus_ms, Some(900));
}

#[test]
fn semi_sync_switch() {
    assert!(parse_env(&with(&[])).unwrap().semi_sync);
    for (text, on) in [("on", true), ("off", false), ("0", false)] {
        let c = parse_env(&with(&[("OVN_DB_HA_SEMI_SYNC", text)])).unwrap();
        assert_eq!(c.semi_sync, on, "{text}");
    }
}

#[test]
fn client_tickle_switch() {
    assert!(parse_env(&with(&[])).unwrap().client_tickle);
    let c = parse_env(&with(&[("OVN_DB_HA_CLIENT_TICKLE", "off")])).unwrap();
    assert!(!c.client_tickle);
}

#[test]
fn crash_restart_switch() {
    for (text, on) in [("on", true), ("OFF", false), ("false", false), ("1", true)] {
        let c = parse_env(&with(&[("OVN_DB_HA_CRASH_RESTART", text)])).unwrap();
        assert_eq!(c.crash_restart, on, "{text}");
    }
}

#[test]
fn kubernetes_discovery_is_chosen_without_a_static_list() {
    let mut e = without("OVN_DB_HA_PEERS");
    e.insert("OVN_DB_HA_PEER_SELECTOR".into(), "app=ovnkube-db".into());
    e.insert("POD_NAMESPACE".into(), "ovn-kubernetes".into());
    e.insert("OVN_DB_HA_REPLICAS".into(), "3".into());
    let c = parse_env(&e).unwrap();
    assert_eq!(c.replicas, Some(3));
    assert_eq!(
        c.peers,
        PeerSource::Kubernetes {
            selector: "app=ovnkube-db".into(),
            namespace: "ovn-kubernetes".into()
        }
    );
}

/// Each case: the environment and exactly the variables that must be reported.
#[test]
fn each_bad_variable_is_reported_once() {
    let cases: Vec<(&str, BTreeMap<String, String>, &[&str])> = vec![
        (
            "empty environment",
            env(&[]),
            &["OVN_DB_VIP", "K8S_NODE", "POD_IP", "OVN_DB_HA_PEERS"],
        ),
        ("vip missing", without("OVN_DB_VIP"), &["OVN_DB_VIP"]),
        (
            "vip not an address",
            with(&[("OVN_DB_VIP", "vip")]),
            &["OVN_DB_VIP"],
        ),
        (
            "vip loopback",
            with(&[("OVN_DB_VIP", "127.0.0.1")]),
            &["OVN_DB_VIP"],
        ),
        (
            "prefix out of range",
            with(&[("OVN_DB_VIP_PREFIX", "33")]),
            &["OVN_DB_VIP_PREFIX"],
        ),
        (
            "prefixes disagree",
            with(&[("OVN_DB_VIP", "198.18.5.100/16")]),
            &["OVN_DB_VIP_PREFIX"],
        ),
        (
            "port not a number",
            with(&[("OVN_NB_PORT", "nb")]),
            &["OVN_NB_PORT"],
        ),
        ("port zero", with(&[("OVN_SB_PORT", "0")]), &["OVN_SB_PORT"]),
        (
            "same ports",
            with(&[("OVN_SB_PORT", "6641")]),
            &["OVN_SB_PORT"],
        ),
        (
            "replication port is a client port",
            with(&[("OVN_DB_HA_NB_REPLICATION_PORT", "6642")]),
            &["OVN_DB_HA_NB_REPLICATION_PORT"],
        ),
        (
            "replication ports equal",
            with(&[("OVN_DB_HA_SB_REPLICATION_PORT", "6643")]),
            &["OVN_DB_HA_SB_REPLICATION_PORT"],
        ),
        (
            "replication port not a number",
            with(&[("OVN_DB_HA_SB_REPLICATION_PORT", "x")]),
            &["OVN_DB_HA_SB_REPLICATION_PORT"],
        ),
        ("bad node name", with(&[("K8S_NODE", "a b")]), &["K8S_NODE"]),
        ("bad pod ip", with(&[("POD_IP", "x")]), &["POD_IP"]),
        (
            "client tickle neither on nor off",
            with(&[("OVN_DB_HA_CLIENT_TICKLE", "soon")]),
            &["OVN_DB_HA_CLIENT_TICKLE"],
        ),
        (
            "crash restart neither on nor off",
            with(&[("OVN_DB_HA_CRASH_RESTART", "sometimes")]),
            &["OVN_DB_HA_CRASH_RESTART"],
        ),
        (
            "semi-sync neither on nor off",
            with(&[("OVN_DB_HA_SEMI_SYNC", "maybe")]),
            &["OVN_DB_HA_SEMI_SYNC"],
        ),
        (
            "relative authkey",
            with(&[("OVN_DB_HA_AUTHKEY_FILE", "key")]),
            &["OVN_DB_HA_AUTHKEY_FILE"],
        ),
        (
            "no peer source",
            without("OVN_DB_HA_PEERS"),
            &["OVN_DB_HA_PEERS"],
        ),
        (
            "bad peer list",
            with(&[("OVN_DB_HA_PEERS", "a=1,b")]),
            &["OVN_DB_HA_PEERS"],
        ),
        (
            "self not listed",
            with(&[("OVN_DB_HA_PEERS", "x=198.18.5.12")]),
            &["OVN_DB_HA_PEERS"],
        ),
        (
            "self listed at another address",
            with(&[("OVN_DB_HA_PEERS", "t4cl-h1=198.18.5.99")]),
            &["OVN_DB_HA_PEERS"],
        ),
        (
            "grace zero",
            with(&[("OVN_DB_HA_GRACE_SECONDS", "0")]),
            &["OVN_DB_HA_GRACE_SECONDS"],
        ),
        (
            "token too short",
            with(&[("OVN_DB_HA_TOKEN_MS", "50")]),
            &["OVN_DB_HA_TOKEN_MS"],
        ),
        (
            "consensus below 1.2 token",
            with(&[
                ("OVN_DB_HA_TOKEN_MS", "1000"),
                ("OVN_DB_HA_CONSENSUS_MS", "1100"),
            ]),
            &["OVN_DB_HA_CONSENSUS_MS"],
        ),
        (
            "token coefficient not a number",
            with(&[("OVN_DB_HA_TOKEN_COEFFICIENT_MS", "-1")]),
            &["OVN_DB_HA_TOKEN_COEFFICIENT_MS"],
        ),
        (
            "promoted monitor too short",
            with(&[("OVN_DB_HA_PROMOTED_MONITOR_MS", "10")]),
            &["OVN_DB_HA_PROMOTED_MONITOR_MS"],
        ),
        (
            "unpromoted monitor too long",
            with(&[("OVN_DB_HA_UNPROMOTED_MONITOR_MS", "999999999")]),
            &["OVN_DB_HA_UNPROMOTED_MONITOR_MS"],
        ),
        (
            "monitors with the same interval",
            with(&[
                ("OVN_DB_HA_PROMOTED_MONITOR_MS", "2000"),
                ("OVN_DB_HA_UNPROMOTED_MONITOR_MS", "2000"),
            ]),
            &["OVN_DB_HA_UNPROMOTED_MONITOR_MS"],
        ),
        (
            "dc-deadtime too short",
            with(&[("OVN_DB_HA_DC_DEADTIME_MS", "5")]),
            &["OVN_DB_HA_DC_DEADTIME_MS"],
        ),
        (
            "selector without namespace",
            {
                let mut e = without("OVN_DB_HA_PEERS");
                e.insert("OVN_DB_HA_PEER_SELECTOR".into(), "app=x".into());
                e
            },
            &["POD_NAMESPACE", "OVN_DB_HA_REPLICAS"],
        ),
        (
            "selector without replica count",
            {
                let mut e = without("OVN_DB_HA_PEERS");
                e.insert("OVN_DB_HA_PEER_SELECTOR".into(), "app=x".into());
                e.insert("POD_NAMESPACE".into(), "ns".into());
                e
            },
            &["OVN_DB_HA_REPLICAS"],
        ),
        (
            "replica count zero",
            with(&[("OVN_DB_HA_REPLICAS", "0")]),
            &["OVN_DB_HA_REPLICAS"],
        ),
        (
            "replica count not a number",
            with(&[("OVN_DB_HA_REPLICAS", "three")]),
            &["OVN_DB_HA_REPLICAS"],
        ),
        (
            "Deployment name with capitals",
            with(&[("OVN_DB_HA_DEPLOYMENT", "OvnKube-DB")]),
            &["OVN_DB_HA_DEPLOYMENT"],
        ),
        (
            "Deployment name ending in a dash",
            with(&[("OVN_DB_HA_DEPLOYMENT", "ovnkube-db-")]),
            &["OVN_DB_HA_DEPLOYMENT"],
        ),
    ];
    for (what, e, want) in cases {
        let problems = parse_env(&e).expect_err(what);
        let got: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(got, want, "{what}: {problems:?}");
        for p in &problems {
            assert!(!p.message.is_empty(), "{what}");
            assert!(p.to_string().starts_with(p.variable));
        }
    }
}

#[test]
fn authkey_length_limits() {
    assert!(check_authkey_len(127).is_err());
    assert!(check_authkey_len(128).is_ok());
    assert!(check_authkey_len(256).is_ok());
    assert!(check_authkey_len(4096).is_ok());
    assert!(check_authkey_len(4097).is_err());
    assert!(check_authkey_len(0).is_err());
}
