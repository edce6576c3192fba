//! Tests of the crm_mon parser against fixtures produced by Pacemaker 2.1.5 itself
//! (`crm_simulate` on the generated CIB, then `CIB_file=... crm_mon -1 --output-as=xml`);
//! `crm_mon-legacy-roles.xml` is the healthy one with the pre-2.1 `Master`/`Slave` wording.

use super::*;
use crate::status_view::StatusReport;

fn fixture(name: &str) -> ClusterStatus {
    let path = crate::golden::path(name);
    let xml = std::fs::read_to_string(&path).unwrap();
    parse_crm_mon(&xml, "ovndb_servers", "ovn_vip").unwrap()
}

struct Want {
    file: &'static str,
    dc: Option<&'static str>,
    quorum: bool,
    online: &'static [&'static str],
    standby: &'static [&'static str],
    promoted: &'static [&'static str],
    unpromoted: &'static [&'static str],
    vip: &'static [&'static str],
    failed: &'static [(&'static str, &'static str)],
}

const H: &[&str] = &["t4cl-h1", "t4cl-h2", "t4cl-h3"];

const CASES: &[Want] = &[
    Want {
        file: "crm_mon-healthy.xml",
        dc: Some("t4cl-h1"),
        quorum: true,
        online: H,
        standby: &[],
        promoted: &["t4cl-h2"],
        unpromoted: &["t4cl-h1", "t4cl-h3"],
        vip: &["t4cl-h2"],
        failed: &[],
    },
    Want {
        file: "crm_mon-legacy-roles.xml",
        dc: Some("t4cl-h1"),
        quorum: true,
        online: H,
        standby: &[],
        promoted: &["t4cl-h2"],
        unpromoted: &["t4cl-h1", "t4cl-h3"],
        vip: &["t4cl-h2"],
        failed: &[],
    },
    Want {
        file: "crm_mon-failed-monitor.xml",
        dc: Some("t4cl-h1"),
        quorum: true,
        online: H,
        standby: &[],
        promoted: &["t4cl-h2"],
        unpromoted: &["t4cl-h1", "t4cl-h3"],
        vip: &["t4cl-h2"],
        failed: &[("ovndb_servers_monitor_1000", "t4cl-h2")],
    },
    Want {
        file: "crm_mon-no-quorum.xml",
        dc: Some("t4cl-h1"),
        quorum: false,
        online: &["t4cl-h1"],
        standby: &[],
        promoted: &[],
        unpromoted: &[],
        vip: &[],
        failed: &[],
    },
    Want {
        file: "crm_mon-standby-handover.xml",
        dc: Some("t4cl-h1"),
        quorum: true,
        online: H,
        standby: &["t4cl-h2"],
        promoted: &["t4cl-h1"],
        unpromoted: &["t4cl-h3"],
        vip: &["t4cl-h1"],
        failed: &[],
    },
    Want {
        file: "crm_mon-no-dc.xml",
        dc: None,
        quorum: false,
        online: H,
        standby: &[],
        promoted: &[],
        unpromoted: &[],
        vip: &[],
        failed: &[],
    },
];

#[test]
fn fixtures_parse_as_expected() {
    for w in CASES {
        let s = fixture(w.file);
        assert_eq!(s.dc.as_deref(), w.dc, "{}", w.file);
        assert_eq!(s.quorum, w.quorum, "{}", w.file);
        let online: Vec<&str> = s
            .nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(online, w.online, "{}", w.file);
        let standby: Vec<&str> = s
            .nodes
            .iter()
            .filter(|n| n.standby)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(standby, w.standby, "{}", w.file);
        assert_eq!(s.promoted, w.promoted, "{}", w.file);
        assert_eq!(s.unpromoted, w.unpromoted, "{}", w.file);
        assert_eq!(s.vip, w.vip, "{}", w.file);
        let failed: Vec<(&str, &str)> = s
            .failed_actions
            .iter()
            .map(|f| (f.op_key.as_str(), f.node.as_str()))
            .collect();
        assert_eq!(failed, w.failed, "{}", w.file);
    }
}

#[test]
fn handover_predicates() {
    let healthy = fixture("crm_mon-healthy.xml");
    assert_eq!(healthy.the_promoted(), Some("t4cl-h2"));
    assert!(healthy.served_elsewhere_than("t4cl-h1"));
    assert!(!healthy.served_elsewhere_than("t4cl-h2"));
    assert!(healthy.node_online("t4cl-h3"));
    let moved = fixture("crm_mon-standby-handover.xml");
    assert!(moved.served_elsewhere_than("t4cl-h2"));
    let lost = fixture("crm_mon-no-quorum.xml");
    assert!(!lost.node_online("t4cl-h1"));
    assert!(!lost.served_elsewhere_than("t4cl-h2"));
}

