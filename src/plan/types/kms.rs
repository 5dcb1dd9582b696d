//! `kms.*`: keys.

use super::Found;

super::family! {
    module: kms, variant: Kms, kinds: KmsKind, props: kms_props, types: kms_type;
    KmsKey => name "kms.key", attrs ["arn", "id", "alias", "alias_arn"], found Found::Tagged { service: "kms", resource: "key" }, delete_rank 10, references [], sensitive [];
}

super::plan_data! {
    /// `kms.key`: a key with a generated key policy (or a raw one): symmetric, to encrypt
    /// (the default), or an asymmetric signing key (`usage: sign`, e.g. a CA's).
    tagged pub struct KmsKey {
        /// `encrypt` (symmetric, the default) or `sign` (asymmetric: needs `key_spec`).
        pub usage: Option<KeyUsage>,
        /// A signing key's spec: `rsa_2048`, `rsa_3072`, `rsa_4096`, `ecc_nist_p256`,
        /// `ecc_nist_p384`. Changing it, or `usage`, replaces the key.
        pub key_spec: Option<KmsKeySpec>,
        /// Principals (role ARNs) that may sign with the key (`kms:Sign`, `kms:GetPublicKey`).
        #[serde(default)]
        pub signers: Vec<String>,
        /// `alias/<name>`
        pub alias: Option<String>,
        pub description: Option<String>,
        /// Pending window for scheduled deletion, 7–30 days (default 7).
        pub deletion_window_days: Option<u32>,
        /// Principals (role ARNs) that may use the key to decrypt.
        #[serde(default)]
        pub users: Vec<String>,
        /// A raw key policy document instead of the generated one.
        #[schemars(with = "Option<serde_json::Value>")]
        pub policy: Option<serde_yaml::Value>,
    }
}

/// What a key is for.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyUsage {
    #[default]
    Encrypt,
    Sign,
}

/// A signing key's type (KMS's KeySpec).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KmsKeySpec {
    #[serde(rename = "rsa_2048")]
    Rsa2048,
    #[serde(rename = "rsa_3072")]
    Rsa3072,
    #[serde(rename = "rsa_4096")]
    Rsa4096,
    EccNistP256,
    EccNistP384,
}

impl KmsKeySpec {
    /// As KMS spells it.
    pub fn aws(self) -> &'static str {
        match self {
            KmsKeySpec::Rsa2048 => "RSA_2048",
            KmsKeySpec::Rsa3072 => "RSA_3072",
            KmsKeySpec::Rsa4096 => "RSA_4096",
            KmsKeySpec::EccNistP256 => "ECC_NIST_P256",
            KmsKeySpec::EccNistP384 => "ECC_NIST_P384",
        }
    }
}

impl KmsKey {
    /// KMS's KeyUsage and KeySpec of the key the plan asks for.
    pub fn usage_and_spec(&self) -> (&'static str, &'static str) {
        match self.usage.unwrap_or_default() {
            KeyUsage::Encrypt => ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT"),
            KeyUsage::Sign => (
                "SIGN_VERIFY",
                self.key_spec.map(KmsKeySpec::aws).unwrap_or("RSA_2048"),
            ),
        }
    }
}
