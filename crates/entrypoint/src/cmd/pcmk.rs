//! Pacemaker's own command-line tools, wrapped: `crm_mon` (status XML), `cibadmin` (query and
//! modify the CIB), `crm_attribute` (node standby). Never pcs.

use super::proc::{checked, output};
use anyhow::{Context, Result};
use ovnkube_db_ha::cib::Cib;
use ovnkube_db_ha::cib::compare::contains;
use ovnkube_db_ha::cib::desired::{DB_RESOURCE, VIP_RESOURCE};
use ovnkube_db_ha::crm_mon::{ClusterStatus, parse_crm_mon};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(10);

/// The cluster's status from `crm_mon -1 --output-as=xml`.
pub fn cluster_status() -> Result<ClusterStatus> {
    let xml = checked("crm_mon", &["-1", "--output-as=xml"], None, SHORT)?;
    parse_crm_mon(&xml, DB_RESOURCE, VIP_RESOURCE).context("reading crm_mon's XML")
}

/// Makes the live CIB contain `cib`'s configuration: queries it and, only if something is
/// missing or different, sends one atomic `cibadmin --modify --allow-create`. Safe when every
/// node does it at once: the payloads are identical and the merge is idempotent.
/// Returns whether a change was sent.
pub fn ensure_configuration(cib: &Cib) -> Result<bool> {
    let desired = cib.configuration().without_comments();
    let live = checked(
        "cibadmin",
        &["--query", "--scope", "configuration"],
        None,
        SHORT,
    )?;
    if contains(&live, &desired) {
        return Ok(false);
    }
    checked(
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

/// Whether corosync answers (`corosync-cfgtool -s` exits 0).
pub fn corosync_answers() -> bool {
    output("corosync-cfgtool", &["-s"], None, Duration::from_secs(5))
        .map(|o| o.status.success())
        .unwrap_or(false)
}
