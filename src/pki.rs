//! Local PKI for `pki.ca` and `pki.cert`: root CAs and client certificates as files, and the checks AWS applies to a CA.
//!
//! Keys are the expensive part to lose (a workload's key may already sit in a secret), so a run
//! keeps every certificate and key that is still valid and still matches the plan, and a
//! planning pass (`plan_ca`, `plan_cert`) tells what `ensure_*` would do without writing.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ::time::{Duration, OffsetDateTime};
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use rcgen::string::{BmpString, UniversalString};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RsaKeySize,
    SerialNumber,
};
use x509_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_ORGANIZATIONAL_UNIT, OID_X509_ORGANIZATION_NAME,
};
use x509_parser::prelude::*;

use crate::spec::types::{Curve, Import, KeyAlgorithm, KeySpec, PkiCa, PkiCert, Subject};

pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;
pub const DEFAULT_CERT_VALIDITY_DAYS: u32 = 365;
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;
/// The longest validity issued: far beyond any use, and far inside X.509's dates (year 9999).
pub const MAX_VALIDITY_DAYS: u32 = 36500;

/// Certificates start an hour in the past so a verifier whose clock lags ours still accepts them.
const BACKDATE: Duration = Duration::hours(1);

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
    Spec { path: PathBuf, message: String },
    #[error("{}: generating failed: {message}", path.display())]
    Generate { path: PathBuf, message: String },
}

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

impl PkiAction {
    pub fn is_change(&self) -> bool {
        !matches!(self, PkiAction::Unchanged)
    }
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

/// The outcome of a planning pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: PkiAction,
    /// The material `ensure_*` would keep: `Some` exactly when the action is `Unchanged`.
    /// Pass a CA's `kept` to `plan_cert`: `None` there means the CA is about to change.
    pub kept: Option<Material>,
}

impl Plan {
    fn change(action: PkiAction) -> Plan {
        Plan { action, kept: None }
    }
}

/// `<dir>/<id>.crt` and `<dir>/<id>.key`.
pub fn files(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{id}.crt")), dir.join(format!("{id}.key")))
}

/// What `ensure_ca` would do, writing nothing. An imported CA is checked here too.
pub fn plan_ca(dir: &Path, id: &str, ca: &PkiCa, base: &Path) -> Result<Plan, PkiError> {
    if let Some(import) = &ca.import {
        let material = import_ca(import, base, OffsetDateTime::now_utc())?;
        return Ok(Plan {
            action: PkiAction::Unchanged,
            kept: Some(material),
        });
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
    write_pair(&want, &key, cert.der())?;
    Ok((
        read_material(&want.cert_file, Some(&want.key_file))?,
        plan.action,
    ))
}

/// What `ensure_cert` would do, writing nothing. `ca` is the CA `ensure_ca` would keep
/// (`Plan::kept`); `None` when the CA is to be created or replaced, which re-issues the cert.
pub fn plan_cert(
    dir: &Path,
    id: &str,
    cert: &PkiCert,
    ca: Option<&Material>,
) -> Result<Plan, PkiError> {
    decide_cert(&want_cert(dir, id, cert)?, ca, OffsetDateTime::now_utc())
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
    let plan = decide_cert(&want, Some(ca), now)?;
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
    write_pair(&want, &key, issued.der())?;
    Ok((
        read_material(&want.cert_file, Some(&want.key_file))?,
        plan.action,
    ))
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

/// A private key for signing: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`) PEM, unencrypted. RSA keys sign with SHA-256, P-256 with SHA-256, P-384
/// with SHA-384 (rcgen's pairing).
pub fn load_private_key(path: &Path) -> Result<KeyPair, PkiError> {
    let bytes = read_pem(path)?;
    let bad = || PkiError::Key {
        path: path.to_path_buf(),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    KeyPair::from_pem(text).map_err(|_| bad())
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

// ---- what the plan wants ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa(u32),
    Ecdsa(Curve),
}

impl KeyKind {
    fn from_spec(spec: Option<&KeySpec>) -> Result<KeyKind, String> {
        let Some(spec) = spec else {
            return Ok(KeyKind::Rsa(2048));
        };
        match spec.algorithm {
            KeyAlgorithm::Rsa if spec.curve.is_some() => {
                Err("RSA keys take `bits`, not `curve`".into())
            }
            KeyAlgorithm::Rsa => match spec.bits.unwrap_or(2048) {
                bits @ (2048 | 3072 | 4096) => Ok(KeyKind::Rsa(bits)),
                bits => Err(format!(
                    "RSA keys of {bits} bits are not supported (2048, 3072 or 4096)"
                )),
            },
            KeyAlgorithm::Ecdsa if spec.bits.is_some() => {
                Err("ECDSA keys take `curve`, not `bits`".into())
            }
            KeyAlgorithm::Ecdsa => Ok(KeyKind::Ecdsa(spec.curve.unwrap_or(Curve::P256))),
        }
    }

    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        match self {
            KeyKind::Rsa(bits) => {
                let size = match bits {
                    3072 => RsaKeySize::_3072,
                    4096 => RsaKeySize::_4096,
                    _ => RsaKeySize::_2048,
                };
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
            }
            KeyKind::Ecdsa(Curve::P256) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyKind::Ecdsa(Curve::P384) => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        }
    }

    fn of_cert(cert: &X509Certificate) -> Option<KeyKind> {
        let spki = cert.public_key();
        if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
            match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                    Some(KeyKind::Rsa(bit_length(rsa.modulus)))
                }
                _ => None,
            }
        } else if spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            ec_curve(spki).map(KeyKind::Ecdsa)
        } else {
            None
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyKind::Ecdsa(Curve::P256) => f.write_str("ECDSA P-256"),
            KeyKind::Ecdsa(Curve::P384) => f.write_str("ECDSA P-384"),
        }
    }
}

