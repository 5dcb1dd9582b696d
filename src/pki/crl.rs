//! Certificate revocation lists: one made and signed by a plan's CA (whose key is in KMS or in
//! a file: the caller passes its signer), and what a CRL says when read back.
//!
//! A CRL is never compared byte for byte: its `thisUpdate` and (for ECDSA) its signature
//! differ at every signing. It is compared by what it means: who signed it (`Crl::issuer`, the
//! signing key's identifier), which serials it revokes, and until when it holds.

use std::collections::BTreeSet;

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams,
    SerialNumber, SigningKey,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{parse_x509_pem, FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::cert::{issuer_for, verifies};
use super::encoding::{first_cert_der, parse_cert};
use crate::hex::hex;

/// A serial number as a plan writes it and a CRL is compared: lowercase hex, no separators, no
/// leading zeros. None for text that is not hex.
pub fn normalize_serial(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0').to_ascii_lowercase();
    Some(if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed
    })
}

/// What a CRL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// The signing key's identifier (the CRL's authority key identifier, see `key_id`), hex;
    /// or, for a list without one (made elsewhere), `dn:` and a SHA-256 of its issuer's name.
    pub issuer: String,
    /// Revoked serials, normalized (`normalize_serial`).
    pub revoked: BTreeSet<String>,
    pub next_update: Option<OffsetDateTime>,
}

/// Who a CA certificate signs as: its subject key identifier, hex, as `Crl::issuer` compares.
pub fn signer_id(ca_pem: &str) -> Result<String, String> {
    let der = first_cert_der(ca_pem.as_bytes())?;
    let ca = parse_cert(&der)?;
    Ok(hex(&key_id(&ca)))
}

/// The identifier a CRL of `ca` names its key by (its authority key identifier): the CA's
/// subject key identifier; for a CA without one, the first 20 bytes of a SHA-256 of its key.
/// The same for the list made and the list read back, so an unchanged list compares equal.
fn key_id(ca: &X509Certificate) -> Vec<u8> {
    ca.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0.to_vec()),
            _ => None,
        })
        .unwrap_or_else(|| {
            let key = &ca.public_key().subject_public_key.data;
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key).as_ref()[..20].to_vec()
        })
}

fn dn_id(raw: &[u8]) -> String {
    format!(
        "dn:{}",
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, raw).as_ref())
    )
}

/// The DER of a CRL given as PEM (`X509 CRL`, as Roles Anywhere takes and returns it) or DER.
fn der_of(data: &[u8]) -> Result<Vec<u8>, String> {
    if !data.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(data.to_vec());
    }
    let (_, block) = parse_x509_pem(data).map_err(|e| format!("not a PEM CRL: {e}"))?;
    if block.label != "X509 CRL" {
        return Err(format!(
            "found a PEM `{}` block, not an `X509 CRL`",
            block.label
        ));
    }
    Ok(block.contents)
}

/// What the CRL in `data` (PEM or DER) says; an error for bytes that are not a CRL.
pub fn read(data: &[u8]) -> Result<Crl, String> {
    let der = der_of(data)?;
    let (_, crl) =
        CertificateRevocationList::from_der(&der).map_err(|e| format!("not a CRL: {e}"))?;
    let issuer = crl
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| hex(k.0))
            }
            _ => None,
        })
        .unwrap_or_else(|| dn_id(crl.issuer().as_raw()));
    let revoked = crl
        .iter_revoked_certificates()
        .filter_map(|r| normalize_serial(&hex(r.raw_serial())))
        .collect();
    let next_update = crl.next_update().map(|t| t.to_datetime());
    Ok(Crl {
        issuer,
        revoked,
        next_update,
    })
}

/// Whether the CRL in `data` (PEM or DER) verifies against the CA certificate of `ca_pem`.
pub fn signed_by(data: &[u8], ca_pem: &str) -> bool {
    let (Ok(ca_der), Ok(der)) = (first_cert_der(ca_pem.as_bytes()), der_of(data)) else {
        return false;
    };
    let (Ok(ca), Ok((_, crl))) = (
        parse_cert(&ca_der),
        CertificateRevocationList::from_der(&der),
    ) else {
        return false;
    };
    crl.issuer().as_raw() == ca.subject().as_raw()
        && verifies(
            &ca,
            &crl.signature_algorithm.algorithm,
            crl.tbs_cert_list.as_ref(),
            &crl.signature_value.data,
        )
}

