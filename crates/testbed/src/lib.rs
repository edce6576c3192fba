//! A test bed of "hosts" on one Linux machine, for cluster tests, the local cluster and the
//! failover benchmark.
//!
//! Each host is a named network namespace (`ip netns`) joined to a Linux bridge through a veth
//! pair whose other end stays in the root namespace, plus a persistent mount namespace of its
//! own in which the state directories Corosync, Pacemaker and OVN use (`/etc/corosync`,
//! `/var/lib/{corosync,pacemaker,ovn}`, `/etc/ovn`, `/var/log`, `/run`, `/dev/shm`) are private.
//! The bridge holds the first address of the bed's /24 so that tools on the machine reach the
//! hosts and any VIP they bring up.
//!
//! ```no_run
//! use ovn_ha_testbed::{Bed, BedSpec};
//! let bed = Bed::create(&BedSpec::new("t4x", 9, 3)?)?;
//! let out = bed.hosts()[0].command("ip").args(["-br", "addr"]).output();
//! bed.cut_link(&bed.hosts()[1])?;
//! bed.teardown()?; // also done on drop
//! # Ok::<(), ovn_ha_testbed::BedError>(())
//! ```
//!
//! Everything the bed creates is named after its prefix, so [`teardown_by_name`] can remove
//! the leftovers of a run that was killed. The bed never touches anything outside its names:
//! processes are killed by pid (those found in its namespaces), links and namespaces by name.
//!
//! Needs root, `ip` (iproute2), `unshare`/`nsenter`/`mount`/`umount` (util-linux) and
//! `install` (coreutils).

mod bed;
mod child;
mod cleanup;
mod error;
mod exec;
pub mod golden;
mod host;
mod mounts;
mod plan;
pub mod prereq;

pub use bed::Bed;
pub use child::HostChild;
pub use cleanup::teardown_by_name;
pub use error::BedError;
pub use host::Host;
pub use mounts::{PRIVATE_DIRS, PrivateDir, PrivateDirInit};
pub use plan::{BedSpec, DEFAULT_STATE_ROOT, HostPlan};
