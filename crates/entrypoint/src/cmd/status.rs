//! `status`: crm_mon's view of the cluster plus the local copies' sync state.

use super::pcmk::cluster_status;
use super::proc::output;
use anyhow::Result;
use ovn_ha_contract::Db;
use ovnkube_db_ha::status_view::{LocalCopies, StatusReport};
use ovnkube_db_ha::sync_state::{SyncState, parse_sync_status};
use ovsdb_unixctl::{Client, Command as UnixctlCommand};
use std::time::Duration;

/// The control socket of `db`'s server (the agent's default `run_dir`).
pub fn ctl(db: Db) -> std::path::PathBuf {
    db.ctl(ovn_ha_contract::default_run_dir())
}

/// Sync state of the local server behind `ctl`, asked over its unixctl socket.
pub fn local_sync_state(ctl: &std::path::Path) -> SyncState {
    if !ctl.exists() {
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
        nb: local_sync_state(&ctl(Db::Nb)).to_string(),
        sb: local_sync_state(&ctl(Db::Sb)).to_string(),
    });
    let report = StatusReport::new(cluster, local);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
