//! Root CAs: generated and kept on disk, or imported from the user's files and only checked,
//! and the checks Roles Anywhere applies to a trust anchor.

use crate::pki::want::Want;
use std::io;
use std::path::Path;

use ::time::OffsetDateTime;
use x509_parser::prelude::*;

use super::decide::existing;
use super::disk::write_pair;
use super::encoding::day;
use super::error::{generate_error, io_error};
use super::material::read_material;
use super::want::want_ca;
use super::{Decision, Material, PkiAction, PkiError};
use crate::plan::types::{Import, PkiCa};

/// What `ensure_ca` would do, writing nothing. An imported CA is checked here too.
pub fn plan_ca(dir: &Path, id: &str, ca: &PkiCa, base: &Path) -> Result<Decision, PkiError> {
    if let Some(import) = &ca.import {
        let material = import_ca(import, base, OffsetDateTime::now_utc())?;
        return Ok(Decision::keep(material));
    }
    decide_ca(&want_ca(dir, id, ca)?, OffsetDateTime::now_utc())
}

/// The CA as the plan wants it: reused when current, else (re)generated; an imported CA is only
/// checked, never copied or written.
pub fn ensure_ca(
    dir: &Path,
    id: &str,
    ca: &PkiCa,
    base: &Path,
) -> Result<(Material, PkiAction), PkiError> {
    let now = OffsetDateTime::now_utc();
    if let Some(import) = &ca.import {
        return Ok((import_ca(import, base, now)?, PkiAction::Unchanged));
    }
    let want = want_ca(dir, id, ca)?;
    let plan = decide_ca(&want, now)?;
    if let Some(kept) = plan.kept {
        return Ok((kept, plan.action));
    }
    let key = want
        .key
        .generate()
        .map_err(generate_error(&want.key_file))?;
    let params = want.params(now, true)?;
    let cert = params
        .self_signed(&key)
        .map_err(generate_error(&want.cert_file))?;
    write_pair(
        &want.dir,
        (&want.cert_file, &want.key_file),
        &key,
        cert.der(),
    )?;
    Ok((
        read_material(&want.cert_file, Some(&want.key_file))?,
        plan.action,
    ))
}

/// What Roles Anywhere would refuse in this PEM bundle's first certificate (empty when fine).
pub fn ca_problems(pem: &[u8]) -> Result<Vec<String>, String> {
    let (_, block) = parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    let cert = block
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut problems = vec![];
    if cert.version() != X509Version::V3 {
        problems.push("Incorrect basic constraints for CA certificate (not X.509 v3)".to_string());
    }
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => {
            problems.push("Incorrect basic constraints for CA certificate (no CA:TRUE)".to_string())
        }
        Err(e) => problems.push(format!("unreadable basicConstraints: {e}")),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => {}
        Ok(_) => problems.push("the CA's keyUsage lacks keyCertSign".to_string()),
        Err(e) => problems.push(format!("unreadable keyUsage: {e}")),
    }
    Ok(problems)
}

fn import_ca(import: &Import, base: &Path, now: OffsetDateTime) -> Result<Material, PkiError> {
    let cert_file = base.join(&import.certificate_file);
    let material = read_material(&cert_file, None)?;
    let mut problems =
        ca_problems(material.cert_pem.as_bytes()).map_err(|reason| PkiError::Certificate {
            path: cert_file.clone(),
            reason,
        })?;
    if material.not_after <= now {
        problems.push(format!(
            "the certificate expired on {}",
            day(material.not_after)
        ));
    }
    if !problems.is_empty() {
        return Err(PkiError::InvalidCa {
            path: cert_file,
            problems,
        });
    }
    match &import.key_file {
        Some(key_file) => {
            let key_file = base.join(key_file);
            private_to_owner(&key_file)?;
            read_material(&cert_file, Some(&key_file))
        }
        None => Ok(material),
    }
}

/// Refuse a CA key other users can read or write: whoever reads it can issue certificates
/// every trust anchor of this CA accepts. Group access is allowed (a key shared with a group
/// of operators); the key must not be open to every user.
fn private_to_owner(key_file: &Path) -> Result<(), PkiError> {
    if let Some((uid, mode)) = crate::keyfile::exposed(key_file).map_err(io_error(key_file))? {
        let mode = mode & 0o7777;
        return Err(PkiError::Io {
            path: key_file.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the CA's private key is open to every user (owner {}, mode {mode:04o}):                      anyone who reads it can issue certificates the trust anchor accepts;                      `chmod 600` it (or 640 for a group)",
                    crate::keyfile::user_name(uid)
                ),
            ),
        });
    }
    Ok(())
}

