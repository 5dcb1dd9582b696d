//! Local PKI for `pki.ca` and `pki.cert`: root CAs and client certificates as files, and the checks AWS applies to a CA.
//!
//! Keys are the expensive part to lose (a workload's key may already sit in a secret), so a run
//! keeps every certificate and key that is still valid and still matches the plan, and a
//! planning pass (`plan_ca`, `plan_cert`) tells what `ensure_*` would do without writing.
//!
//! One file per job: `ca` and `cert` (what a run does to each), `want` (what the plan asks
//! for), `decide` (how the files on disk compare with it), `key`, `material` (a certificate
//! read back), `disk` (writing and reading files), `encoding`, `error`.

mod ca;
mod cert;
pub mod crl;
mod decide;
mod disk;
mod encoding;
mod error;
#[cfg(test)]
mod fixtures;
mod key;
mod material;
pub mod remote;
mod want;

use std::fmt;

pub use ca::{ca_problems, ensure_ca, plan_ca};
pub use cert::{ensure_cert, plan_cert, renewal_clock};
pub use disk::{files, read_pem, write_private};
pub use error::PkiError;
pub use key::load_private_key;
pub use material::{read_material, Material};

pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;
pub const DEFAULT_CERT_VALIDITY_DAYS: u32 = 365;
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;
/// The longest validity issued: far beyond any use, and far inside X.509's dates (year 9999).
pub const MAX_VALIDITY_DAYS: u32 = 36500;

/// What `ensure_ca` / `ensure_cert` does (or would do) to a certificate and its key.
/// Renew and Replace both mean a new key and a new certificate; they differ in why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiAction {
    Create,
    Unchanged,
    /// Time ran out (expired, inside the renewal window) or the issuing CA changed.
    Renew {
        reason: String,
    },
    /// The files no longer match the plan, or are broken.
    Replace {
        reason: String,
    },
}

impl fmt::Display for PkiAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiAction::Create => f.write_str("create"),
            PkiAction::Unchanged => f.write_str("unchanged"),
            PkiAction::Renew { reason } => write!(f, "renew: {reason}"),
            PkiAction::Replace { reason } => write!(f, "replace: {reason}"),
        }
    }
}

/// The outcome of a planning pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: PkiAction,
    /// The material `ensure_*` would keep: `Some` exactly when the action is `Unchanged`.
    /// Pass a CA's `kept` to `plan_cert`: `None` there means the CA is about to change.
    pub kept: Option<Material>,
}

impl Decision {
    /// Keep the files: they fit the plan.
    fn keep(material: Material) -> Decision {
        Decision {
            action: PkiAction::Unchanged,
            kept: Some(material),
        }
    }
    fn change(action: PkiAction) -> Decision {
        Decision { action, kept: None }
    }
}
