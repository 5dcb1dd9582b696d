//! `kms.*`: keys (`key`) and their key policies (`policy`).

pub mod key;
pub mod policy;
