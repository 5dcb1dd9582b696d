//! xpart's integration tests: the built binary and the local two-partition test-bed.

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
mod layers;
mod lease;
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
mod util;
mod verify;
