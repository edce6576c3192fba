//! The configuration this project wants in the CIB, built from the pod's settings: cluster
//! properties, the promotable clone of `ocf:ovn:ovndb-servers`, the IPaddr2 VIP, and the
//! constraints that keep the VIP on the promoted copy and start it only after the promote.

use super::model::{Cib, CloneResource, Constraint, NvPair, Op, Primitive, Resource, Role};
use ovn_ha_config::Vip;
use std::path::Path;

/// Id of the OVN DB primitive (its promotion attribute is `master-ovndb_servers`).
pub const DB_RESOURCE: &str = "ovndb_servers";
/// Id of the promotable clone.
pub const DB_CLONE: &str = "ovndb_servers-clone";
/// Id of the VIP resource.
pub const VIP_RESOURCE: &str = "ovn_vip";
/// Id of the cluster property set: Pacemaker's own, so that no second set can disagree
/// with ours about the same property.
pub const PROPERTIES_ID: &str = "cib-bootstrap-options";

/// Shipped interval of the promoted copy's recurring monitor, ms.
pub const DEFAULT_PROMOTED_MONITOR_MS: u32 = 1_000;
/// Shipped interval of the unpromoted copies' recurring monitor, ms.
pub const DEFAULT_UNPROMOTED_MONITOR_MS: u32 = 2_000;
/// Shipped `dc-deadtime`, ms (Pacemaker's default is 20 s).
pub const DEFAULT_DC_DEADTIME_MS: u32 = 5_000;
/// Shipped `transition-delay`, ms (Pacemaker's default is 0).
pub const DEFAULT_TRANSITION_DELAY_MS: u32 = 100;

/// Pacemaker timings the pod may tune (the benchmark runs OVN's shell agent with the original
/// ovn-kubernetes values through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PacemakerTimings {
    /// Interval of the promoted copy's monitor.
    pub promoted_monitor_ms: u32,
    /// Interval of the unpromoted copies' monitor; differs from the promoted one (Pacemaker
    /// tells the two recurring monitors apart by their interval).
    pub unpromoted_monitor_ms: u32,
    /// `dc-deadtime`: how long a fresh node waits for a DC before electing one.
    pub dc_deadtime_ms: u32,
    /// `transition-delay`: how long the DC lets a burst of changes settle before it runs the
    /// scheduler (0 = Pacemaker's default, at once).
    pub transition_delay_ms: u32,
}

impl Default for PacemakerTimings {
    fn default() -> Self {
        PacemakerTimings {
            promoted_monitor_ms: DEFAULT_PROMOTED_MONITOR_MS,
            unpromoted_monitor_ms: DEFAULT_UNPROMOTED_MONITOR_MS,
            dc_deadtime_ms: DEFAULT_DC_DEADTIME_MS,
            transition_delay_ms: DEFAULT_TRANSITION_DELAY_MS,
        }
    }
}

/// A duration in ms as Pacemaker reads it: whole seconds as `5s`, anything else as `1500ms`.
pub fn pcmk_duration(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Promotion preference of a caught-up copy: above the whole range of the agent's health
/// scores (0–100), so a caught-up copy is promoted before a lagging one, whatever their health.
pub const CAUGHT_UP_BONUS: &str = "200";

/// The inputs the CIB depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesiredCib {
    pub vip: Vip,
    pub nb_port: u16,
    pub sb_port: u16,
    /// Ports standbys replicate from (NB, SB).
    pub replication_ports: [u16; 2],
    pub timings: PacemakerTimings,
    /// The entrypoint's semi-synchronous proxy holds the ports (the agent's `client_proxy`).
    pub client_proxy: bool,
    /// The databases speak TLS: the agent's `*_master_protocol` is `ssl`, with the key,
    /// certificate and CA files under `/ovn-cert` (the standbys replicate over `ssl:`).
    pub ssl: bool,
}

