//! Test PKI made with rcgen: CAs, intermediates and client certificates of each key type.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use time::{Duration as TDuration, OffsetDateTime};

pub struct Ca {
    pub pem: String,
    params: CertificateParams,
    key: KeyPair,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    /// Write `name.pem` and `name.key` (mode 0600) into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::OpenOptionsExt;
        let c = dir.join(format!("{name}.pem"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, &self.cert_pem).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&k)
            .unwrap();
        std::io::Write::write_all(&mut f, self.key_pem.as_bytes()).unwrap();
        (c, k)
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "xpart tests");
    dn.push(DnType::CommonName, cn);
    dn
}

/// CA parameters valid for 30 days; `proper = false` leaves out basicConstraints and keyUsage.
fn ca_params(cn: &str, proper: bool) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn);
    params.not_before = OffsetDateTime::now_utc() - TDuration::days(1);
    params.not_after = OffsetDateTime::now_utc() + TDuration::days(30);
    if proper {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    params
}

/// A root CA as Roles Anywhere wants it; `proper = false` leaves out basicConstraints.
pub fn ca(cn: &str, proper: bool) -> Ca {
    let params = ca_params(cn, proper);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { pem, params, key }
}

/// A CA with CA:TRUE but without keyCertSign.
pub fn ca_without_cert_sign(cn: &str) -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

/// The key type of a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    Rsa2048,
    P256,
    P384,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 3] = [KeyAlg::Rsa2048, KeyAlg::P256, KeyAlg::P384];

    /// A fresh key pair of this type (RSA made by aws-lc-rs, as rcgen cannot generate it).
    pub fn generate(self) -> KeyPair {
        match self {
            KeyAlg::Rsa2048 => {
                use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                let k =
                    aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
                let der = AsDer::<Pkcs8V1Der>::as_der(&k).unwrap().as_ref().to_vec();
                KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), &rcgen::PKCS_RSA_SHA256).unwrap()
            }
            KeyAlg::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
            KeyAlg::P384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
        }
    }
}

impl Ca {
    /// A client certificate with a key of type `alg`; `expired` puts its validity in the past.
    pub fn issue_with(&self, cn: &str, alg: KeyAlg, expired: bool) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        if expired {
            params.not_before = now - TDuration::days(10);
            params.not_after = now - TDuration::days(1);
        } else {
            params.not_before = now - TDuration::hours(1);
            params.not_after = now + TDuration::days(10);
        }
        let key = alg.generate();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// An intermediate CA signed by this one (its `pem` is the intermediate's certificate).
    pub fn intermediate(&self, cn: &str) -> Ca {
        let params = ca_params(cn, true);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let pem = params.signed_by(&key, &issuer).unwrap().pem();
        Ca { pem, params, key }
    }
}

impl Ca {
    /// A client certificate; `p384` picks the curve; `expired` puts its validity in the past.
    pub fn issue(&self, cn: &str, p384: bool, expired: bool) -> Leaf {
        self.issue_with(cn, if p384 { KeyAlg::P384 } else { KeyAlg::P256 }, expired)
    }
}
