//! `status`: crm_mon's view of the cluster plus the local copies' sync state.

use super::pcmk::cluster_status;
use super::proc::output;
use anyhow::Result;
use ovnkube_db_ha::status_view::{LocalCopies, StatusReport};
use ovnkube_db_ha::sync_state::{SyncState, parse_sync_status};
use ovsdb_unixctl::{Client, Command as UnixctlCommand};
use std::time::Duration;

/// Control sockets of the local NB and SB servers (ovn-ctl's paths).
pub const NB_CTL: &str = "/var/run/ovn/ovnnb_db.ctl";
pub const SB_CTL: &str = "/var/run/ovn/ovnsb_db.ctl";

/// Sync state of the local server behind `ctl`, asked over its unixctl socket.
pub fn local_sync_state(ctl: &str) -> SyncState {
    if !std::path::Path::new(ctl).exists() {
        return SyncState::Unknown {
            detail: "not running here".into(),
        };
    }
    let reply = Client::connect(ctl, Duration::from_secs(2))
        .and_then(|mut client| client.call(&UnixctlCommand::SyncStatus));
    match reply {
        Ok(text) => parse_sync_status(&text),
        Err(e) => SyncState::Unknown {
            detail: e.to_string(),
        },
    }
}

/// This node's name: `K8S_NODE` if set, else corosync's view via `crm_node -n`.
pub fn local_node_name() -> Option<String> {
    std::env::var(ovn_ha_config::db_env::NODE_NAME)
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            output("crm_node", &["-n"], None, Duration::from_secs(3))
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
}

pub fn status(json: bool) -> Result<()> {
    let cluster = cluster_status()?;
    let local = local_node_name().map(|node| LocalCopies {
        node,
        nb: local_sync_state(NB_CTL).to_string(),
        sb: local_sync_state(SB_CTL).to_string(),
    });
    let report = StatusReport::new(cluster, local);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
