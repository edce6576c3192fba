//! Is an address served by this host? (Never point a backup at ourselves: a backup that
//! replicates from itself fails and turns itself active.)

use std::net::IpAddr;

/// True if `ip` is one of `local` or can only mean this host (loopback, unspecified).
pub fn is_local_in(ip: IpAddr, local: &[IpAddr]) -> bool {
    ip.is_loopback() || ip.is_unspecified() || local.contains(&ip)
}

/// The addresses configured on this host's interfaces (getifaddrs, no process spawned).
pub fn local_addresses() -> std::io::Result<Vec<IpAddr>> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    let mut out = Vec::new();
    for ifa in addrs {
        let Some(sa) = ifa.address else { continue };
        if let Some(v4) = sa.as_sockaddr_in() {
            out.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = sa.as_sockaddr_in6() {
            out.push(IpAddr::V6(v6.ip()));
        }
    }
    Ok(out)
}

/// True if this host serves `ip`.
pub fn is_local(ip: IpAddr) -> std::io::Result<bool> {
    if is_local_in(ip, &[]) {
        return Ok(true);
    }
    Ok(is_local_in(ip, &local_addresses()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_cases() {
        let local: Vec<IpAddr> = vec![
            "198.18.3.1".parse().unwrap(),
            "2001:db8::7".parse().unwrap(),
        ];
        let cases = [
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("::1", true),
            ("0.0.0.0", true),
            ("198.18.3.1", true),
            ("2001:db8::7", true),
            ("198.18.3.2", false),
            ("2001:db8::8", false),
        ];
        for (ip, want) in cases {
            assert_eq!(is_local_in(ip.parse().unwrap(), &local), want, "{ip}");
        }
    }

    #[test]
    fn this_host_has_loopback() {
        let all = local_addresses().unwrap();
        // Whatever the namespace, getifaddrs works; 127.0.0.1 is local by rule.
        assert!(is_local("127.0.0.1".parse().unwrap()).unwrap());
        assert!(!is_local_in("192.0.2.254".parse().unwrap(), &all));
    }
}
