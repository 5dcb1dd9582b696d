//! `rolesanywhere.*`: trust anchors and profiles, the bridge between partitions.

use super::Found;

super::family! {
    module: rolesanywhere, variant: RolesAnywhere, kinds: RolesAnywhereKind, props: rolesanywhere_props, types: rolesanywhere_type;
    TrustAnchor => name "rolesanywhere.trust_anchor", attrs ["arn", "id", "name"], found Found::Tagged { service: "rolesanywhere", resource: "trust-anchor" }, delete_rank 12, references [("ca", "pki.ca")], sensitive [];
    Profile => name "rolesanywhere.profile", attrs ["arn", "id", "name"], found Found::Tagged { service: "rolesanywhere", resource: "profile" }, delete_rank 6, references [("roles", "iam.role")], sensitive [];
}

super::plan_data! {
    /// `rolesanywhere.trust_anchor`
    tagged pub struct TrustAnchor {
        pub name: String,
        /// `${<ca>.id}` of a `pki.ca`; or `certificate_file`.
        pub ca: Option<String>,
        pub certificate_file: Option<String>,
        #[serde(default = "yes")]
        pub enabled: bool,
    }

    /// `rolesanywhere.profile`
    tagged pub struct Profile {
        pub name: String,
        /// `${<role>.arn}` of roles in the same partition.
        pub roles: Vec<String>,
        /// Session duration, 900–43200 seconds (default 3600).
        pub duration_seconds: Option<u32>,
        #[serde(default = "yes")]
        pub enabled: bool,
        #[serde(default)]
        pub managed_policy_arns: Vec<String>,
        #[schemars(with = "Option<serde_json::Value>")]
        pub session_policy: Option<serde_yaml::Value>,
        #[serde(default)]
        pub accept_role_session_name: bool,
    }
}

fn yes() -> bool {
    true
}
