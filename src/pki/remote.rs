//! Certificates whose issuer's key is held elsewhere (by KMS): rcgen builds them, the holder
//! signs. Nothing here calls AWS: the caller passes the signing as a function.
//!
//! A held CA's certificate is a function of facts any machine can read (subject and validity
//! from the plan, the key's ARN, creation date and public key) plus one signature. So the
//! signature is all that must be kept, and `ca_from_signature` rebuilds the very certificate
//! from it, or refuses one that its key did not make.

use std::path::Path;
use std::sync::Mutex;

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, IsCa, KeyUsagePurpose, PublicKeyData, SignatureAlgorithm,
    SigningKey,
};
use x509_parser::prelude::*;

use super::cert::{issued_by, issuer_for};
use super::encoding::{first_cert_der, hex, parse_cert, pem_encode};
use super::error::generate_error;
use super::want::{subject_dn, want_in_memory};
use super::PkiError;
use crate::plan::types::{KeySpec, Subject};

/// Signs a message with a key held elsewhere; the error says why it could not.
pub type SignFn<'a> = &'a (dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Sync);

/// A key held elsewhere: its public half, and a function that signs with it.
pub struct HeldKey<'a> {
    public: Vec<u8>,
    alg: &'static SignatureAlgorithm,
    sign: SignFn<'a>,
    /// Why the last signing failed (rcgen's error carries no text).
    failure: Mutex<Option<String>>,
}

impl<'a> HeldKey<'a> {
    /// The key whose SubjectPublicKeyInfo (DER) is `spki`, of KMS key spec `key_spec`.
    pub fn new(spki: &[u8], key_spec: &str, sign: SignFn<'a>) -> Result<HeldKey<'a>, String> {
        let (alg, _) = algorithms(key_spec)
            .ok_or_else(|| format!("a key of spec {key_spec} cannot sign certificates"))?;
        let (_, info) = SubjectPublicKeyInfo::from_der(spki)
            .map_err(|e| format!("the public key is not a SubjectPublicKeyInfo: {e}"))?;
        Ok(HeldKey {
            public: info.subject_public_key.data.to_vec(),
            alg,
            sign,
            failure: Mutex::new(None),
        })
    }

    fn failed(&self, e: rcgen::Error, label: &Path) -> PkiError {
        match self.failure.lock().unwrap().take() {
            Some(message) => PkiError::Generate {
                path: label.to_path_buf(),
                message,
            },
            None => generate_error(label)(e),
        }
    }
}

impl PublicKeyData for HeldKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SigningKey for HeldKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        (self.sign)(msg).map_err(|e| {
            *self.failure.lock().unwrap() = Some(e);
            rcgen::Error::RemoteKeyError
        })
    }
}

/// For a KMS key spec: the certificate signature algorithm and the KMS signing algorithm that
/// makes it (RSA: PKCS#1 v1.5 with SHA-256; P-256 with SHA-256; P-384 with SHA-384, as rcgen
/// pairs them for keys it makes).
pub fn algorithms(key_spec: &str) -> Option<(&'static SignatureAlgorithm, &'static str)> {
    match key_spec {
        "RSA_2048" | "RSA_3072" | "RSA_4096" => {
            Some((&rcgen::PKCS_RSA_SHA256, "RSASSA_PKCS1_V1_5_SHA_256"))
        }
        "ECC_NIST_P256" => Some((&rcgen::PKCS_ECDSA_P256_SHA256, "ECDSA_SHA_256")),
        "ECC_NIST_P384" => Some((&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA_SHA_384")),
        _ => None,
    }
}

/// What a held CA's certificate is made of, besides its key.
pub struct HeldCa<'a> {
    pub subject: &'a Subject,
    pub validity_days: u32,
    /// When KMS made the key: the certificate's `notBefore`.
    pub created: OffsetDateTime,
    /// The key's ARN: the serial is a digest of it.
    pub key_arn: &'a str,
}

impl HeldCa<'_> {
    fn label(&self) -> &Path {
        Path::new(self.key_arn)
    }

    /// The certificate's terms: the same on every machine, for the same key and plan.
    fn params(&self) -> Result<CertificateParams, PkiError> {
        let spec = |message: String| PkiError::Plan {
            path: self.label().to_path_buf(),
            message,
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = subject_dn(self.subject).map_err(spec)?;
        let start = self
            .created
            .replace_nanosecond(0)
            .map_err(|e| spec(e.to_string()))?;
        params.not_before = start;
        params.not_after = start
            .checked_add(Duration::days(self.validity_days.into()))
            .ok_or_else(|| {
                spec(format!(
                    "validity_days {} ends past the last date a certificate can hold",
                    self.validity_days
                ))
            })?;
        let d = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("xpart-ca\0{}", self.key_arn).as_bytes(),
        );
        let mut serial = [0u8; 16];
        serial.copy_from_slice(&d.as_ref()[..16]);
        // Positive, and of fixed length (as random serials are).
        serial[0] = (serial[0] & 0x7f) | 0x40;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(params)
    }

    /// The self-signed certificate (DER), signed by `key` (one signing call).
    pub fn sign(&self, key: &HeldKey) -> Result<Vec<u8>, PkiError> {
        let cert = self
            .params()?
            .self_signed(key)
            .map_err(|e| key.failed(e, self.label()))?;
        Ok(cert.der().to_vec())
    }

    /// The certificate `sign` made, from its signature alone: None unless the signature is the
    /// key's over exactly these terms.
    pub fn from_signature(&self, spki: &[u8], key_spec: &str, signature: &[u8]) -> Option<Vec<u8>> {
        let replay = |_: &[u8]| Ok(signature.to_vec());
        let key = HeldKey::new(spki, key_spec, &replay).ok()?;
        let der = self.params().ok()?.self_signed(&key).ok()?.der().to_vec();
        let ok = parse_cert(&der).is_ok_and(|c| issued_by(&c, &c));
        ok.then_some(der)
    }
}

