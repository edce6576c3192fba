//! Building a bed (bridge, hosts, veths, mount namespaces), link faults, and its teardown.

use crate::cleanup::{bed_links, bed_namespaces, teardown_spec};
use crate::error::{BedError, Result};
use crate::exec::run_quiet;
use crate::host::Host;
use crate::mounts::{create_host_mount_ns, make_private_ns_dir};
use crate::plan::{BedSpec, HostPlan};
use std::sync::atomic::{AtomicBool, Ordering};

/// A live bed. Dropping it tears it down; call [`Bed::teardown`] to see errors.
#[derive(Debug)]
pub struct Bed {
    spec: BedSpec,
    hosts: Vec<Host>,
    torn_down: AtomicBool,
}

impl Bed {
    /// Builds the bed. Fails with [`BedError::Exists`] if anything with its prefix exists;
    /// on any other failure removes what it had made before returning the error.
    pub fn create(spec: &BedSpec) -> Result<Bed> {
        spec.validate()?;
        if !bed_namespaces(&spec.name)?.is_empty()
            || !bed_links(&spec.name)?.is_empty()
            || spec.state_dir().exists()
        {
            return Err(BedError::Exists(spec.name.clone()));
        }
        let bed = Bed {
            spec: spec.clone(),
            hosts: spec.host_plans().into_iter().map(Host::new).collect(),
            torn_down: AtomicBool::new(false),
        };
        // On error `bed` is dropped here, which tears down whatever was made.
        bed.build()?;
        Ok(bed)
    }

    fn build(&self) -> Result<()> {
        let spec = &self.spec;
        let bridge = spec.bridge();
        run_quiet("ip", &["link", "add", &bridge, "type", "bridge"])?;
        let bridge_cidr = format!("{}/{}", spec.bridge_addr(), spec.prefix_len());
        run_quiet("ip", &["addr", "add", &bridge_cidr, "dev", &bridge])?;
        run_quiet("ip", &["link", "set", &bridge, "up"])?;
        make_private_ns_dir(&spec.ns_dir())?;
        for host in &self.hosts {
            build_host_network(spec, host.plan())?;
            create_host_mount_ns(host.plan())?;
        }
        Ok(())
    }

    /// The spec the bed was built from.
    pub fn spec(&self) -> &BedSpec {
        &self.spec
    }

    /// The hosts, in index order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Host by 1-based index.
    pub fn host(&self, index: usize) -> Option<&Host> {
        self.hosts.iter().find(|h| h.index() == index)
    }

    /// Cuts `host` off the bridge (root-side veth down): its packets go nowhere.
    pub fn cut_link(&self, host: &Host) -> Result<()> {
        run_quiet("ip", &["link", "set", &host.plan().root_veth, "down"])
    }

    /// Reconnects `host` to the bridge.
    pub fn restore_link(&self, host: &Host) -> Result<()> {
        run_quiet("ip", &["link", "set", &host.plan().root_veth, "up"])
    }

    /// Removes everything the bed made; safe to call more than once.
    pub fn teardown(&self) -> Result<()> {
        let result = teardown_spec(&self.spec);
        if result.is_ok() {
            self.torn_down.store(true, Ordering::SeqCst);
        }
        result
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if !self.torn_down.load(Ordering::SeqCst)
            && let Err(e) = self.teardown()
        {
            eprintln!("ovn-ha-testbed: {e}");
        }
    }
}

/// Namespace, veth pair, `eth0` address and links up for one host.
fn build_host_network(spec: &BedSpec, host: &HostPlan) -> Result<()> {
    let ns = host.netns.as_str();
    run_quiet("ip", &["netns", "add", ns])?;
    run_quiet(
        "ip",
        &[
            "link",
            "add",
            &host.root_veth,
            "type",
            "veth",
            "peer",
            "name",
            &host.temp_peer,
        ],
    )?;
    run_quiet("ip", &["link", "set", &host.temp_peer, "netns", ns])?;
    run_quiet(
        "ip",
        &["-n", ns, "link", "set", &host.temp_peer, "name", "eth0"],
    )?;
    let cidr = format!("{}/{}", host.addr, spec.prefix_len());
    run_quiet("ip", &["-n", ns, "addr", "add", &cidr, "dev", "eth0"])?;
    run_quiet("ip", &["-n", ns, "link", "set", "eth0", "up"])?;
    run_quiet("ip", &["-n", ns, "link", "set", "lo", "up"])?;
    run_quiet(
        "ip",
        &["link", "set", &host.root_veth, "master", &spec.bridge()],
    )?;
    run_quiet("ip", &["link", "set", &host.root_veth, "up"])
}
