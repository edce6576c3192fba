//! Releasing the VIP from this node's interfaces without Pacemaker (`ip addr del`): at start (a
//! VIP left by a pod that died), before leaving the cluster after a crash, and when this node
//! loses quorum. Which addresses to delete is decided by the pure `vip_release`.

use super::owned;
use ovnkube_db_ha::vip_release::vip_assignments;
use std::net::IpAddr;
use std::process::Command;

/// `(device, address/prefix)` of every local assignment of `vip`; `Err` when the addresses
/// cannot be listed.
fn assignments(vip: IpAddr) -> std::io::Result<Vec<(String, String)>> {
    let out = owned::output(Command::new("ip").args(["-o", "addr", "show"]))?;
    Ok(vip_assignments(&String::from_utf8_lossy(&out.stdout), vip))
}

/// Whether this node holds `vip` (false when the addresses cannot be listed).
pub fn held(vip: IpAddr) -> bool {
    assignments(vip).is_ok_and(|a| !a.is_empty())
}

/// Removes `vip` from every local interface that holds it, logging through `log` what it did;
/// failures are logged, not fatal.
pub fn release(vip: IpAddr, log: fn(String)) {
    let held = match assignments(vip) {
        Ok(a) => a,
        Err(e) => {
            log(format!("cannot list addresses to release the VIP: {e}"));
            return;
        }
    };
    for (dev, cidr) in held {
        match owned::status(Command::new("ip").args(["addr", "del", &cidr, "dev", &dev])) {
            Ok(s) if s.success() => log(format!("released the VIP {cidr} from {dev}")),
            other => log(format!(
                "could not release the VIP {cidr} from {dev}: {other:?}"
            )),
        }
    }
}
