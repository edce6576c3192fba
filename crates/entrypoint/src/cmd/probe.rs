//! `probe readiness|liveness`: quick checks for the kubelet; exit 0 = healthy.

use super::pcmk::{cluster_status, corosync_answers};
use super::status::{ctl, local_sync_state};
use anyhow::{Result, bail};
use ovn_ha_contract::Db;

/// Ready: both local copies are active (this node holds the promoted copy) or replicating.
pub fn readiness() -> Result<()> {
    let nb = local_sync_state(&ctl(Db::Nb));
    let sb = local_sync_state(&ctl(Db::Sb));
    if nb.is_serving_or_replicating() && sb.is_serving_or_replicating() {
        println!("ready: NB {nb}; SB {sb}");
        Ok(())
    } else {
        bail!("not ready: NB {nb}; SB {sb}")
    }
}

/// Alive: corosync answers and Pacemaker reports a status.
pub fn liveness() -> Result<()> {
    if !corosync_answers() {
        bail!("corosync does not answer");
    }
    cluster_status()?;
    println!("alive");
    Ok(())
}