/// The signature of a certificate (DER).
pub fn signature_of(der: &[u8]) -> Option<Vec<u8>> {
    parse_cert(der)
        .ok()
        .map(|c| c.signature_value.data.to_vec())
}

/// A client certificate and its key, made in memory for a secret.
pub struct Issued {
    /// The certificate then the key, PEM: what the secret holds.
    pub bundle: String,
    /// Decimal.
    pub serial: String,
    pub not_after: OffsetDateTime,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint_sha256: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// The terms of a client certificate a secret carries.
pub struct ClientTerms<'a> {
    pub subject: &'a Subject,
    pub key: Option<&'a KeySpec>,
    pub validity_days: u32,
}

/// Check the terms before anything is made; `label` names the place in errors.
pub fn check_terms(label: &Path, t: &ClientTerms) -> Result<(), PkiError> {
    want_in_memory(label, t.subject.clone(), t.key, t.validity_days).map(|_| ())
}

/// A new key, and a certificate for it issued by the CA of `ca_pem` whose key `signer` is (a
/// held key, or the CA's key pair).
pub fn issue<S: SigningKey>(
    label: &Path,
    ca_pem: &str,
    signer: S,
    t: &ClientTerms,
) -> Result<Issued, PkiError> {
    let want = want_in_memory(label, t.subject.clone(), t.key, t.validity_days)?;
    let bad_ca = |reason| PkiError::Certificate {
        path: label.to_path_buf(),
        reason,
    };
    let ca_der = first_cert_der(ca_pem.as_bytes()).map_err(bad_ca)?;
    let ca_cert = parse_cert(&ca_der).map_err(bad_ca)?;
    if signer.der_bytes() != &*ca_cert.public_key().subject_public_key.data {
        return Err(PkiError::Issuer {
            path: label.to_path_buf(),
            reason: "the signing key is not the CA certificate's".into(),
        });
    }
    let issuer = issuer_for(&ca_cert, signer).map_err(|reason| PkiError::Issuer {
        path: label.to_path_buf(),
        reason,
    })?;
    let key = want.key.generate().map_err(generate_error(label))?;
    let params = want.params(OffsetDateTime::now_utc(), false)?;
    let issued = params.signed_by(&key, &issuer).map_err(|e| match e {
        rcgen::Error::RemoteKeyError => PkiError::Generate {
            path: label.to_path_buf(),
            message: "the CA's key could not sign (see the error before this one)".into(),
        },
        e => generate_error(label)(e),
    })?;
    let cert = parse_cert(issued.der()).map_err(bad_ca)?;
    if !issued_by(&cert, &ca_cert) {
        return Err(PkiError::Issuer {
            path: label.to_path_buf(),
            reason: "the issued certificate does not verify against the CA".into(),
        });
    }
    let not_after = cert.validity().not_after.to_datetime();
    let serial = cert.serial.to_string();
    let fingerprint_sha256 =
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, issued.der()).as_ref());
    Ok(Issued {
        bundle: format!("{}{}", pem_encode(issued.der()), key.serialize_pem()),
        serial,
        not_after,
        fingerprint_sha256,
    })
}

/// The serial of the first certificate of a PEM text, hex (as `pki::crl::normalize_serial`).
pub fn serial_hex_of_pem(pem: &[u8]) -> Option<String> {
    let der = first_cert_der(pem).ok()?;
    let cert = parse_cert(&der).ok()?;
    super::crl::normalize_serial(&crate::hex::hex(cert.raw_serial()))
}

/// Lowercase hex SHA-256 of a PEM certificate's DER: who issued a certificate, as a tag.
pub fn fingerprint_of_pem(pem: &str) -> Option<String> {
    let der = first_cert_der(pem.as_bytes()).ok()?;
    Some(hex(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &der,
    )
    .as_ref()))
}