pub(super) fn decide_ca(want: &Want, now: OffsetDateTime) -> Result<Decision, PkiError> {
    let material = match existing(want)? {
        Ok(m) => m,
        Err(plan) => return Ok(plan),
    };
    let problems = ca_problems(material.cert_pem.as_bytes()).unwrap_or_else(|e| vec![e]);
    if !problems.is_empty() {
        return Ok(Decision::change(PkiAction::Replace {
            reason: format!("not a usable CA: {}", problems.join("; ")),
        }));
    }
    if material.not_after <= now {
        return Ok(Decision::change(PkiAction::Renew {
            reason: format!("expired on {}", day(material.not_after)),
        }));
    }
    Ok(Decision::keep(material))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use ::time::Duration;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

    use super::*;
    use crate::pki::ensure_cert;
    use crate::pki::fixtures::{ca, cert, ecdsa, reason, tempdir};
    use crate::plan::types::Curve;

    #[test]
    fn ca_is_created_when_missing_and_planning_writes_nothing() {
        let dir = tempdir();
        let plan = plan_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(plan.action, PkiAction::Create);
        assert_eq!(plan.kept, None);
        assert!(!dir.exists(), "planning created {}", dir.display());
    }

    #[test]
    fn ca_is_unchanged_when_current() {
        let dir = tempdir();
        let (made, action) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(action, PkiAction::Create);
        let plan = plan_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(plan.action, PkiAction::Unchanged);
        assert_eq!(plan.kept.as_ref(), Some(&made));
        let (again, action) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(action, PkiAction::Unchanged);
        assert_eq!(again, made);
    }

    #[test]
    fn ca_is_replaced_when_subject_or_key_changes() {
        let dir = tempdir();
        ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();

        let plan = plan_ca(&dir, "root", &ca("other root"), &dir).unwrap();
        assert!(matches!(plan.action, PkiAction::Replace { .. }), "{plan:?}");
        assert!(reason(&plan.action).contains("CN=other root"), "{plan:?}");

        let mut p384 = ca("root");
        p384.key = ecdsa(Curve::P384);
        let plan = plan_ca(&dir, "root", &p384, &dir).unwrap();
        assert_eq!(
            plan.action,
            PkiAction::Replace {
                reason: "the key is ECDSA P-256, the plan asks for ECDSA P-384".into()
            }
        );

        let (_, action) = ensure_ca(&dir, "root", &p384, &dir).unwrap();
        assert!(matches!(action, PkiAction::Replace { .. }));
        assert_eq!(
            plan_ca(&dir, "root", &p384, &dir).unwrap().action,
            PkiAction::Unchanged
        );
    }

    #[test]
    fn ca_is_renewed_once_expired_but_not_before() {
        let dir = tempdir();
        let mut spec = ca("root");
        spec.validity_days = Some(2);
        ensure_ca(&dir, "root", &spec, &dir).unwrap();
        let want = want_ca(&dir, "root", &spec).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(decide_ca(&want, now).unwrap().action, PkiAction::Unchanged);
        let later = decide_ca(&want, now + Duration::days(3)).unwrap();
        assert!(
            matches!(&later.action, PkiAction::Renew { reason } if reason.starts_with("expired on")),
            "{later:?}"
        );
    }

    #[test]
    fn ca_with_a_missing_or_foreign_key_is_replaced() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let (other, _) = ensure_ca(&dir, "other", &ca("root"), &dir).unwrap();
        let key = root.key_file.clone().unwrap();

        fs::copy(other.key_file.as_ref().unwrap(), &key).unwrap();
        let plan = plan_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(
            plan.action,
            PkiAction::Replace {
                reason: "the key file does not belong to the certificate".into()
            }
        );

        fs::remove_file(&key).unwrap();
        let plan = plan_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(
            plan.action,
            PkiAction::Replace {
                reason: "the key file is missing".into()
            }
        );
    }

    #[test]
    fn ca_problems_accepts_a_generated_ca() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert_eq!(ca_problems(root.cert_pem.as_bytes()), Ok(vec![]));
    }

    #[test]
    fn ca_problems_reports_what_aws_refuses() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let (client, _) = ensure_cert(&dir, "client", &cert("client"), &root).unwrap();
        let problems = ca_problems(client.cert_pem.as_bytes()).unwrap();
        assert_eq!(
            problems,
            vec![
                "Incorrect basic constraints for CA certificate (no CA:TRUE)".to_string(),
                "the CA's keyUsage lacks keyCertSign".to_string()
            ]
        );

        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let no_sign = params.self_signed(&key).unwrap().pem();
        assert_eq!(
            ca_problems(no_sign.as_bytes()).unwrap(),
            vec!["the CA's keyUsage lacks keyCertSign".to_string()]
        );

        assert!(ca_problems(b"not a certificate").is_err());
    }
}
