//! `kms.*`: keys.

pub mod key;
