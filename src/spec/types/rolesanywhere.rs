//! `rolesanywhere.*`: trust anchors and profiles, the bridge between partitions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Declared, Found, Tags};

super::family! {
    module: rolesanywhere, variant: RolesAnywhere, kinds: RolesAnywhereKind, props: rolesanywhere_props, types: rolesanywhere_type;
    TrustAnchor, Profile
}

/// `rolesanywhere.trust_anchor`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustAnchor {
    pub name: String,
    /// `${<ca>.id}` of a `pki.ca`; or `certificate_file`.
    pub ca: Option<String>,
    pub certificate_file: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub tags: Tags,
}

impl Declared for TrustAnchor {
    const NAME: &'static str = "rolesanywhere.trust_anchor";
    const ATTRS: &'static [&'static str] = &["arn", "id", "name"];
    const FOUND: Found = Found::Tagged {
        service: "rolesanywhere",
        resource: "trust-anchor",
    };
    const DELETE_RANK: u8 = 12;
    const REFERENCES: &'static [(&'static str, &'static str)] = &[("ca", "pki.ca")];
    const SENSITIVE: &'static [&'static str] = &[];
}

/// `rolesanywhere.profile`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
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
    #[serde(default)]
    pub tags: Tags,
}

impl Declared for Profile {
    const NAME: &'static str = "rolesanywhere.profile";
    const ATTRS: &'static [&'static str] = &["arn", "id", "name"];
    const FOUND: Found = Found::Tagged {
        service: "rolesanywhere",
        resource: "profile",
    };
    const DELETE_RANK: u8 = 6;
    const REFERENCES: &'static [(&'static str, &'static str)] = &[("roles", "iam.role")];
    const SENSITIVE: &'static [&'static str] = &[];
}

fn yes() -> bool {
    true
}
