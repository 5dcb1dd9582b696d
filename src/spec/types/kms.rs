//! `kms.*`: keys.

use super::Found;

super::family! {
    module: kms, variant: Kms, kinds: KmsKind, props: kms_props, types: kms_type;
    KmsKey => name "kms.key", attrs ["arn", "id", "alias", "alias_arn"], found Found::Tagged { service: "kms", resource: "key" }, delete_rank 10, references [], sensitive [];
}

super::plan_data! {
    /// `kms.key`: a symmetric key with a generated key policy (or a raw one).
    tagged pub struct KmsKey {
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