/// The SubjectPublicKeyInfo (DER) of a PEM certificate.
pub fn spki_of_pem(pem: &str) -> Option<Vec<u8>> {
    let der = first_cert_der(pem.as_bytes()).ok()?;
    let cert = parse_cert(&der).ok()?;
    Some(cert.public_key().raw.to_vec())
}

/// A PEM certificate from DER.
pub fn pem_of(der: &[u8]) -> String {
    pem_encode(der)
}

#[cfg(test)]
mod tests {
    use rcgen::KeyPair;

    use super::*;

    fn subject(cn: &str) -> Subject {
        Subject {
            common_name: cn.into(),
            organization: Some("xpart".into()),
            organizational_unit: None,
            country: None,
        }
    }

    /// A key pair standing in for KMS: the held key signs through it.
    fn holder() -> (KeyPair, Vec<u8>) {
        let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = kp.subject_public_key_info();
        (kp, spki)
    }

    #[test]
    fn a_held_ca_is_rebuilt_from_its_signature_alone_and_only_from_its_own() {
        let (kp, spki) = holder();
        let sign = |m: &[u8]| SigningKey::sign(&kp, m).map_err(|e| e.to_string());
        let key = HeldKey::new(&spki, "ECC_NIST_P256", &sign).unwrap();
        let s = subject("held-ca");
        let ca = HeldCa {
            subject: &s,
            validity_days: 3650,
            created: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            key_arn: "arn:aws:kms:us-west-2:111122223333:key/k1",
        };
        let der = ca.sign(&key).unwrap();
        let sig = signature_of(&der).unwrap();
        // Another machine: the same facts and the signature give the same certificate.
        assert_eq!(
            ca.from_signature(&spki, "ECC_NIST_P256", &sig),
            Some(der.clone())
        );
        let cert = parse_cert(&der).unwrap();
        assert_eq!(
            &*cert.public_key().subject_public_key.data,
            &*SubjectPublicKeyInfo::from_der(&spki)
                .unwrap()
                .1
                .subject_public_key
                .data
        );
        assert_eq!(cert.validity().not_before.timestamp(), 1_700_000_000);
        // A signature of other terms, or by another key, is refused.
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(ca.from_signature(&spki, "ECC_NIST_P256", &bad), None);
        let other = HeldCa {
            key_arn: "arn:aws:kms:us-west-2:111122223333:key/k2",
            ..ca
        };
        assert_eq!(other.from_signature(&spki, "ECC_NIST_P256", &sig), None);
        let (_, stranger) = holder();
        assert_eq!(ca.from_signature(&stranger, "ECC_NIST_P256", &sig), None);
    }

    #[test]
    fn a_held_ca_issues_client_certificates_that_chain_to_it() {
        let (kp, spki) = holder();
        let sign = |m: &[u8]| SigningKey::sign(&kp, m).map_err(|e| e.to_string());
        let s = subject("held-ca");
        let ca = HeldCa {
            subject: &s,
            validity_days: 3650,
            created: OffsetDateTime::now_utc() - Duration::days(1),
            key_arn: "arn:aws-cn:kms:cn-north-1:111122223333:key/k1",
        };
        let ca_der = ca
            .sign(&HeldKey::new(&spki, "ECC_NIST_P256", &sign).unwrap())
            .unwrap();
        let ca_pem = pem_of(&ca_der);
        let client = subject("workload");
        let terms = ClientTerms {
            subject: &client,
            key: None,
            validity_days: 30,
        };
        let label = Path::new("secret xpart/k");
        let key = HeldKey::new(&spki, "ECC_NIST_P256", &sign).unwrap();
        let issued = issue(label, &ca_pem, key, &terms).unwrap();
        let der = first_cert_der(issued.bundle.as_bytes()).unwrap();
        let cert = parse_cert(&der).unwrap();
        assert!(issued_by(&cert, &parse_cert(&ca_der).unwrap()));
        assert_eq!(issued.serial, cert.serial.to_string());
        // The armour is spelled in two halves so that no scanner takes this source for a key.
        assert!(issued
            .bundle
            .contains(concat!("-----BEGIN ", "PRIVATE KEY-----")));
        assert!(!format!("{issued:?}").contains("PRIVATE"));
        // A signer that is not the CA's key is refused before anything is made.
        let (_, stranger) = holder();
        let wrong = HeldKey::new(&stranger, "ECC_NIST_P256", &sign).unwrap();
        assert!(issue(label, &ca_pem, wrong, &terms).is_err());
        // A signing failure says why.
        let failing = |_: &[u8]| Err("AccessDeniedException: not allowed to kms:Sign".to_string());
        let refused = HeldKey::new(&spki, "ECC_NIST_P256", &failing).unwrap();
        let e = ca.sign(&refused).unwrap_err().to_string();
        assert!(e.contains("kms:Sign"), "{e}");
    }
}