/// What a CRL to make holds.
pub struct Terms<'a> {
    /// Normalized serials (`normalize_serial`).
    pub revoked: &'a BTreeSet<String>,
    pub validity_days: u32,
}

/// A CRL of `terms`, signed by the CA of `ca_pem` with `signer` (its key): PEM, the form
/// Roles Anywhere imports ("In order to be properly imported, a CRL must be in PEM format":
/// ImportCrl, API reference).
pub fn make<S: SigningKey>(ca_pem: &str, signer: S, terms: &Terms) -> Result<String, String> {
    let ca_der = first_cert_der(ca_pem.as_bytes())?;
    let ca = parse_cert(&ca_der)?;
    if signer.der_bytes() != &*ca.public_key().subject_public_key.data {
        return Err("the signing key is not the CA certificate's".into());
    }
    let can_sign_crls = ca
        .key_usage()
        .ok()
        .flatten()
        .is_none_or(|ku| ku.value.crl_sign());
    if !can_sign_crls {
        return Err(
            "the CA's key usage does not include cRLSign, so no verifier accepts a CRL it signs"
                .into(),
        );
    }
    let issuer = issuer_for(&ca, signer)?;
    let now = OffsetDateTime::now_utc();
    let revoked_certs = terms
        .revoked
        .iter()
        .map(|s| {
            let padded = if s.len() % 2 == 1 {
                format!("0{s}")
            } else {
                s.clone()
            };
            let bytes = (0..padded.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&padded[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| format!("serial `{s}` is not hex"))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: now,
                reason_code: Some(RevocationReason::Unspecified),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    // The CRL number only has to grow: the time in seconds does.
    let number = now.unix_timestamp().max(1) as u64;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(terms.validity_days.into()),
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_id(&ca)),
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| format!("the CRL could not be signed: {e}"))?;
    let pem = crl
        .pem()
        .map_err(|e| format!("the CRL could not be encoded: {e}"))?;
    if !signed_by(pem.as_bytes(), ca_pem) {
        return Err("the CRL made does not verify against the CA".into());
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_compared_as_hex_numbers() {
        assert_eq!(normalize_serial("00:1A:2b").as_deref(), Some("1a2b"));
        assert_eq!(normalize_serial("0000").as_deref(), Some("0"));
        assert_eq!(normalize_serial("xyz"), None);
        assert_eq!(normalize_serial(""), None);
    }

    #[test]
    fn a_crl_says_what_it_revokes_and_who_signed_it() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "crl test ca");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let revoked: BTreeSet<String> = ["1a2b", "ff"].map(String::from).into();
        let pem = make(
            &ca_pem,
            &key,
            &Terms {
                revoked: &revoked,
                validity_days: 30,
            },
        )
        .unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"), "{pem}");
        let der = der_of(pem.as_bytes()).unwrap();
        assert_eq!(read(&der).unwrap(), read(pem.as_bytes()).unwrap());
        let crl = read(pem.as_bytes()).unwrap();
        assert_eq!(crl.revoked, revoked);
        assert_eq!(crl.issuer, signer_id(&ca_pem).unwrap());
        assert!(signed_by(&der, &ca_pem));
        let left = crl.next_update.unwrap() - OffsetDateTime::now_utc();
        assert!((29..=30).contains(&left.whole_days()), "{left}");

        // Another key cannot sign for this CA; a CRL is not another CA's.
        let other = rcgen::KeyPair::generate().unwrap();
        assert!(make(
            &ca_pem,
            &other,
            &Terms {
                revoked: &revoked,
                validity_days: 30
            }
        )
        .is_err());
        let other_ca = params.self_signed(&other).unwrap().pem();
        assert!(!signed_by(&der, &other_ca));
    }
}
