//! xpart's integration tests: the built binary and the local two-partition test-bed.
//!
//! Where a new test goes:
//! - a helper more than one module needs (the test-bed, `xpart()`, `Run`, `Census`, the
//!   inventory, test PKI, a type's lifecycle): `harness/`, never another test module;
//! - a plan that `xpart lint` must refuse: a file in `tests/lint/` (a rule's own case) or
//!   `tests/lint/campaign/` (the bad-input campaign's), with its `# expect:` lines, no code;
//! - a fault only a run can see (file modes, endpoints, profiles, credential-process): a named
//!   test in `bad_input.rs`;
//! - one resource type called directly: `types_<family>.rs`, through the resource steps of `harness/resource.rs`;
//! - a command end to end: the module named for it (`engine`, `verify`, `doctor`, ...).

mod aws;
mod bad_input;
mod bootstrap;
mod campaign;
mod cli;
mod credential_process;
mod doctor;
mod engine;
mod engine_guard;
mod engine_scan;
mod harness;
mod layers;
mod lease;
mod lease_recovery;
mod lint;
mod pki;
mod revocation;
mod rotation;
mod safety;
mod security;
mod stateless;
mod testbed;
mod types_ec2;
mod types_iam_kms_secret;
mod types_rolesanywhere_pki;
mod verify;
