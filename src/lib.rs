//! xpart: cross-partition access between AWS commercial and AWS China from one plan.

// A command's future holds every resource type's read, each SDK call's future inside it:
// computing its layout goes deeper than the default 128 (clippy's lints first).
#![recursion_limit = "256"]

pub mod aws;
pub mod bootstrap;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod credential_process;
pub mod diag;
pub mod docdiff;

pub mod engine;
pub mod hex;
pub mod input;
pub mod keyfile;
pub mod lint;
pub mod lock;
pub mod partition;
pub mod pki;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod shell;
pub mod unknown;

pub mod view;
