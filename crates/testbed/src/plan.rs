//! The pure part of a bed: validated spec, the names of everything the bed creates and its
//! address plan. No I/O here, so it is unit-tested directly.
//!
//! For prefix `P`, third octet `N` and hosts `1..=n`:
//! bridge `P-br` with `198.18.N.1/24`; host `i` is netns `P-hi` with `eth0` at
//! `198.18.N.(10+i)/24`, joined through the root-side veth `P-vi`; its state lives under
//! `<state_root>/P/hi` and its mount namespace is pinned at `<state_root>/P/ns/hi.mnt`.

use crate::error::{BedError, Result};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Where beds keep per-host directories and mount-namespace files by default.
pub const DEFAULT_STATE_ROOT: &str = "/var/tmp/ovn-ha-testbed";

/// Longest prefix: `P-v99` must fit Linux's 15-byte interface names.
const MAX_PREFIX_LEN: usize = 10;
/// Most hosts in one bed (addresses .11 up to .99 stay below the VIPs tests like to use).
const MAX_HOSTS: usize = 89;
/// Offset of host addresses in the /24: host 1 is .11.
const HOST_ADDR_OFFSET: u8 = 10;

/// What to build: a short name prefix, the third octet of the bed's `198.18.N.0/24`, and the
/// number of hosts. Use a distinct prefix and octet per concurrent bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedSpec {
    /// Prefix of every name the bed creates, e.g. `t4`; lowercase letters and digits, starting
    /// with a letter, at most 10 characters.
    pub name: String,
    /// Third octet `N` of the bed's subnet `198.18.N.0/24`.
    pub subnet: u8,
    /// Number of hosts, 1 to 89.
    pub hosts: usize,
    /// Directory under which the bed keeps its state (`<state_root>/<name>/...`).
    pub state_root: PathBuf,
}

impl BedSpec {
    /// A validated spec with the default state root.
    pub fn new(name: &str, subnet: u8, hosts: usize) -> Result<Self> {
        let spec = BedSpec {
            name: name.to_string(),
            subnet,
            hosts,
            state_root: PathBuf::from(DEFAULT_STATE_ROOT),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the prefix and the host count.
    pub fn validate(&self) -> Result<()> {
        validate_prefix(&self.name)?;
        if self.hosts == 0 || self.hosts > MAX_HOSTS {
            return Err(BedError::Spec(format!(
                "hosts must be 1 to {MAX_HOSTS}, not {}",
                self.hosts
            )));
        }
        Ok(())
    }

    /// Name of the bridge.
    pub fn bridge(&self) -> String {
        format!("{}-br", self.name)
    }

    /// The bridge's address (`.1`), which the root namespace uses to reach the hosts.
    pub fn bridge_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, 1)
    }

    /// Prefix length of the bed's subnet.
    pub fn prefix_len(&self) -> u8 {
        24
    }

    /// An address of the bed's /24 by last octet, e.g. for a VIP (`.100`).
    pub fn addr(&self, last_octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, last_octet)
    }

    /// Directory holding everything of this bed on disk.
    pub fn state_dir(&self) -> PathBuf {
        self.state_root.join(&self.name)
    }

    /// Directory holding the mount-namespace files (a private bind mount of itself).
    pub fn ns_dir(&self) -> PathBuf {
        self.state_dir().join("ns")
    }

    /// The plan of host `index` (1-based).
    pub fn host(&self, index: usize) -> HostPlan {
        let last = HOST_ADDR_OFFSET.saturating_add(u8::try_from(index).unwrap_or(u8::MAX));
        HostPlan {
            index,
            netns: format!("{}-h{index}", self.name),
            root_veth: format!("{}-v{index}", self.name),
            temp_peer: format!("{}-e{index}", self.name),
            addr: Ipv4Addr::new(198, 18, self.subnet, last),
            state_dir: self.state_dir().join(format!("h{index}")),
            mount_ns_file: self.ns_dir().join(format!("h{index}.mnt")),
        }
    }

    /// Plans of all hosts, in order.
    pub fn host_plans(&self) -> Vec<HostPlan> {
        (1..=self.hosts).map(|i| self.host(i)).collect()
    }
}

