//! The cluster information base (CIB) this project wants, as typed Rust serialised to XML:
//! [`model`] has the element types, [`desired`] builds our configuration from the pod's
//! settings, [`compare`] decides whether a live section already matches, [`xml`] writes XML.

pub mod compare;
pub mod desired;
pub mod model;
pub mod xml;

pub use desired::{DesiredCib, PacemakerTimings, desired_cib};
pub use model::Cib;
