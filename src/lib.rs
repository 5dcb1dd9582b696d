//! xpart: cross-partition access between AWS commercial and AWS China from one plan.

pub mod cli;
pub mod diag;
pub mod lint;
pub mod partition;
pub mod pki;
pub mod policy;
pub mod spec;
