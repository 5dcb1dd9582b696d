//! `secretsmanager.*`: secrets.

pub mod secret;
