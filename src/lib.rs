//! xpart: cross-partition access between AWS commercial and AWS China from one plan.

pub mod cli;
