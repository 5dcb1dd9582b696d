//! Client certificates: issuing one from a CA, and telling whether a CA issued a certificate.

use crate::pki::encoding::day;
use crate::pki::material::with_cert;
use crate::pki::want::Want;
use ::time::Duration;
use std::path::Path;

use ::time::OffsetDateTime;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rcgen::string::{BmpString, UniversalString};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, Issuer, KeyIdMethod, KeyUsagePurpose,
};
use x509_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519,
};
use x509_parser::prelude::*;

use super::decide::existing;
use super::disk::write_pair;
use super::encoding::{first_cert_der, parse_cert};
use super::error::generate_error;
use super::key::{ec_curve, load_private_key};
use super::material::read_material;
use super::want::want_cert;
use super::{Decision, Material, PkiAction, PkiError};
use crate::plan::types::{Curve, PkiCert};

/// What `ensure_cert` would do, writing nothing. `ca` is the CA `ensure_ca` would keep
/// (`Decision::kept`); `None` when the CA is to be created or replaced, which re-issues the cert.
pub fn plan_cert(
    dir: &Path,
    id: &str,
    cert: &PkiCert,
    ca: Option<&Material>,
) -> Result<Decision, PkiError> {
    decide_cert(&want_cert(dir, id, cert)?, ca, renewal_clock())
}

/// The time renewal is judged at: now, or for tests, now plus `XPART_TEST_CLOCK_DAYS` days
/// (moves a certificate into its renewal window without waiting for it; certificates are
/// always issued at the real time).
pub fn renewal_clock() -> OffsetDateTime {
    let days = std::env::var("XPART_TEST_CLOCK_DAYS")
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(-36_500, 36_500);
    OffsetDateTime::now_utc() + Duration::days(days)
}

/// The client certificate as the plan wants it, issued by `ca`: reused while valid, outside the
/// renewal window, matching the plan and issued by this very CA; else a new key and certificate.
pub fn ensure_cert(
    dir: &Path,
    id: &str,
    cert: &PkiCert,
    ca: &Material,
) -> Result<(Material, PkiAction), PkiError> {
    let now = OffsetDateTime::now_utc();
    let want = want_cert(dir, id, cert)?;
    let plan = decide_cert(&want, Some(ca), renewal_clock())?;
    if let Some(kept) = plan.kept {
        return Ok((kept, plan.action));
    }
    let ca_key_file = ca.key_file.as_deref().ok_or_else(|| PkiError::NoCaKey {
        path: ca.cert_file.clone(),
    })?;
    let ca_key = load_private_key(ca_key_file)?;
    let ca_der =
        first_cert_der(ca.cert_pem.as_bytes()).map_err(|reason| PkiError::Certificate {
            path: ca.cert_file.clone(),
            reason,
        })?;
    let ca_cert = parse_cert(&ca_der).map_err(|reason| PkiError::Certificate {
        path: ca.cert_file.clone(),
        reason,
    })?;
    if ca_key.public_key_raw() != &*ca_cert.public_key().subject_public_key.data {
        return Err(PkiError::KeyMismatch {
            cert: ca.cert_file.clone(),
            key: ca_key_file.to_path_buf(),
        });
    }
    let issuer = issuer_for(&ca_cert, ca_key).map_err(|reason| PkiError::Issuer {
        path: ca.cert_file.clone(),
        reason,
    })?;
    let key = want
        .key
        .generate()
        .map_err(generate_error(&want.key_file))?;
    let params = want.params(now, false)?;
    let issued = params
        .signed_by(&key, &issuer)
        .map_err(generate_error(&want.cert_file))?;
    // rcgen rebuilds the issuer name from parsed attributes; a name it re-encodes differently
    // would give a certificate that chains nowhere, so check before writing anything.
    let chains = parse_cert(issued.der()).is_ok_and(|c| issued_by(&c, &ca_cert));
    if !chains {
        return Err(PkiError::Issuer {
            path: ca.cert_file.clone(),
            reason: "its subject name cannot be reproduced exactly in an issued certificate".into(),
        });
    }
    write_pair(
        &want.dir,
        (&want.cert_file, &want.key_file),
        &key,
        issued.der(),
    )?;
    Ok((
        read_material(&want.cert_file, Some(&want.key_file))?,
        plan.action,
    ))
}

