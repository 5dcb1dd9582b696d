//! Private keys: the kinds a plan may ask for, generating them, loading them from PEM, and
//! telling a certificate's key kind.

use std::fmt;
use std::path::Path;

use rcgen::{KeyPair, RsaKeySize};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};
use x509_parser::prelude::*;

use super::disk::read_pem;
use super::PkiError;
use crate::plan::types::{Curve, KeyAlgorithm, KeySpec};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa(u32),
    Ecdsa(Curve),
}

impl KeyKind {
    pub(super) fn from_spec(spec: Option<&KeySpec>) -> Result<KeyKind, String> {
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

    pub(super) fn generate(self) -> Result<KeyPair, rcgen::Error> {
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

    pub(super) fn of_cert(cert: &X509Certificate) -> Option<KeyKind> {
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

/// An unsigned big-endian integer's length in bits (a DER modulus may carry a leading zero byte).
fn bit_length(be: &[u8]) -> u32 {
    let Some(first) = be.iter().position(|&b| b != 0) else {
        return 0;
    };
    (be.len() - first) as u32 * 8 - be[first].leading_zeros()
}

pub(super) fn ec_curve(spki: &SubjectPublicKeyInfo) -> Option<Curve> {
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
    use std::fs;

    use super::*;
    use crate::pki::fixtures::{ca, tempdir};
    use crate::pki::plan_ca;

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
    fn bit_length_ignores_a_leading_zero_byte() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[]), 0);
    }
}