#[test]
fn promotion_scores_and_takeover_readiness() {
    let mut s = fixture("crm_mon-healthy.xml");
    assert_eq!(
        s.promotion_scores
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("t4cl-h1", 5), ("t4cl-h2", 10), ("t4cl-h3", 5)]
    );
    assert_eq!(
        s.positions.iter().collect::<Vec<_>>(),
        [(&"t4cl-h1".to_string(), &1_764_950_000_123)]
    );
    assert_eq!(
        s.caught_up
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("t4cl-h1", true), ("t4cl-h2", false)]
    );
    // Unpromoted nodes may always leave; the promoted one waits for an equally good replica.
    assert!(s.replica_ready_to_take_over("t4cl-h1"));
    assert!(!s.replica_ready_to_take_over("t4cl-h2"));
    s.promotion_scores.insert("t4cl-h3".into(), 10);
    assert!(s.replica_ready_to_take_over("t4cl-h2"));
    s.nodes[2].standby = true;
    assert!(!s.replica_ready_to_take_over("t4cl-h2"));
    s.nodes[2].standby = false;
    s.nodes[2].online = false;
    assert!(!s.replica_ready_to_take_over("t4cl-h2"));
}

#[test]
fn settled_for_a_handover_when_every_other_copy_runs_caught_up_and_promotable() {
    let base = fixture("crm_mon-healthy.xml");
    let active = base.the_promoted().unwrap().to_string();
    let others: Vec<String> = base
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| *n != active)
        .collect();
    let marked = |s: &mut ClusterStatus, v: bool| {
        for n in &others {
            s.caught_up.insert(n.clone(), v);
        }
    };
    let mut s = base.clone();
    marked(&mut s, true);
    assert!(s.settled_for_handover(&active), "all caught up");
    let mut lagging = s.clone();
    lagging.caught_up.insert(others[0].clone(), false);
    assert!(!lagging.settled_for_handover(&active), "one lagging");
    let mut gated = s.clone();
    gated.promotion_scores.insert(others[0].clone(), -1_000_000);
    assert!(
        !gated.settled_for_handover(&active),
        "one gate still closed"
    );
    gated.promotion_scores.remove(&others[0]);
    assert!(!gated.settled_for_handover(&active), "one not scored yet");
    let mut unmarked = s.clone();
    unmarked.caught_up.remove(&others[0]);
    assert!(
        !unmarked.settled_for_handover(&active),
        "one not marked yet"
    );
    let mut starting = s.clone();
    starting.unpromoted.retain(|n| *n != others[0]);
    assert!(
        !starting.settled_for_handover(&active),
        "one copy not running yet"
    );
    let mut away = starting.clone();
    away.nodes
        .iter_mut()
        .filter(|n| n.name == others[0])
        .for_each(|n| n.standby = true);
    assert!(
        away.settled_for_handover(&active),
        "a standby node is left out"
    );
    away.nodes
        .iter_mut()
        .filter(|n| n.name == others[0])
        .for_each(|n| {
            n.standby = false;
            n.online = false;
        });
    assert!(
        away.settled_for_handover(&active),
        "an offline node is left out"
    );
}

#[test]
fn the_controller_state_is_read_from_crmadmin() {
    // `crmadmin --status=h2 --output-as=xml` (Pacemaker 2.1; 3.0 writes the same attributes).
    let xml = r#"<pacemaker-result api-version="2.25" request="crmadmin --status=h2 --output-as=xml">
  <crmd node_name="h2" state="S_TRANSITION_ENGINE" result="ok"/>
  <status code="0" message="OK"/>
</pacemaker-result>"#;
    assert_eq!(parse_controller_state(xml).unwrap(), "S_TRANSITION_ENGINE");
    assert!(parse_controller_state("<pacemaker-result/>").is_err());
    assert!(parse_controller_state("<x").is_err());
}

#[test]
fn bad_input_is_an_error() {
    assert!(parse_crm_mon("<x", "a", "b").is_err());
    assert!(matches!(
        parse_crm_mon("<pacemaker-result/>", "a", "b"),
        Err(CrmMonError::Missing("summary"))
    ));
}

/// The human table and the JSON of each fixture are golden too.
#[test]
fn status_views_match_golden_files() {
    for w in CASES {
        let report = StatusReport::new(fixture(w.file), None);
        let stem = w.file.trim_end_matches(".xml");
        crate::golden::check(&format!("{stem}.table.txt"), &report.to_table());
        if w.file == "crm_mon-healthy.xml" {
            crate::golden::check(&format!("{stem}.json"), &report.to_json());
        }
    }
}
