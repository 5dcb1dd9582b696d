//! What can go wrong in the PKI, and the error mappings the other files share.

use std::io;
use std::path::{Path, PathBuf};

/// Every failure names the file it concerns; none carries key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a PEM X.509 certificate: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    // The wording avoids the PEM label so a message can never be mistaken for (or grepped as) a key.
    #[error(
        "{}: not an unencrypted private key in PEM form (PKCS#8, PKCS#1 RSA or SEC1 EC)",
        path.display()
    )]
    Key { path: PathBuf },
    #[error("{}: the private key does not belong to the certificate {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{}: not usable as a Roles Anywhere trust anchor: {}", path.display(), problems.join("; "))]
    InvalidCa {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error(
        "{}: the CA was imported without `key_file`, so it cannot issue certificates",
        path.display()
    )]
    NoCaKey { path: PathBuf },
    #[error("{}: cannot issue from this CA: {reason}", path.display())]
    Issuer { path: PathBuf, reason: String },
    /// The plan asks for something this module cannot make; `path` is the file it would write.
    #[error("{}: {message}", path.display())]
    Plan { path: PathBuf, message: String },
    #[error("{}: generating failed: {message}", path.display())]
    Generate { path: PathBuf, message: String },
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn generate_error(path: &Path) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError::Generate {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
