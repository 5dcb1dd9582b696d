//! `secretsmanager.*`: secrets.

pub mod issued;
pub mod secret;
