//! Client for ovsdb-server's unixctl control socket.
//!
//! ovsdb-server answers JSON-RPC requests on an AF_UNIX stream socket (for OVN, e.g.
//! `/var/run/ovn/ovnnb_db.ctl`). This crate speaks that protocol directly, without
//! `ovs-appctl`: [`wire`] encodes requests and decodes the undelimited stream of replies,
//! [`sync_status`] and [`commands`] turn reply texts into typed values, and [`client`] is the
//! thin, synchronous socket layer with bounded timeouts. Everything except [`client`] is pure
//! (`&str` or bytes in, typed value out).

pub mod client;
pub mod commands;
pub mod error;
pub mod sync_status;
pub mod wire;

pub use client::{Client, Pending};
pub use commands::{Command, check_result};
pub use error::{Error, ProtocolError, SyncStatusError};
pub use sync_status::{BackupStatus, DbSyncStatus, Link, Role, SyncStatus};
pub use wire::{Reply, ReplyDecoder, encode_request};
