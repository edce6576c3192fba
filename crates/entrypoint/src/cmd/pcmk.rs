//! Pacemaker's own command-line tools, wrapped: `crm_mon` (status XML), `cibadmin` (query and
//! modify the CIB), `crm_attribute` (node standby), `crmadmin` (the DC's controller state).
//! Never pcs.

use super::proc::{checked, checked_with_env, output};
use anyhow::{Context, Result};
use ovnkube_db_ha::cib::Cib;
use ovnkube_db_ha::cib::compare::contains;
use ovnkube_db_ha::cib::desired::{DB_RESOURCE, VIP_RESOURCE};
use ovnkube_db_ha::crm_mon::{ClusterStatus, parse_controller_state, parse_crm_mon};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(10);

/// The cluster's status from `crm_mon -1 --output-as=xml`.
pub fn cluster_status() -> Result<ClusterStatus> {
    let xml = checked("crm_mon", &["-1", "--output-as=xml"], None, SHORT)?;
    parse_crm_mon(&xml, DB_RESOURCE, VIP_RESOURCE).context("reading crm_mon's XML")
}

/// Whether the controller of `dc` (the DC) runs no transition now (`S_IDLE`), from
/// `crmadmin --status`.
pub fn dc_idle(dc: &str) -> Result<bool> {
    let xml = checked(
        "crmadmin",
        &[&format!("--status={dc}"), "--output-as=xml"],
        None,
        Duration::from_secs(2),
    )?;
    Ok(parse_controller_state(&xml).context("reading crmadmin's XML")? == "S_IDLE")
}

/// Which CIB the tools work on: the running cluster's, or a file (`CIB_file`, for tests).
#[derive(Debug, Clone, Default)]
pub struct CibTarget {
    file: Option<String>,
}

impl CibTarget {
    /// The running cluster's CIB.
    pub fn live() -> Self {
        CibTarget::default()
    }

