//! xpart's integration tests: the built binary and the local two-partition test-bed.

mod cli;
mod lint;
mod testbed;
mod util;
