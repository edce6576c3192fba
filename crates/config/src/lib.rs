//! The configuration model of OVN DB HA: typed, validated values for everything the rendered
//! manifests and the DB pod need, and the names of the environment variables that carry them
//! into the pod.
//!
//! This crate does no I/O at all: no files, no environment, no network, no clock. Callers read
//! flags or environment themselves and hand the raw strings in; validation returns *every*
//! problem at once, each naming the flag (or variable) and how to fix it.

pub mod cidr;
pub mod db_env;
pub mod defaults;
pub mod input;
pub mod names;
pub mod problem;
pub mod quantity;
pub mod upstream;
pub mod vip;

pub use cidr::{ClusterCidr, ServiceCidr};
pub use input::{Config, RenderInput, Validated};
pub use problem::{Field, Problem, Problems};
pub use upstream::{ControlPlane, UpstreamInput};
pub use vip::Vip;