/// One certificate as the plan asks for it, and where it lives.
struct Want {
    dir: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    subject: Subject,
    key: KeyKind,
    validity_days: u32,
    renew_before_days: u32,
}

fn want(
    dir: &Path,
    id: &str,
    subject: Subject,
    key: Option<&KeySpec>,
    validity_days: u32,
    renew_before_days: u32,
) -> Result<Want, PkiError> {
    let (cert_file, key_file) = files(dir, id);
    let spec_error = |message: String| PkiError::Spec {
        path: cert_file.clone(),
        message,
    };
    if id.is_empty() || id.contains(['/', '\0']) || id.starts_with('.') {
        return Err(spec_error(format!("`{id}` cannot name a certificate file")));
    }
    if validity_days == 0 {
        return Err(spec_error("validity_days must be at least 1".into()));
    }
    if validity_days > MAX_VALIDITY_DAYS {
        return Err(spec_error(format!(
            "validity_days {validity_days} is more than {MAX_VALIDITY_DAYS} (100 years)"
        )));
    }
    let key = KeyKind::from_spec(key).map_err(spec_error)?;
    // Fail on a subject rcgen cannot encode now, not halfway through a run.
    subject_dn(&subject).map_err(spec_error)?;
    Ok(Want {
        dir: dir.to_path_buf(),
        cert_file,
        key_file,
        subject,
        key,
        validity_days,
        renew_before_days,
    })
}

fn want_ca(dir: &Path, id: &str, ca: &PkiCa) -> Result<Want, PkiError> {
    let subject = ca.subject.clone().unwrap_or_else(|| Subject {
        common_name: id.to_string(),
        organization: None,
        organizational_unit: None,
        country: None,
    });
    let validity = ca.validity_days.unwrap_or(DEFAULT_CA_VALIDITY_DAYS);
    want(dir, id, subject, ca.key.as_ref(), validity, 0)
}

fn want_cert(dir: &Path, id: &str, cert: &PkiCert) -> Result<Want, PkiError> {
    want(
        dir,
        id,
        cert.subject.clone(),
        cert.key.as_ref(),
        cert.validity_days.unwrap_or(DEFAULT_CERT_VALIDITY_DAYS),
        cert.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS),
    )
}

impl Want {
    fn params(&self, now: OffsetDateTime, ca: bool) -> Result<CertificateParams, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name =
            subject_dn(&self.subject).map_err(|message| PkiError::Spec {
                path: self.cert_file.clone(),
                message,
            })?;
        params.not_before = now - BACKDATE;
        params.not_after = now
            .checked_add(Duration::days(self.validity_days.into()))
            .ok_or_else(|| PkiError::Spec {
                path: self.cert_file.clone(),
                message: format!(
                    "validity_days {} ends past the last date a certificate can hold",
                    self.validity_days
                ),
            })?;
        params.serial_number = Some(random_serial().map_err(generate_error(&self.cert_file))?);
        params.use_authority_key_identifier_extension = true;
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        } else {
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Ok(params)
    }
}

