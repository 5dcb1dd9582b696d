//! A certificate read back from disk, with the facts other resources reference of it.

use std::path::{Path, PathBuf};

use ::time::OffsetDateTime;
use x509_parser::prelude::*;

use super::disk::read_pem;
use super::encoding::{first_cert_der, hex, parse_cert, pem_encode};
use super::key::load_private_key;
use super::PkiError;

/// A certificate on disk and what other resources reference of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub cert_file: PathBuf,
    /// `None` only for a CA imported without its key: fine for a trust anchor, unable to issue.
    pub key_file: Option<PathBuf>,
    /// The certificate alone (the first of its file), PEM.
    pub cert_pem: String,
    /// Decimal.
    pub serial: String,
    pub not_after: OffsetDateTime,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint_sha256: String,
}

/// A certificate file (its first certificate) and, if given, the key that must belong to it.
pub fn read_material(cert_file: &Path, key_file: Option<&Path>) -> Result<Material, PkiError> {
    let bytes = read_pem(cert_file)?;
    let bad_cert = |reason| PkiError::Certificate {
        path: cert_file.to_path_buf(),
        reason,
    };
    let der = first_cert_der(&bytes).map_err(bad_cert)?;
    let cert = parse_cert(&der).map_err(bad_cert)?;
    if let Some(key_file) = key_file {
        let key = load_private_key(key_file)?;
        if key.public_key_raw() != &*cert.public_key().subject_public_key.data {
            return Err(PkiError::KeyMismatch {
                cert: cert_file.to_path_buf(),
                key: key_file.to_path_buf(),
            });
        }
    }
    Ok(Material {
        cert_file: cert_file.to_path_buf(),
        key_file: key_file.map(Path::to_path_buf),
        cert_pem: pem_encode(&der),
        serial: cert.serial.to_string(),
        not_after: cert.validity().not_after.to_datetime(),
        fingerprint_sha256: hex(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref()
        ),
    })
}

/// Parse a material's certificate and hand it to `f` (the parsed form borrows the DER).
pub(super) fn with_cert<T>(
    m: &Material,
    f: impl FnOnce(&X509Certificate<'_>) -> T,
) -> Result<T, PkiError> {
    let der = material_der(m)?;
    let cert = parse_cert(&der).map_err(|reason| PkiError::Certificate {
        path: m.cert_file.clone(),
        reason,
    })?;
    Ok(f(&cert))
}

fn material_der(m: &Material) -> Result<Vec<u8>, PkiError> {
    first_cert_der(m.cert_pem.as_bytes()).map_err(|reason| PkiError::Certificate {
        path: m.cert_file.clone(),
        reason,
    })
}
