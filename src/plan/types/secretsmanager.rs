//! `secretsmanager.*`: secrets and where their values come from.

use super::Found;

super::family! {
    module: secretsmanager, variant: SecretsManager, kinds: SecretsManagerKind, props: secretsmanager_props, types: secretsmanager_type;
    Secret => name "secretsmanager.secret", attrs ["arn", "name", "id"], found Found::Tagged { service: "secretsmanager", resource: "secret" }, delete_rank 9, references [("kms_key", "kms.key"), ("value.certificate.ca", "pki.ca")], sensitive ["value"];
}

super::plan_data! {
    /// Where a secret's value comes from: exactly one of these.
    #[derive(Default)]
    pub struct SecretValue {
        /// An environment variable of the process running xpart.
        pub env: Option<String>,
        /// A file (e.g. `${workload_cert.key_file}`).
        pub file: Option<String>,
        /// Files, one after the other: a PEM bundle (e.g. a certificate and its key, so that
        /// the two always travel, and change, together).
        pub files: Option<Vec<String>>,
        /// Generated once by the service (GetRandomPassword).
        pub generate: Option<Generate>,
        /// A value written in the plan: an error unless `allow_literal: true`.
        pub literal: Option<String>,
        /// A client certificate and its new key, issued by a `pki.ca` when the secret is made
        /// and again when renewal is due: a PEM bundle that exists only in this secret.
        pub certificate: Option<IssuedCertificate>,
    }

    /// A client certificate a secret carries (with its key).
    pub struct IssuedCertificate {
        /// `${<ca>.id}`
        pub ca: String,
        pub subject: super::Subject,
        pub key: Option<super::KeySpec>,
        pub validity_days: Option<u32>,
        /// Issue a new one when fewer days than this remain.
        pub renew_before_days: Option<u32>,
    }

    pub struct Generate {
        pub length: Option<u32>,
        #[serde(default)]
        pub exclude_punctuation: bool,
    }

    /// `secretsmanager.secret`
    tagged pub struct Secret {
        pub name: String,
        pub description: Option<String>,
        pub value: SecretValue,
        /// `${<key>.arn}` of a `kms.key` in the same partition.
        pub kms_key: Option<String>,
        /// Days before a deleted secret is gone (7–30); `force_delete` skips recovery.
        pub recovery_window_days: Option<u32>,
        #[serde(default)]
        pub force_delete: bool,
        #[serde(default)]
        pub allow_literal: bool,
    }
}

impl SecretValue {
    /// How many sources are set: a plan must set exactly one.
    pub fn sources(&self) -> usize {
        [
            self.env.is_some(),
            self.file.is_some(),
            self.files.is_some(),
            self.generate.is_some(),
            self.literal.is_some(),
            self.certificate.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}
