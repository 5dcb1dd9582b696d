//! `rolesanywhere.*`: trust anchors and profiles, the bridge between partitions.

use super::Found;

super::family! {
    module: rolesanywhere, variant: RolesAnywhere, kinds: RolesAnywhereKind, props: rolesanywhere_props, types: rolesanywhere_type;
    TrustAnchor => name "rolesanywhere.trust_anchor", attrs ["arn", "id", "name"], found Found::Tagged { service: "rolesanywhere", resource: "trust-anchor" }, delete_rank 12, references [("ca", "pki.ca"), ("cas", "pki.ca")], sensitive [];
    Profile => name "rolesanywhere.profile", attrs ["arn", "id", "name"], found Found::Tagged { service: "rolesanywhere", resource: "profile" }, delete_rank 6, references [("roles", "iam.role")], sensitive [];
    Crl => name "rolesanywhere.crl", attrs ["arn", "id", "name"], found Found::Tagged { service: "rolesanywhere", resource: "crl" }, delete_rank 7, references [("trust_anchor", "rolesanywhere.trust_anchor"), ("ca", "pki.ca")], sensitive [];
}

super::plan_data! {
    /// `rolesanywhere.trust_anchor`
    tagged pub struct TrustAnchor {
        pub name: String,
        /// `${<ca>.id}` of a `pki.ca`; or `cas`; or `certificate_file`.
        pub ca: Option<String>,
        /// Several CAs in one bundle (`[${old.id}, ${new.id}]`): a CA rotation, during which
        /// certificates of either are accepted.
        #[serde(default)]
        pub cas: Vec<String>,
        pub certificate_file: Option<String>,
        #[serde(default = "yes")]
        pub enabled: bool,
        /// Expiry notifications, per event; an event left out keeps Roles Anywhere's default
        /// setting (and one customized outside the plan is reset to it).
        #[serde(default)]
        pub notifications: Notifications,
    }

    /// `rolesanywhere.crl`: the certificates a trust anchor no longer accepts. xpart makes
    /// the revocation list, signs it with the anchor's CA (in KMS or in files), imports it for
    /// the anchor and keeps it enabled; a change of the list signs and updates it in place.
    tagged pub struct Crl {
        pub name: String,
        /// `${<anchor>.arn}` of the trust anchor it is for.
        pub trust_anchor: String,
        /// `${<ca>.id}` of the `pki.ca` that signs it: the anchor's CA.
        pub ca: String,
        /// Serial numbers of the revoked certificates, hex (`1a2b…` or `1A:2B:…`); a
        /// certificate issued into a secret shows its own as the secret's
        /// `xpart:cert-serial-hex` tag.
        #[serde(default)]
        pub revoked: Vec<String>,
        #[serde(default = "yes")]
        pub enabled: bool,
        /// Days the list holds (its nextUpdate), 1–3650, default 365: signed again once
        /// fewer than a quarter of them are left.
        pub validity_days: Option<u32>,
    }

    /// `notifications:` of a trust anchor. Roles Anywhere notifies through every channel it
    /// has (CloudWatch metrics, EventBridge, Health Dashboard: its only channel, `ALL`).
    #[derive(Default)]
    pub struct Notifications {
        /// The anchor's CA certificate nears its end.
        pub ca_certificate_expiry: Option<Notification>,
        /// A certificate that authenticated with the anchor nears its end.
        pub end_entity_certificate_expiry: Option<Notification>,
    }

    /// One expiry notification.
    pub struct Notification {
        #[serde(default = "yes")]
        pub enabled: bool,
        /// Days before the expiry, 1–360; required when enabled.
        pub threshold_days: Option<u32>,
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
        /// Which certificate fields become session tags: by field (`x509Subject`,
        /// `x509Issuer`, `x509SAN`), its specifiers (`CN`, `OU`, `*`, `DNS`, `URI`,
        /// `Name/*`…). Given, it is the whole mapping (a field left out maps nothing); left
        /// out, Roles Anywhere's default mapping.
        pub attribute_mappings: Option<std::collections::BTreeMap<CertificateField, Vec<String>>>,
    }
}

/// A certificate field an attribute mapping takes values from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
pub enum CertificateField {
    #[serde(rename = "x509Subject")]
    Subject,
    #[serde(rename = "x509Issuer")]
    Issuer,
    #[serde(rename = "x509SAN")]
    San,
}

impl CertificateField {
    pub const ALL: [CertificateField; 3] = [Self::Subject, Self::Issuer, Self::San];

    /// The field's name in the API (`x509Subject`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "x509Subject",
            Self::Issuer => "x509Issuer",
            Self::San => "x509SAN",
        }
    }

    /// Roles Anywhere's mapping for a profile made without one (User Guide, "Certificate
    /// attribute mapping", default mapping behavior).
    pub fn default_specifiers(self) -> &'static [&'static str] {
        match self {
            Self::Subject | Self::Issuer => &["*"],
            Self::San => &["DNS", "URI", "Name/*"],
        }
    }
}

impl TrustAnchor {
    /// The `pki.ca` references of the anchor: `ca`, or each of `cas`.
    pub fn ca_refs(&self) -> Vec<&str> {
        self.ca
            .iter()
            .chain(&self.cas)
            .map(String::as_str)
            .collect()
    }
}

fn yes() -> bool {
    true
}