/// Names, address and paths of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// 1-based index.
    pub index: usize,
    /// Network namespace name, also the host's name (`P-hi`).
    pub netns: String,
    /// Root-side end of the veth pair, enslaved to the bridge (`P-vi`).
    pub root_veth: String,
    /// Name of the namespace-side end before it is moved in and renamed `eth0`.
    pub temp_peer: String,
    /// The host's address on `eth0`.
    pub addr: Ipv4Addr,
    /// Per-host state directory (the sources of its private bind mounts).
    pub state_dir: PathBuf,
    /// File the host's mount namespace is bound to.
    pub mount_ns_file: PathBuf,
}

impl HostPlan {
    /// The source directory of a private mount, named after the target path
    /// (`/var/lib/pacemaker` → `<state_dir>/var-lib-pacemaker`).
    pub fn private_source(&self, target: &Path) -> PathBuf {
        let flat = target.to_string_lossy().trim_matches('/').replace('/', "-");
        self.state_dir.join(flat)
    }
}

/// Checks a bed prefix: 1 to 10 characters, lowercase ASCII letters and digits, first a letter.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let ok_chars = prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let starts_with_letter = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN || !ok_chars || !starts_with_letter {
        return Err(BedError::Spec(format!(
            "prefix `{prefix}` must be 1 to {MAX_PREFIX_LEN} lowercase letters or digits, starting with a letter"
        )));
    }
    Ok(())
}

/// If `name` is `<prefix>-<kind><digits>` returns the digits' value; used to recognise a bed's
/// namespaces (`kind` = 'h') and veths ('v', 'e') without matching other prefixes (`t4` must not
/// match `t40-h1`).
pub fn indexed_name(prefix: &str, kind: char, name: &str) -> Option<usize> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let digits = rest.strip_prefix(kind)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_follow_the_plan() {
        let spec = BedSpec::new("t4", 7, 3).unwrap();
        assert_eq!(spec.bridge(), "t4-br");
        assert_eq!(spec.bridge_addr(), Ipv4Addr::new(198, 18, 7, 1));
        assert_eq!(spec.addr(100), Ipv4Addr::new(198, 18, 7, 100));
        let hosts = spec.host_plans();
        assert_eq!(hosts.len(), 3);
        assert_eq!(hosts[0].netns, "t4-h1");
        assert_eq!(hosts[0].root_veth, "t4-v1");
        assert_eq!(hosts[0].temp_peer, "t4-e1");
        assert_eq!(hosts[0].addr, Ipv4Addr::new(198, 18, 7, 11));
        assert_eq!(hosts[2].addr, Ipv4Addr::new(198, 18, 7, 13));
        assert_eq!(
            hosts[1].mount_ns_file,
            PathBuf::from("/var/tmp/ovn-ha-testbed/t4/ns/h2.mnt")
        );
        assert_eq!(
            hosts[1].private_source(Path::new("/var/lib/pacemaker")),
            PathBuf::from("/var/tmp/ovn-ha-testbed/t4/h2/var-lib-pacemaker")
        );
    }

    #[test]
    fn longest_names_fit_interface_name_limit() {
        let spec = BedSpec::new("abcdefghij", 1, MAX_HOSTS).unwrap();
        for host in spec.host_plans() {
            assert!(host.root_veth.len() <= 15, "{}", host.root_veth);
            assert!(host.temp_peer.len() <= 15, "{}", host.temp_peer);
        }
        assert!(spec.bridge().len() <= 15);
        assert_eq!(spec.host(MAX_HOSTS).addr, Ipv4Addr::new(198, 18, 1, 99));
    }

    #[test]
    fn bad_specs_are_rejected() {
        for prefix in ["", "T4", "4t", "t-4", "abcdefghijk", "t4 "] {
            assert!(BedSpec::new(prefix, 4, 3).is_err(), "{prefix:?}");
        }
        assert!(BedSpec::new("t4", 4, 0).is_err());
        assert!(BedSpec::new("t4", 4, MAX_HOSTS + 1).is_err());
    }

    #[test]
    fn indexed_names_match_only_their_prefix() {
        let cases = [
            ("t4", 'h', "t4-h1", Some(1)),
            ("t4", 'h', "t4-h12", Some(12)),
            ("t4", 'h', "t40-h1", None),
            ("t4", 'h', "t4-h", None),
            ("t4", 'h', "t4-hx", None),
            ("t4", 'v', "t4-v3", Some(3)),
            ("t4", 'v', "t4-h3", None),
            ("t4", 'v', "t4-br", None),
        ];
        for (prefix, kind, name, want) in cases {
            assert_eq!(indexed_name(prefix, kind, name), want, "{name}");
        }
    }
}
