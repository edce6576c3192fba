//! The DB pod entrypoint `ovnkube-db-ha` as a library: the pure parts (environment parsing,
//! peers and node ids, `corosync.conf`, the CIB as typed Rust, `crm_mon` XML parsing, the
//! status view) and the small process helpers the binary's subcommands use.
//!
//! Pure modules do no I/O and are tested with data tables and golden files under `testdata/`.
//! The binary (`src/main.rs`, `src/cmd/`) does the I/O: files, child processes, signals.

pub mod cib;
pub mod corosync_conf;
pub mod crm_mon;
pub mod env_config;
pub mod peers;
pub mod status_view;
pub mod sync_state;

#[cfg(test)]
mod golden;