/// The subject's attributes in the order they are written: C, O, OU, CN.
fn subject_attrs(s: &Subject) -> Vec<(String, String)> {
    [
        ("C", s.country.as_deref()),
        ("O", s.organization.as_deref()),
        ("OU", s.organizational_unit.as_deref()),
        ("CN", Some(s.common_name.as_str())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
    .collect()
}

fn subject_dn(s: &Subject) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    if let Some(c) = &s.country {
        // RFC 5280 makes countryName a PrintableString.
        let c = c
            .as_str()
            .try_into()
            .map_err(|_| format!("country `{c}` is not a valid country code"))?;
        dn.push(DnType::CountryName, DnValue::PrintableString(c));
    }
    if let Some(o) = &s.organization {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    if let Some(ou) = &s.organizational_unit {
        dn.push(DnType::OrganizationalUnitName, ou.as_str());
    }
    dn.push(DnType::CommonName, s.common_name.as_str());
    Ok(dn)
}

fn name_attrs(name: &X509Name) -> Vec<(String, String)> {
    name.iter_attributes()
        .map(|a| {
            let oid = a.attr_type();
            let key = if *oid == OID_X509_COUNTRY_NAME {
                "C".to_string()
            } else if *oid == OID_X509_ORGANIZATION_NAME {
                "O".to_string()
            } else if *oid == OID_X509_ORGANIZATIONAL_UNIT {
                "OU".to_string()
            } else if *oid == OID_X509_COMMON_NAME {
                "CN".to_string()
            } else {
                oid.to_id_string()
            };
            let value = a.as_str().unwrap_or("?").to_string();
            (key, value)
        })
        .collect()
}

fn show_attrs(attrs: &[(String, String)]) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- decisions -----------------------------------------------------------

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

/// Parse a material's certificate and hand it to `f` (the parsed form borrows the DER).
fn with_cert<T>(m: &Material, f: impl FnOnce(&X509Certificate<'_>) -> T) -> Result<T, PkiError> {
    let der = material_der(m)?;
    let cert = parse_cert(&der).map_err(|reason| PkiError::Certificate {
        path: m.cert_file.clone(),
        reason,
    })?;
    Ok(f(&cert))
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

fn decide_ca(want: &Want, now: OffsetDateTime) -> Result<Plan, PkiError> {
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

fn decide_cert(want: &Want, ca: Option<&Material>, now: OffsetDateTime) -> Result<Plan, PkiError> {
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

// ---- imported CAs --------------------------------------------------------

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

/// An rcgen issuer standing for a CA certificate that exists only as DER: its exact subject
/// (string types kept) and its subject key identifier, so issued certificates chain to it.
fn issuer_for(ca: &X509Certificate, key: KeyPair) -> Result<Issuer<'static, KeyPair>, String> {
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
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    Ok(Issuer::new(params, key))
}

/// Whether `ca` issued `cert`: its name is the cert's issuer and its key made the signature.
fn issued_by(cert: &X509Certificate, ca: &X509Certificate) -> bool {
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return false;
    }
    let spki = ca.public_key();
    let sig = &cert.signature_algorithm.algorithm;
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
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .is_ok()
}

// ---- files and encodings -------------------------------------------------

/// Key first, then certificate: a run cut off in between leaves a key that does not match the
/// certificate, which the next run sees and repairs.
fn write_pair(want: &Want, key: &KeyPair, cert_der: &[u8]) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&want.dir)
        .map_err(io_error(&want.dir))?;
    write_atomic(&want.key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&want.cert_file, pem_encode(cert_der).as_bytes(), 0o644)
}

/// Write a private key file (mode 0600, atomically), e.g. a throwaway key of `xpart verify`.
pub fn write_private(path: &Path, pem: &[u8]) -> Result<(), PkiError> {
    write_atomic(path, pem, 0o600)
}

/// Write through a new file created with its final mode and renamed into place, so readers never
/// see half a file and a key is never readable by others, not even briefly.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| PkiError::Generate {
        path: path.to_path_buf(),
        message: "no randomness for a temporary file name".into(),
    })?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex(&nonce)));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}

