//! Finding the VIP on this node's interfaces, so the entrypoint can release it itself: before
//! it leaves the cluster after a crash of pacemakerd (otherwise the survivors promote another
//! copy while this one still answers at the VIP), and at start (a VIP left on the node by a
//! pod that died). Parsing of `ip -o addr show` is pure; the caller runs the commands.

use std::net::IpAddr;

/// `(device, address/prefix)` of every local address equal to `vip`, from `ip -o addr show`.
pub fn vip_assignments(ip_o_addr: &str, vip: IpAddr) -> Vec<(String, String)> {
    ip_o_addr
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let _index = words.next()?;
            let dev = words.next()?.trim_end_matches(':');
            let family = words.next()?;
            if family != "inet" && family != "inet6" {
                return None;
            }
            let cidr = words.next()?;
            let addr: IpAddr = cidr.split('/').next()?.parse().ok()?;
            (addr == vip).then(|| {
                (
                    dev.split('@').next().unwrap_or(dev).to_string(),
                    cidr.to_string(),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_vip_on_any_device() {
        let text = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 198.18.0.11/24 brd 198.18.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 198.18.0.100/24 brd 198.18.0.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever
3: veth1@if4    inet6 fd00::64/64 scope global \\       valid_lft forever preferred_lft forever
";
        let vip: IpAddr = "198.18.0.100".parse().unwrap();
        assert_eq!(
            vip_assignments(text, vip),
            [("eth0".to_string(), "198.18.0.100/24".to_string())]
        );
        let v6: IpAddr = "fd00::64".parse().unwrap();
        assert_eq!(
            vip_assignments(text, v6),
            [("veth1".to_string(), "fd00::64/64".to_string())]
        );
        assert!(vip_assignments(text, "10.0.0.1".parse().unwrap()).is_empty());
        assert!(vip_assignments("", vip).is_empty());
    }
}
