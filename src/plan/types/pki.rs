//! `pki.*`: a CA and the client certificates it issues, made (or imported) on this machine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Found;

super::family! {
    module: pki, variant: Pki, kinds: PkiKind, props: pki_props, types: pki_type;
    PkiCa => name "pki.ca", attrs ["id", "cert_file", "key_file", "cert_pem"], found Found::Local, delete_rank 0, references [("kms_key", "kms.key")], sensitive [];
    PkiCert => name "pki.cert", attrs ["id", "cert_file", "key_file", "cert_pem", "serial"], found Found::Local, delete_rank 0, references [("ca", "pki.ca")], sensitive [];
}

super::plan_data! {
    pub struct Subject {
        pub common_name: String,
        pub organization: Option<String>,
        pub organizational_unit: Option<String>,
        pub country: Option<String>,
    }

    pub struct KeySpec {
        pub algorithm: KeyAlgorithm,
        /// RSA: 2048, 3072 or 4096.
        pub bits: Option<u32>,
        /// ECDSA: p256 or p384.
        pub curve: Option<Curve>,
    }

    /// A PEM certificate and key the user brings instead of generating them.
    pub struct Import {
        pub certificate_file: String,
        pub key_file: Option<String>,
    }

    /// `pki.ca`: a root CA, its key held by KMS (`kms_key`) or made (or imported) locally.
    pub struct PkiCa {
        pub subject: Option<Subject>,
        /// `${<key>.arn}` of a `kms.key` with `usage: sign`: the CA's key never leaves KMS, and
        /// its certificate is kept where any machine can read it (see the design notes).
        pub kms_key: Option<String>,
        pub key: Option<KeySpec>,
        pub validity_days: Option<u32>,
        /// Directory for the certificate and key files, inside the plan's state directory
        /// (default `pki`: `.xpart/<plan>/pki`).
        pub dir: Option<String>,
        pub import: Option<Import>,
    }

    /// `pki.cert`: a client certificate issued by a `pki.ca`.
    pub struct PkiCert {
        /// `${<ca>.id}`
        pub ca: String,
        pub subject: Subject,
        pub key: Option<KeySpec>,
        pub validity_days: Option<u32>,
        /// Renew when fewer days than this remain.
        pub renew_before_days: Option<u32>,
        /// Directory for the certificate and key files, inside the plan's state directory
        /// (default `pki`).
        pub dir: Option<String>,
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    Rsa,
    Ecdsa,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Curve {
    P256,
    P384,
}