/// A certificate or key file: a regular file of at most `input::MAX_PEM` bytes.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, PkiError> {
    crate::input::read("PEM file", path, crate::input::MAX_PEM).map_err(|e| match e {
        crate::input::InputError::Io { source, .. } => PkiError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PkiError::Spec {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn generate_error(path: &Path) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError::Generate {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// 128 random bits, positive (top bit clear) and of fixed length (next bit set).
fn random_serial() -> Result<SerialNumber, rcgen::Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| rcgen::Error::RingUnspecified)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn first_cert_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    let (_, block) = parse_x509_pem(pem).map_err(|e| e.to_string())?;
    if block.label != "CERTIFICATE" {
        return Err(format!("found a PEM `{}` block first", block.label));
    }
    Ok(block.contents)
}

fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| e.to_string())
}

fn material_der(m: &Material) -> Result<Vec<u8>, PkiError> {
    first_cert_der(m.cert_pem.as_bytes()).map_err(|reason| PkiError::Certificate {
        path: m.cert_file.clone(),
        reason,
    })
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn day(t: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// An unsigned big-endian integer's length in bits (a DER modulus may carry a leading zero byte).
fn bit_length(be: &[u8]) -> u32 {
    let Some(first) = be.iter().position(|&b| b != 0) else {
        return 0;
    };
    (be.len() - first) as u32 * 8 - be[first].leading_zeros()
}

fn ec_curve(spki: &SubjectPublicKeyInfo) -> Option<Curve> {
    let oid = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    if oid == OID_EC_P256 {
        Some(Curve::P256)
    } else if oid == OID_NIST_EC_P384 {
        Some(Curve::P384)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xpart-pki-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn subject(cn: &str) -> Subject {
        Subject {
            common_name: cn.into(),
            organization: Some("xpart".into()),
            organizational_unit: None,
            country: Some("CN".into()),
        }
    }

    fn ecdsa(curve: Curve) -> Option<KeySpec> {
        Some(KeySpec {
            algorithm: KeyAlgorithm::Ecdsa,
            bits: None,
            curve: Some(curve),
        })
    }

    fn ca(cn: &str) -> PkiCa {
        PkiCa {
            subject: Some(subject(cn)),
            key: ecdsa(Curve::P256),
            validity_days: None,
            dir: None,
            import: None,
        }
    }

    fn cert(cn: &str) -> PkiCert {
        PkiCert {
            ca: "${root.id}".into(),
            subject: subject(cn),
            key: ecdsa(Curve::P256),
            validity_days: None,
            renew_before_days: None,
            dir: None,
        }
    }

    fn reason(a: &PkiAction) -> &str {
        match a {
            PkiAction::Renew { reason } | PkiAction::Replace { reason } => reason,
            other => panic!("expected a renewal or replacement, got {other:?}"),
        }
    }

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

    #[test]
    fn key_specs_default_and_are_checked() {
        assert_eq!(KeyKind::from_spec(None), Ok(KeyKind::Rsa(2048)));
        let rsa = |bits| KeySpec {
            algorithm: KeyAlgorithm::Rsa,
            bits,
            curve: None,
        };
        assert_eq!(KeyKind::from_spec(Some(&rsa(None))), Ok(KeyKind::Rsa(2048)));
        assert_eq!(
            KeyKind::from_spec(Some(&rsa(Some(4096)))),
            Ok(KeyKind::Rsa(4096))
        );
        assert!(KeyKind::from_spec(Some(&rsa(Some(1024)))).is_err());
        let ec = KeySpec {
            algorithm: KeyAlgorithm::Ecdsa,
            bits: None,
            curve: None,
        };
        assert_eq!(
            KeyKind::from_spec(Some(&ec)),
            Ok(KeyKind::Ecdsa(Curve::P256))
        );

        let dir = tempdir();
        let mut bad = ca("root");
        bad.key = Some(rsa(Some(1024)));
        let err = plan_ca(&dir, "root", &bad, &dir).unwrap_err().to_string();
        assert!(err.contains("root.crt") && err.contains("1024"), "{err}");
    }

    #[test]
    fn errors_name_the_file_and_never_show_key_material() {
        let dir = tempdir();
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join("bad.key");
        fs::write(
            &key,
            format!(
                "-----BEGIN {k}-----\nAAAA\n-----END {k}-----\n",
                k = "PRIVATE KEY"
            ),
        )
        .unwrap();
        let err = load_private_key(&key).unwrap_err().to_string();
        assert!(err.starts_with(&key.display().to_string()), "{err}");
        assert!(
            !err.contains("PRIVATE KEY") && !err.contains("AAAA"),
            "{err}"
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

    #[test]
    fn bit_length_ignores_a_leading_zero_byte() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[]), 0);
    }
}
