//! xpart's integration tests: the built binary and the local two-partition test-bed.

mod aws;
mod cli;
mod credential_process;
mod lint;
mod pki;
mod testbed;
mod util;