/// An rcgen issuer standing for a CA certificate that exists only as DER: its exact subject
/// (string types kept) and its subject key identifier, so issued certificates chain to it.
pub(super) fn issuer_for<S: rcgen::SigningKey>(
    ca: &X509Certificate,
    key: S,
) -> Result<Issuer<'static, S>, String> {
    let mut dn = DistinguishedName::new();
    let mut seen = vec![];
    for rdn in ca.subject().iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err("its subject has a multi-valued name component".into());
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or("its subject has an attribute type too large to encode")?
            .collect();
        let ty = DnType::from_oid(&oid);
        if seen.contains(&ty) {
            return Err(format!(
                "its subject repeats the attribute {}",
                attr.attr_type().to_id_string()
            ));
        }
        seen.push(ty.clone());
        let value = attr.attr_value();
        let data = value.as_bytes();
        let text = || {
            std::str::from_utf8(data).map_err(|_| "its subject has a malformed string".to_string())
        };
        let unsupported = |_| "its subject has a string rcgen cannot encode".to_string();
        let value = match value.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
            Tag::PrintableString => {
                DnValue::PrintableString(text()?.try_into().map_err(unsupported)?)
            }
            Tag::Ia5String => DnValue::Ia5String(text()?.try_into().map_err(unsupported)?),
            Tag::T61String => DnValue::TeletexString(text()?.try_into().map_err(unsupported)?),
            Tag::BmpString => {
                DnValue::BmpString(BmpString::from_utf16be(data.to_vec()).map_err(unsupported)?)
            }
            Tag::UniversalString => DnValue::UniversalString(
                UniversalString::from_utf32be(data.to_vec()).map_err(unsupported)?,
            ),
            t => return Err(format!("its subject has a value of ASN.1 type {t}")),
        };
        dn.push(ty, value);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.key_identifier_method = ca
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => {
                Some(KeyIdMethod::PreSpecified(ski.0.to_vec()))
            }
            _ => None,
        })
        .unwrap_or(KeyIdMethod::Sha256);
    // What the issuer signs: certificates, and (rcgen checks it) revocation lists.
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(Issuer::new(params, key))
}

/// Whether `ca` issued `cert`: its name is the cert's issuer and its key made the signature.
pub(super) fn issued_by(cert: &X509Certificate, ca: &X509Certificate) -> bool {
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return false;
    }
    verifies(
        ca,
        &cert.signature_algorithm.algorithm,
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
}

/// Whether `signature` (made with algorithm `sig`) over `signed` verifies with `ca`'s key.
pub(super) fn verifies(
    ca: &X509Certificate,
    sig: &x509_parser::der_parser::oid::Oid,
    signed: &[u8],
    signature: &[u8],
) -> bool {
    let spki = ca.public_key();
    let curve = ec_curve(spki);
    let alg: &'static dyn VerificationAlgorithm = if *sig == OID_PKCS1_SHA256WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA256
    } else if *sig == OID_PKCS1_SHA384WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA384
    } else if *sig == OID_PKCS1_SHA512WITHRSA {
        &signature::RSA_PKCS1_2048_8192_SHA512
    } else if *sig == OID_SIG_ECDSA_WITH_SHA256 && curve == Some(Curve::P256) {
        &signature::ECDSA_P256_SHA256_ASN1
    } else if *sig == OID_SIG_ECDSA_WITH_SHA256 && curve == Some(Curve::P384) {
        &signature::ECDSA_P384_SHA256_ASN1
    } else if *sig == OID_SIG_ECDSA_WITH_SHA384 && curve == Some(Curve::P256) {
        &signature::ECDSA_P256_SHA384_ASN1
    } else if *sig == OID_SIG_ECDSA_WITH_SHA384 && curve == Some(Curve::P384) {
        &signature::ECDSA_P384_SHA384_ASN1
    } else if *sig == OID_SIG_ED25519 {
        &signature::ED25519
    } else {
        return false;
    };
    UnparsedPublicKey::new(alg, &*spki.subject_public_key.data)
        .verify(signed, signature)
        .is_ok()
}

