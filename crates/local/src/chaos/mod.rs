//! Chaos: seeded random fault schedules against a local cluster of its own, with a recorder of
//! everything every side saw and a checker over that history (`cargo xtask chaos`).
//!
//! The rule is *pure schedule and checker, thin runner*: [`schedule`] turns a seed into faults
//! and [`check`] judges a [`history`] without any I/O, each table-tested; [`run`] only brings
//! the cluster up, applies the faults, records, and tears down.

pub mod check;
pub mod history;
pub mod run;
pub mod schedule;
