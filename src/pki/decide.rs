//! Decisions: how the certificate and key on disk compare with what the plan wants, and so
//! whether a run keeps, renews or replaces them.

use std::io;
use std::path::Path;

use ::time::{Duration, OffsetDateTime};
use x509_parser::prelude::*;

use super::ca::ca_problems;
use super::cert::issued_by;
use super::encoding::day;
use super::key::KeyKind;
use super::material::{read_material, with_cert};
use super::want::{name_attrs, show_attrs, subject_attrs, Want};
use super::{Material, PkiAction, PkiError, Plan};

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
fn existing(want: &Want) -> Result<Result<Material, Plan>, PkiError> {
    let material = match inspect(&want.cert_file, &want.key_file)? {
        OnDisk::Missing => return Ok(Err(Plan::change(PkiAction::Create))),
        OnDisk::Broken(reason) => return Ok(Err(Plan::change(PkiAction::Replace { reason }))),
        OnDisk::Present(m) => m,
    };
    if let Some(reason) = with_cert(&material, |c| mismatch(c, want))? {
        return Ok(Err(Plan::change(PkiAction::Replace { reason })));
    }
    Ok(Ok(material))
}

pub(super) fn decide_ca(want: &Want, now: OffsetDateTime) -> Result<Plan, PkiError> {
    let material = match existing(want)? {
        Ok(m) => m,
        Err(plan) => return Ok(plan),
    };
    let problems = ca_problems(material.cert_pem.as_bytes()).unwrap_or_else(|e| vec![e]);
    if !problems.is_empty() {
        return Ok(Plan::change(PkiAction::Replace {
            reason: format!("not a usable CA: {}", problems.join("; ")),
        }));
    }
    if material.not_after <= now {
        return Ok(Plan::change(PkiAction::Renew {
            reason: format!("expired on {}", day(material.not_after)),
        }));
    }
    Ok(Plan {
        action: PkiAction::Unchanged,
        kept: Some(material),
    })
}

pub(super) fn decide_cert(
    want: &Want,
    ca: Option<&Material>,
    now: OffsetDateTime,
) -> Result<Plan, PkiError> {
    let material = match existing(want)? {
        Ok(m) => m,
        Err(plan) => return Ok(plan),
    };
    let Some(ca) = ca else {
        return Ok(Plan::change(PkiAction::Renew {
            reason: "its CA is to be created or replaced".into(),
        }));
    };
    if !with_cert(&material, |cert| {
        with_cert(ca, |ca_cert| issued_by(cert, ca_cert))
    })?? {
        return Ok(Plan::change(PkiAction::Renew {
            reason: format!("not issued by the current CA {}", ca.cert_file.display()),
        }));
    }
    if material.not_after <= now {
        return Ok(Plan::change(PkiAction::Renew {
            reason: format!("expired on {}", day(material.not_after)),
        }));
    }
    if material.not_after - now < Duration::days(want.renew_before_days.into()) {
        return Ok(Plan::change(PkiAction::Renew {
            reason: format!(
                "expires on {}, fewer than {} days from now",
                day(material.not_after),
                want.renew_before_days
            ),
        }));
    }
    Ok(Plan {
        action: PkiAction::Unchanged,
        kept: Some(material),
    })
}
