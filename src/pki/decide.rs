//! Decisions: how the certificate and key on disk compare with what the plan wants, and so
//! whether a run keeps, renews or replaces them.

use std::io;
use std::path::Path;

use x509_parser::prelude::*;

use super::key::KeyKind;
use super::material::{read_material, with_cert};
use super::want::{name_attrs, show_attrs, subject_attrs, Want};
use super::{Decision, Material, PkiAction, PkiError};

enum OnDisk {
    Missing,
    Broken(String),
    Present(Material),
}

/// Read a certificate and its key, turning what a regeneration repairs into `Broken`; other
/// read errors (permissions, I/O) stay errors, since regenerating would not fix them.
fn inspect(cert_file: &Path, key_file: &Path) -> Result<OnDisk, PkiError> {
    match read_material(cert_file, Some(key_file)) {
        Ok(m) => Ok(OnDisk::Present(m)),
        Err(PkiError::Io { path, source }) if source.kind() == io::ErrorKind::NotFound => {
            if path == cert_file {
                Ok(OnDisk::Missing)
            } else {
                Ok(OnDisk::Broken("the key file is missing".into()))
            }
        }
        Err(PkiError::Certificate { reason, .. }) => Ok(OnDisk::Broken(format!(
            "the certificate file is unreadable: {reason}"
        ))),
        Err(PkiError::Key { .. }) => Ok(OnDisk::Broken(
            "the key file does not hold a usable private key".into(),
        )),
        Err(PkiError::KeyMismatch { .. }) => Ok(OnDisk::Broken(
            "the key file does not belong to the certificate".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Why the certificate no longer matches the plan (subject, key algorithm and size), if it does not.
fn mismatch(cert: &X509Certificate, want: &Want) -> Option<String> {
    let have = name_attrs(cert.subject());
    let wanted = subject_attrs(&want.subject);
    if have != wanted {
        return Some(format!(
            "the subject is `{}`, the plan asks for `{}`",
            show_attrs(&have),
            show_attrs(&wanted)
        ));
    }
    match KeyKind::of_cert(cert) {
        Some(k) if k == want.key => None,
        Some(k) => Some(format!("the key is {k}, the plan asks for {}", want.key)),
        None => Some(format!(
            "the key is of a kind xpart does not make, the plan asks for {}",
            want.key
        )),
    }
}

/// The checks a CA and a client certificate share: on disk, readable, and as the plan asks.
/// `Err` carries the plan when one of them already decides it.
pub(super) fn existing(want: &Want) -> Result<Result<Material, Decision>, PkiError> {
    let material = match inspect(&want.cert_file, &want.key_file)? {
        OnDisk::Missing => return Ok(Err(Decision::change(PkiAction::Create))),
        OnDisk::Broken(reason) => return Ok(Err(Decision::change(PkiAction::Replace { reason }))),
        OnDisk::Present(m) => m,
    };
    if let Some(reason) = with_cert(&material, |c| mismatch(c, want))? {
        return Ok(Err(Decision::change(PkiAction::Replace { reason })));
    }
    Ok(Ok(material))
}