    /// A CIB held in a file.
    #[cfg(test)]
    pub fn file(path: &std::path::Path) -> Self {
        CibTarget {
            file: Some(path.to_string_lossy().into_owned()),
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.file
            .as_deref()
            .map(|f| vec![("CIB_file", f)])
            .unwrap_or_default()
    }
}

/// Makes the CIB contain `cib`'s configuration: queries it and, only if something is
/// missing or different, sends one atomic `cibadmin --modify --allow-create`. Safe when every
/// node does it at once: the payloads are identical and the merge is idempotent.
/// Returns whether a change was sent.
pub fn ensure_configuration(cib: &Cib, target: &CibTarget) -> Result<bool> {
    let desired = cib.configuration().without_comments();
    let env = target.env();
    let live = checked_with_env(
        "cibadmin",
        &["--query", "--scope", "configuration"],
        None,
        SHORT,
        &env,
    )?;
    if contains(&live, &desired) {
        return Ok(false);
    }
    checked_with_env(
        "cibadmin",
        &[
            "--modify",
            "--allow-create",
            "--scope",
            "configuration",
            "--xml-pipe",
        ],
        Some(&desired.to_xml()),
        Duration::from_secs(30),
        &env,
    )
    .context("loading the configuration into the CIB")?;
    Ok(true)
}

/// Sets (`true`) or clears (`false`) the permanent standby attribute of `node`.
pub fn set_standby(node: &str, on: bool) -> Result<()> {
    let value = if on { "on" } else { "off" };
    checked(
        "crm_attribute",
        &[
            "--node",
            node,
            "--name",
            "standby",
            "--update",
            value,
            "--lifetime",
            "forever",
        ],
        None,
        SHORT,
    )
    .with_context(|| format!("setting standby={value} on {node}"))?;
    Ok(())
}

/// Sets `node`'s caught-up mark (`replica_lag::ATTRIBUTE`), a transient attribute: Pacemaker
/// erases it when the node leaves the membership, so a restarted copy never carries an old
/// mark. Never permanent: a cut-off node writing permanent attributes can win the CIB merge
/// when it rejoins and carry its stale marks into the majority's decisions (measured: the old
/// active promoted again after a link cut, the new active's writes lost).
pub fn set_caught_up(node: &str, caught_up: bool) -> Result<()> {
    let value = if caught_up { "1" } else { "0" };
    set_transient(node, ovnkube_db_ha::replica_lag::ATTRIBUTE, value)
}

/// Clears `node`'s caught-up mark (the transient attribute is unset).
pub fn clear_caught_up(node: &str) -> Result<()> {
    transient(node, ovnkube_db_ha::replica_lag::ATTRIBUTE, None)
}

/// Sets the transient (lifetime `reboot`) node attribute `name` of `node` to `value`.
pub fn set_transient(node: &str, name: &str, value: &str) -> Result<()> {
    transient(node, name, Some(value))
}

/// Sets (`Some`) or clears (`None`) the transient node attribute `name` of `node`.
fn transient(node: &str, name: &str, value: Option<&str>) -> Result<()> {
    let mut args = vec!["--node", node, "--name", name, "--lifetime", "reboot"];
    match value {
        Some(v) => args.extend(["--update", v]),
        None => args.push("--delete"),
    }
    checked("crm_attribute", &args, None, SHORT).with_context(|| match value {
        Some(v) => format!("setting {name}={v} on {node}"),
        None => format!("clearing {name} on {node}"),
    })?;
    Ok(())
}

/// Whether corosync answers (`corosync-cfgtool -s` exits 0).
pub fn corosync_answers() -> bool {
    output("corosync-cfgtool", &["-s"], None, Duration::from_secs(5))
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovn_ha_config::vip::parse_vip;
    use ovnkube_db_ha::cib::{DesiredCib, desired_cib};
    use std::process::Command;

    fn sample() -> Cib {
        desired_cib(&DesiredCib {
            vip: parse_vip("198.18.5.100/24").unwrap(),
            nb_port: 6641,
            sb_port: 6642,
            replication_ports: [6643, 6644],
            timings: Default::default(),
            client_proxy: true,
            ssl: false,
        })
    }

    /// The exact cibadmin calls `run` makes, on a file-backed CIB: the first call loads the
    /// configuration, the second finds it in place and changes nothing, Pacemaker's own
    /// properties next to ours survive, and the result passes crm_verify.
    #[test]
    fn loading_is_idempotent_on_a_file_backed_cib() {
        use ovn_ha_testbed::prereq::{check, missing_tools};
        if !check("cibadmin test", &missing_tools(&["cibadmin"])) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cib.xml");
        let empty = Command::new("cibadmin").arg("--empty").output().unwrap();
        let text = String::from_utf8_lossy(&empty.stdout).replace(
            "<crm_config/>",
            "<crm_config><cluster_property_set id=\"cib-bootstrap-options\">\
             <nvpair id=\"cib-bootstrap-options-cluster-name\" name=\"cluster-name\" value=\"ovnkube-db\"/>\
             </cluster_property_set></crm_config>",
        );
        std::fs::write(&path, text).unwrap();
        let target = CibTarget::file(&path);
        let cib = sample();
        assert!(ensure_configuration(&cib, &target).unwrap());
        let after_first = std::fs::read_to_string(&path).unwrap();
        assert!(!ensure_configuration(&cib, &target).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after_first);
        assert!(after_first.contains("name=\"cluster-name\""));
        assert!(after_first.contains("with-rsc-role=\"Promoted\""));
        let verify = Command::new("crm_verify")
            .arg("-x")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        );
        // A changed VIP is merged in place.
        let moved = desired_cib(&DesiredCib {
            vip: parse_vip("198.18.5.101/24").unwrap(),
            nb_port: 6641,
            sb_port: 6642,
            replication_ports: [6643, 6644],
            timings: Default::default(),
            client_proxy: true,
            ssl: false,
        });
        assert!(ensure_configuration(&moved, &target).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("value=\"198.18.5.101\"") && !text.contains("value=\"198.18.5.100\"")
        );
    }
}