pub(super) fn decide_cert(
    want: &Want,
    ca: Option<&Material>,
    now: OffsetDateTime,
) -> Result<Decision, PkiError> {
    let material = match existing(want)? {
        Ok(m) => m,
        Err(plan) => return Ok(plan),
    };
    let Some(ca) = ca else {
        return Ok(Decision::change(PkiAction::Renew {
            reason: "its CA is to be created or replaced".into(),
        }));
    };
    if !with_cert(&material, |cert| {
        with_cert(ca, |ca_cert| issued_by(cert, ca_cert))
    })?? {
        return Ok(Decision::change(PkiAction::Renew {
            reason: format!("not issued by the current CA {}", ca.cert_file.display()),
        }));
    }
    if material.not_after <= now {
        return Ok(Decision::change(PkiAction::Renew {
            reason: format!("expired on {}", day(material.not_after)),
        }));
    }
    if material.not_after - now < Duration::days(want.renew_before_days.into()) {
        return Ok(Decision::change(PkiAction::Renew {
            reason: format!(
                "expires on {}, fewer than {} days from now",
                day(material.not_after),
                want.renew_before_days
            ),
        }));
    }
    Ok(Decision::keep(material))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use ::time::Duration;

    use super::*;
    use crate::pki::ensure_ca;
    use crate::pki::fixtures::{ca, cert, tempdir};

    #[test]
    fn cert_is_created_then_unchanged() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let plan = plan_cert(&dir, "client", &cert("client"), Some(&root)).unwrap();
        assert_eq!(plan.action, PkiAction::Create);
        assert!(!dir.join("client.crt").exists());

        let (made, action) = ensure_cert(&dir, "client", &cert("client"), &root).unwrap();
        assert_eq!(action, PkiAction::Create);
        let plan = plan_cert(&dir, "client", &cert("client"), Some(&root)).unwrap();
        assert_eq!(plan.action, PkiAction::Unchanged);
        assert_eq!(plan.kept, Some(made));
    }

    #[test]
    fn cert_inside_the_renewal_window_is_renewed() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let mut short = cert("client");
        short.validity_days = Some(10);
        let (first, _) = ensure_cert(&dir, "client", &short, &root).unwrap();
        let first_key = fs::read(first.key_file.as_ref().unwrap()).unwrap();

        // 10 days left: inside the default 30-day window, outside a 5-day one.
        let plan = plan_cert(&dir, "client", &short, Some(&root)).unwrap();
        assert!(
            matches!(&plan.action, PkiAction::Renew { reason } if reason.contains("fewer than 30 days")),
            "{plan:?}"
        );
        short.renew_before_days = Some(5);
        let plan = plan_cert(&dir, "client", &short, Some(&root)).unwrap();
        assert_eq!(plan.action, PkiAction::Unchanged);

        let want = want_cert(&dir, "client", &short).unwrap();
        let later = OffsetDateTime::now_utc() + Duration::days(11);
        let plan = decide_cert(&want, Some(&root), later).unwrap();
        assert!(
            matches!(&plan.action, PkiAction::Renew { reason } if reason.starts_with("expired on")),
            "{plan:?}"
        );

        short.renew_before_days = None;
        let (renewed, action) = ensure_cert(&dir, "client", &short, &root).unwrap();
        assert!(matches!(action, PkiAction::Renew { .. }));
        assert_ne!(renewed.fingerprint_sha256, first.fingerprint_sha256);
        assert_ne!(renewed.serial, first.serial);
        // Renewal is a new key too.
        assert_ne!(
            fs::read(renewed.key_file.as_ref().unwrap()).unwrap(),
            first_key
        );
    }

    #[test]
    fn cert_is_replaced_when_its_subject_changes() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        ensure_cert(&dir, "client", &cert("client"), &root).unwrap();
        let mut changed = cert("client");
        changed.subject.organizational_unit = Some("workloads".into());
        let plan = plan_cert(&dir, "client", &changed, Some(&root)).unwrap();
        assert_eq!(
            plan.action,
            PkiAction::Replace {
                reason: "the subject is `C=CN, O=xpart, CN=client`, the plan asks for \
                         `C=CN, O=xpart, OU=workloads, CN=client`"
                    .into()
            }
        );
    }

    #[test]
    fn cert_is_renewed_when_its_ca_changes() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let (client, _) = ensure_cert(&dir, "client", &cert("client"), &root).unwrap();

        let plan = plan_cert(&dir, "client", &cert("client"), None).unwrap();
        assert!(matches!(plan.action, PkiAction::Renew { .. }), "{plan:?}");

        // Same subject, new key: only the signature tells the CAs apart.
        fs::remove_file(root.key_file.as_ref().unwrap()).unwrap();
        let (new_root, action) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        assert!(matches!(action, PkiAction::Replace { .. }));
        let plan = plan_cert(&dir, "client", &cert("client"), Some(&new_root)).unwrap();
        assert!(
            matches!(&plan.action, PkiAction::Renew { reason } if reason.starts_with("not issued by the current CA")),
            "{plan:?}"
        );

        let (renewed, action) = ensure_cert(&dir, "client", &cert("client"), &new_root).unwrap();
        assert!(matches!(action, PkiAction::Renew { .. }));
        assert_ne!(renewed.fingerprint_sha256, client.fingerprint_sha256);
        assert_eq!(
            plan_cert(&dir, "client", &cert("client"), Some(&new_root))
                .unwrap()
                .action,
            PkiAction::Unchanged
        );
    }

    #[test]
    fn serials_are_random_positive_decimals() {
        let dir = tempdir();
        let (root, _) = ensure_ca(&dir, "root", &ca("root"), &dir).unwrap();
        let (a, _) = ensure_cert(&dir, "a", &cert("a"), &root).unwrap();
        let (b, _) = ensure_cert(&dir, "b", &cert("b"), &root).unwrap();
        for m in [&root, &a, &b] {
            assert!(m.serial.bytes().all(|c| c.is_ascii_digit()), "{}", m.serial);
            // 0x40.. to 0x7f.. in 16 bytes: at least 2^126.
            assert!(m.serial.len() >= 38, "{}", m.serial);
            assert_eq!(m.fingerprint_sha256.len(), 64);
        }
        assert_ne!(a.serial, b.serial);
    }
}
