//! Releasing the VIP from this node's interfaces without Pacemaker (`ip addr del`): at start (a
//! VIP left by a pod that died), before leaving the cluster after a crash, and when this node
//! loses quorum. Which addresses to delete is decided by the pure `vip_release`.

use super::owned;
use ovnkube_db_ha::vip_release::vip_assignments;
use std::net::IpAddr;
use std::process::Command;

/// Removes `vip` from every local interface that holds it, logging through `log` what it did;
/// failures are logged, not fatal. Returns how many assignments it removed.
pub fn release(vip: IpAddr, log: fn(String)) -> usize {
    let out = match owned::output(Command::new("ip").args(["-o", "addr", "show"])) {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => {
            log(format!("cannot list addresses to release the VIP: {e}"));
            return 0;
        }
    };
    let mut released = 0;
    for (dev, cidr) in vip_assignments(&out, vip) {
        match owned::status(Command::new("ip").args(["addr", "del", &cidr, "dev", &dev])) {
            Ok(s) if s.success() => {
                released += 1;
                log(format!("released the VIP {cidr} from {dev}"));
            }
            other => log(format!(
                "could not release the VIP {cidr} from {dev}: {other:?}"
            )),
        }
    }
    released
}
