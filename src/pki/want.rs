//! What the plan asks of one certificate: its files, subject, key and validity, checked up
//! front, and the rcgen parameters that make it.

use std::path::{Path, PathBuf};

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SerialNumber,
};
use x509_parser::oid_registry::{
    OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_ORGANIZATIONAL_UNIT,
    OID_X509_ORGANIZATION_NAME,
};
use x509_parser::prelude::*;

use super::disk::files;
use super::error::generate_error;
use super::key::KeyKind;
use super::{
    PkiError, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_CERT_VALIDITY_DAYS, DEFAULT_RENEW_BEFORE_DAYS,
    MAX_VALIDITY_DAYS,
};
use crate::plan::types::{KeySpec, PkiCa, PkiCert, Subject};

/// Certificates start an hour in the past so a verifier whose clock lags ours still accepts them.
const BACKDATE: Duration = Duration::hours(1);

/// One certificate as the plan asks for it, and where it lives.
pub(super) struct Want {
    pub(super) dir: PathBuf,
    pub(super) cert_file: PathBuf,
    pub(super) key_file: PathBuf,
    pub(super) subject: Subject,
    pub(super) key: KeyKind,
    pub(super) validity_days: u32,
    pub(super) renew_before_days: u32,
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
    if id.is_empty() || id.contains(['/', '\0']) || id.starts_with('.') {
        return Err(PkiError::Plan {
            path: cert_file,
            message: format!("`{id}` cannot name a certificate file"),
        });
    }
    checked(
        Want {
            dir: dir.to_path_buf(),
            cert_file,
            key_file,
            subject,
            key: KeyKind::Rsa(2048),
            validity_days,
            renew_before_days,
        },
        key,
    )
}

/// A certificate that is never written to a file (it goes into a secret): `label` stands for
/// its place in errors.
pub(super) fn want_in_memory(
    label: &Path,
    subject: Subject,
    key: Option<&KeySpec>,
    validity_days: u32,
) -> Result<Want, PkiError> {
    checked(
        Want {
            dir: label.to_path_buf(),
            cert_file: label.to_path_buf(),
            key_file: label.to_path_buf(),
            subject,
            key: KeyKind::Rsa(2048),
            validity_days,
            renew_before_days: 0,
        },
        key,
    )
}

/// `w` with its key kind from `key`, once the plan's terms are checked.
fn checked(mut w: Want, key: Option<&KeySpec>) -> Result<Want, PkiError> {
    let spec_error = |message: String| PkiError::Plan {
        path: w.cert_file.clone(),
        message,
    };
    let validity_days = w.validity_days;
    if validity_days == 0 {
        return Err(spec_error("validity_days must be at least 1".into()));
    }
    if validity_days > MAX_VALIDITY_DAYS {
        return Err(spec_error(format!(
            "validity_days {validity_days} is more than {MAX_VALIDITY_DAYS} (100 years)"
        )));
    }
    let kind = KeyKind::from_spec(key).map_err(spec_error)?;
    // Fail on a subject rcgen cannot encode now, not halfway through a run.
    subject_dn(&w.subject).map_err(spec_error)?;
    w.key = kind;
    Ok(w)
}

pub(super) fn want_ca(dir: &Path, id: &str, ca: &PkiCa) -> Result<Want, PkiError> {
    let subject = ca.subject.clone().unwrap_or_else(|| Subject {
        common_name: id.to_string(),
        organization: None,
        organizational_unit: None,
        country: None,
    });
    let validity = ca.validity_days.unwrap_or(DEFAULT_CA_VALIDITY_DAYS);
    want(dir, id, subject, ca.key.as_ref(), validity, 0)
}

pub(super) fn want_cert(dir: &Path, id: &str, cert: &PkiCert) -> Result<Want, PkiError> {
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
    pub(super) fn params(
        &self,
        now: OffsetDateTime,
        ca: bool,
    ) -> Result<CertificateParams, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name =
            subject_dn(&self.subject).map_err(|message| PkiError::Plan {
                path: self.cert_file.clone(),
                message,
            })?;
        params.not_before = now - BACKDATE;
        params.not_after = now
            .checked_add(Duration::days(self.validity_days.into()))
            .ok_or_else(|| PkiError::Plan {
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
pub(super) fn subject_attrs(s: &Subject) -> Vec<(String, String)> {
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

pub(super) fn subject_dn(s: &Subject) -> Result<DistinguishedName, String> {
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

pub(super) fn name_attrs(name: &X509Name) -> Vec<(String, String)> {
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

pub(super) fn show_attrs(attrs: &[(String, String)]) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 128 random bits, positive (top bit clear) and of fixed length (next bit set).
fn random_serial() -> Result<SerialNumber, rcgen::Error> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| rcgen::Error::RingUnspecified)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}