/// Builds the CIB configuration.
pub fn desired_cib(d: &DesiredCib) -> Cib {
    let properties = vec![
        NvPair::because(
            "stonith-enabled",
            "false",
            "No fencing device is reachable from a pod. Safety rests on no-quorum-policy=stop \
             (a node cut off from the majority stops its copy and the VIP) and on starting the \
             VIP only after the promote.",
        ),
        NvPair::because(
            "no-quorum-policy",
            "stop",
            "Without quorum a node stops everything: never two writable copies behind the VIP.",
        ),
        NvPair::because(
            "dc-deadtime",
            pcmk_duration(d.timings.dc_deadtime_ms),
            "A fresh cluster waits this long for a DC instead of 20 s; corosync forms the \
             membership within a second.",
        ),
        NvPair::because(
            "transition-delay",
            pcmk_duration(d.timings.transition_delay_ms),
            "The DC runs the scheduler once the changes of a membership change or a standby \
             have settled. Run at once, it finds the DC's own node-state updates still in \
             flight and Pacemaker re-reads the CIB a whole second later (measured: node loss \
             3.2 s without, 2.2 s with 100 ms).",
        ),
        NvPair::because(
            "cluster-recheck-interval",
            "60s",
            "Re-check at least every minute so failures past failure-timeout are forgotten.",
        ),
    ];

    let mut db_params = vec![
        NvPair::new("master_ip", d.vip.addr.to_string()),
        NvPair::new("nb_master_port", d.nb_port.to_string()),
        NvPair::new("sb_master_port", d.sb_port.to_string()),
        NvPair::new("nb_replication_port", d.replication_ports[0].to_string()),
        NvPair::new("sb_replication_port", d.replication_ports[1].to_string()),
        NvPair::new("promotion_gate", crate::cold_start::GATE_FILE),
        // The entrypoint's semi-synchronous proxy (`semi_sync`) holds the TCP ports.
        NvPair::new("client_proxy", if d.client_proxy { "yes" } else { "no" }),
    ];
    if d.ssl {
        for db in ovn_ha_contract::Db::BOTH {
            let files = crate::tls::TlsFiles::in_dir(Path::new(crate::tls::CERT_DIR), db);
            let short = db.short();
            let path = |p: &Path| p.display().to_string();
            db_params.extend([
                NvPair::new(&format!("{short}_master_protocol"), "ssl"),
                NvPair::new(&format!("ovn_{short}_db_privkey"), path(&files.private_key)),
                NvPair::new(&format!("ovn_{short}_db_cert"), path(&files.certificate)),
                NvPair::new(&format!("ovn_{short}_db_cacert"), path(&files.ca_cert)),
            ]);
        }
    }
    db_params.sort_by(|a, b| a.name.cmp(&b.name));
    let db = Primitive {
        id: DB_RESOURCE.to_string(),
        class: "ocf".into(),
        provider: "ovn".into(),
        agent: "ovndb-servers".into(),
        params: db_params,
        meta: vec![NvPair::new("failure-timeout", "60s")],
        ops: vec![
            // A start loads both database files before the servers answer: at a 100 MB SB
            // on a loaded 2-core host that took longer than 30 s, and the start failed
            // over and over. Nothing waits on a standby's start.
            Op::new("start", "0s", "120s"),
            Op::new("stop", "0s", "30s"),
            Op::new("promote", "0s", "30s"),
            Op::new("demote", "0s", "30s"),
            Op::new("notify", "0s", "20s"),
            // Each role's recurring monitor needs its own interval.
            Op::new(
                "monitor",
                &pcmk_duration(d.timings.promoted_monitor_ms),
                "10s",
            )
            .for_role(Role::Promoted),
            Op::new(
                "monitor",
                &pcmk_duration(d.timings.unpromoted_monitor_ms),
                "10s",
            )
            .for_role(Role::Unpromoted),
        ],
    };
    let clone = CloneResource {
        id: DB_CLONE.to_string(),
        meta: vec![
            NvPair::new("promotable", "true"),
            NvPair::new("promoted-max", "1"),
            NvPair::new("promoted-node-max", "1"),
            NvPair::new("clone-node-max", "1"),
            NvPair::new("notify", "true"),
        ],
        primitive: db,
    };

    let mut vip_params = vec![NvPair::new("ip", d.vip.addr.to_string())];
    if let Some(prefix) = d.vip.prefix {
        vip_params.push(NvPair::new("cidr_netmask", prefix.to_string()));
    }
    let vip = Primitive {
        id: VIP_RESOURCE.to_string(),
        class: "ocf".into(),
        provider: "heartbeat".into(),
        agent: "IPaddr2".into(),
        params: vip_params,
        meta: vec![],
        ops: vec![
            Op::new("start", "0s", "20s"),
            Op::new("stop", "0s", "20s"),
            Op::new("monitor", "10s", "20s"),
        ],
    };

    let constraints = vec![
        // The freshest copy wins: the active marks the nodes whose copy is caught up with it
        // (`replica_lag`); after losing the active, the survivors promote one of those over one
        // that lags. The active's own node carries the mark too, so the bonus never moves a
        // running promotion.
        Constraint::Prefer {
            id: format!("{DB_CLONE}-promote-caught-up"),
            rsc: DB_CLONE.into(),
            role: Role::Promoted,
            score: CAUGHT_UP_BONUS.into(),
            attribute: crate::replica_lag::ATTRIBUTE.into(),
            value: "1".into(),
        },
        Constraint::Colocation {
            id: format!("{VIP_RESOURCE}-with-promoted"),
            rsc: VIP_RESOURCE.into(),
            with_rsc: DB_CLONE.into(),
            with_role: Some(Role::Promoted),
            score: "INFINITY".into(),
        },
        // Symmetrical: on the way down the VIP stops before the demote. One way only (tried
        // for the 0.08–0.24 s of IPaddr2's stop it takes off a handover) let the VIP stay on
        // the demoted copy while the standbys, told of the promotion, reconnected to the VIP:
        // they followed the demoted copy, and once the VIP left it their sessions could not
        // even be closed (a socket whose address is gone sends nothing), so a standby
        // replicated nothing for seconds while the new active acknowledged writes (measured:
        // one acknowledged write lost in the cluster test when the new active was cut off).
        Constraint::Order {
            id: format!("promote-then-{VIP_RESOURCE}"),
            first: DB_CLONE.into(),
            first_action: "promote".into(),
            then: VIP_RESOURCE.into(),
            then_action: "start".into(),
        },
    ];

    Cib {
        properties_id: PROPERTIES_ID.to_string(),
        properties,
        resources: vec![Resource::Clone(clone), Resource::Primitive(vip)],
        constraints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovn_ha_config::vip::parse_vip;
    use std::process::Command;

    fn sample() -> Cib {
        desired_cib(&DesiredCib {
            vip: parse_vip("198.18.5.100/24").unwrap(),
            nb_port: 6641,
            sb_port: 6642,
            replication_ports: [6643, 6644],
            timings: PacemakerTimings::default(),
            client_proxy: true,
            ssl: false,
        })
    }

    #[test]
    fn full_document_matches_golden_file() {
        crate::golden::check("cib.xml", &sample().document().to_xml());
    }

    #[test]
    fn timings_reach_the_monitors_and_dc_deadtime() {
        assert_eq!(pcmk_duration(5_000), "5s");
        assert_eq!(pcmk_duration(1_500), "1500ms");
        let cib = desired_cib(&DesiredCib {
            vip: parse_vip("198.18.5.100/24").unwrap(),
            nb_port: 6641,
            sb_port: 6642,
            replication_ports: [6643, 6644],
            timings: PacemakerTimings {
                promoted_monitor_ms: 15_000,
                unpromoted_monitor_ms: 60_000,
                dc_deadtime_ms: 20_000,
                transition_delay_ms: 0,
            },
            client_proxy: true,
            ssl: false,
        });
        let xml = cib.document().to_xml();
        assert!(xml.contains("name=\"dc-deadtime\" value=\"20s\""), "{xml}");
        assert!(
            xml.contains("interval=\"15s\" timeout=\"10s\" role=\"Promoted\""),
            "{xml}"
        );
        assert!(
            xml.contains("interval=\"60s\" timeout=\"10s\" role=\"Unpromoted\""),
            "{xml}"
        );
    }

    #[test]
    fn vip_without_prefix_has_no_netmask() {
        let cib = desired_cib(&DesiredCib {
            vip: parse_vip("198.18.5.100").unwrap(),
            nb_port: 6641,
            sb_port: 6642,
            replication_ports: [6643, 6644],
            timings: PacemakerTimings::default(),
            client_proxy: true,
            ssl: false,
        });
        let xml = cib.resources().to_xml();
        assert!(!xml.contains("cidr_netmask"));
        assert!(xml.contains("name=\"ip\" value=\"198.18.5.100\""));
    }

    #[test]
    fn document_is_well_formed_with_unique_ids() {
        let xml = sample().document().to_xml();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let mut ids: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("id"))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids");
    }

    /// Pacemaker's scheduler, run on the generated CIB by `crm_simulate` with three nodes and
    /// promotion scores, promotes one copy and starts the VIP on the same node after it.
    #[test]
    fn scheduler_starts_the_vip_after_the_promote_on_the_same_node() {
        use ovn_ha_testbed::prereq::{check, missing_tools};
        if !check("crm_simulate test", &missing_tools(&["crm_simulate"])) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.xml");
        let second = dir.path().join("second.xml");
        let doc = sample().document().to_xml().replacen(
            "<cib ",
            "<cib have-quorum=\"1\" dc-uuid=\"n1\" ",
            1,
        );
        std::fs::write(&first, doc).unwrap();
        let sim = |input: &std::path::Path, output: &std::path::Path, up: bool| {
            let mut cmd = Command::new("crm_simulate");
            cmd.arg("-x")
                .arg(input)
                .args(["-q", "1", "-S", "-O"])
                .arg(output);
            if up {
                cmd.args(["-u", "n1", "-u", "n2", "-u", "n3"]);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let started = dir.path().join("started.xml");
        sim(&first, &started, true);
        for (node, score) in [("n1", "5"), ("n2", "10"), ("n3", "5")] {
            let out = Command::new("crm_attribute")
                .env("CIB_file", &started)
                .args([
                    "-N",
                    node,
                    "-n",
                    "master-ovndb_servers",
                    "-v",
                    score,
                    "-l",
                    "reboot",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = sim(&started, &second, false);
        let promote = text.find("ovndb_servers   promote on n2").expect(&text);
        let vip = text.find("ovn_vip         start on n2").expect(&text);
        assert!(promote < vip, "{text}");
    }

    /// Pacemaker's own checker accepts the CIB (skipped where `crm_verify` is not installed).
    #[test]
    fn crm_verify_accepts_the_document() {
        use ovn_ha_testbed::prereq::{check, missing_tools};
        if !check("crm_verify test", &missing_tools(&["crm_verify"])) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cib.xml");
        std::fs::write(&path, sample().document().to_xml()).unwrap();
        let out = Command::new("crm_verify")
            .arg("--xml-file")
            .arg(&path)
            .arg("-V")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "crm_verify failed: {stderr}");
        // Unknown agents are not an error for crm_verify, but schema problems would be.
        assert!(!stderr.contains("error"), "{stderr}");
    }
}
