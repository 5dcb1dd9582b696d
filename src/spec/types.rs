//! The plan file's shape: serde types for the top level and for each resource type's properties.
//!
//! Strings may hold `${…}` templates (see `template`); they are kept as written here and
//! resolved later. Every struct denies unknown fields, and every resource type spells its
//! name `name` and its links to other resources as references.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A plan: the whole intent for both partitions.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Plan format version; this xpart reads version 1.
    pub version: u32,
    /// The plan's name: shown in plans, and (unless `identity` is set) the owner identity
    /// stamped on everything the plan creates (tags `xpart:plan` and `xpart:lineage`).
    pub name: String,
    /// The owner identity, when it must differ from `name`: after renaming a plan, set it to the
    /// former `name` (as written) and the plan keeps owning what it created under that name.
    pub identity: Option<String>,
    /// Variables, used as `${var.NAME}`; set by `--var NAME=VALUE` or `XPART_VAR_NAME`.
    #[serde(default)]
    pub vars: BTreeMap<String, VarDecl>,
    /// The partitions the plan works in, by a name of the plan's choosing (e.g. commercial, china).
    pub partitions: BTreeMap<String, PartitionSpec>,
    /// Resources by id; the id is how other resources refer to them (`${id.attr}`).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VarDecl {
    /// Value when neither `--var` nor `XPART_VAR_<name>` sets it; without one, it must be set.
    pub default: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// The region; the partition (aws or aws-cn) follows from it.
    pub region: String,
    /// Optional check: the partition the region must belong to.
    pub partition: Option<String>,
    /// AWS shared-config profile (overridable with `--profile NAME=PROFILE`).
    pub profile: Option<String>,
    /// Expected 12-digit account id; apply and destroy refuse another.
    pub account: Option<String>,
    #[serde(default)]
    pub retry: RetrySpec,
    #[serde(default)]
    pub timeouts: TimeoutSpec,
    /// How many calls may run at once in this partition.
    pub concurrency: Option<u32>,
    /// Service principal overrides, e.g. `ec2: ec2.amazonaws.com`.
    #[serde(default)]
    pub service_principals: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    pub max_attempts: Option<u32>,
    pub initial_backoff_ms: Option<u64>,
    pub max_backoff_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSpec {
    pub connect_ms: Option<u64>,
    pub attempt_ms: Option<u64>,
    pub operation_ms: Option<u64>,
}

/// A resource: its type, the partition it lives in (none for local `pki.*`), its properties.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    #[serde(rename = "type")]
    pub type_name: String,
    pub partition: Option<String>,
    /// Checked against the type's own schema (see `Kind`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub properties: serde_yaml::Value,
    /// Extra ordering edges beyond the references in properties.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

pub type Tags = BTreeMap<String, String>;

// ---- pki -----------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub country: Option<String>,
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

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub algorithm: KeyAlgorithm,
    /// RSA: 2048, 3072 or 4096.
    pub bits: Option<u32>,
    /// ECDSA: p256 or p384.
    pub curve: Option<Curve>,
}

/// A PEM certificate and key the user brings instead of generating them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Import {
    pub certificate_file: String,
    pub key_file: Option<String>,
}

/// `pki.ca`: a root CA made (or imported) locally.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PkiCa {
    pub subject: Option<Subject>,
    pub key: Option<KeySpec>,
    pub validity_days: Option<u32>,
    /// Directory for the certificate and key files, inside the plan's state directory
    /// (default `pki`: `.xpart/<plan>/pki`).
    pub dir: Option<String>,
    pub import: Option<Import>,
}

/// `pki.cert`: a client certificate issued by a `pki.ca`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
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

// ---- secrets and keys ----------------------------------------------------------------

/// Where a secret's value comes from: exactly one of these.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    /// An environment variable of the process running xpart.
    pub env: Option<String>,
    /// A file (e.g. `${workload_cert.key_file}`).
    pub file: Option<String>,
    /// Generated once by the service (GetRandomPassword).
    pub generate: Option<Generate>,
    /// A value written in the plan: an error unless `allow_literal: true`.
    pub literal: Option<String>,
}

impl SecretValue {
    /// How many sources are set: a plan must set exactly one.
    pub fn sources(&self) -> usize {
        [
            self.env.is_some(),
            self.file.is_some(),
            self.generate.is_some(),
            self.literal.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub length: Option<u32>,
    #[serde(default)]
    pub exclude_punctuation: bool,
}

/// `secretsmanager.secret`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
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
    #[serde(default)]
    pub tags: Tags,
}

/// `kms.key`: a symmetric key with a generated key policy (or a raw one).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KmsKey {
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
    #[serde(default)]
    pub tags: Tags,
}

// ---- IAM -----------------------------------------------------------------

/// Who may assume a role: exactly one of these.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// A service by short name (`ec2`); its principal comes from the partition table.
    pub service: Option<String>,
    pub roles_anywhere: Option<RolesAnywhereTrust>,
    /// A raw trust policy document.
    #[schemars(with = "Option<serde_json::Value>")]
    pub document: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RolesAnywhereTrust {
    /// `${<anchor>.arn}`: bound with an `aws:SourceArn` condition.
    pub trust_anchor: String,
    /// Certificate subject CN allowed to assume the role (`aws:PrincipalTag/x509Subject/CN`).
    pub subject_cn: Option<String>,
}

/// An inline policy: statements, or a raw document.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InlinePolicy {
    #[serde(default)]
    pub statements: Vec<Statement>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub document: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// `iam.role`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    pub path: Option<String>,
    pub description: Option<String>,
    pub trust: Trust,
    /// Inline policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, InlinePolicy>,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    pub max_session_duration: Option<u32>,
    #[serde(default)]
    pub tags: Tags,
}

/// `iam.instance_profile`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfile {
    pub name: String,
    pub path: Option<String>,
    /// `${<role>.name}`
    pub role: String,
    #[serde(default)]
    pub tags: Tags,
}

// ---- Roles Anywhere ------------------------------------------------------

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

fn yes() -> bool {
    true
}

// ---- EC2 -----------------------------------------------------------------

/// `ec2.vpc`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    pub name: String,
    pub cidr: String,
    #[serde(default)]
    pub tags: Tags,
}

/// `ec2.subnet`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    pub name: String,
    /// `${<vpc>.id}`
    pub vpc: String,
    pub cidr: String,
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
    #[serde(default)]
    pub tags: Tags,
}

/// `ec2.internet_gateway`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InternetGateway {
    pub name: String,
    pub vpc: String,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub destination: String,
    /// `${<igw>.id}`
    pub gateway: String,
}

/// `ec2.route_table`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    pub name: String,
    pub vpc: String,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// `${<subnet>.id}` of subnets to associate.
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ingress {
    /// tcp, udp, icmp or -1 (all).
    pub protocol: String,
    pub port: Option<u16>,
    pub from_port: Option<u16>,
    pub to_port: Option<u16>,
    pub cidr: String,
    pub description: Option<String>,
}

/// `ec2.security_group`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    pub name: String,
    pub vpc: String,
    pub description: Option<String>,
    #[serde(default)]
    pub ingress: Vec<Ingress>,
    #[serde(default)]
    pub tags: Tags,
}

/// `ec2.instance`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub ami: String,
    pub instance_type: String,
    pub subnet: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `${<profile>.name}` of an `iam.instance_profile`.
    pub instance_profile: Option<String>,
    #[serde(default)]
    pub associate_public_ip: bool,
    pub key_name: Option<String>,
    /// Workload bootstrap settings (certificate, key, credential helper, AWS config).
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub bootstrap: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tags: Tags,
}

/// The typed properties of a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    PkiCa(PkiCa),
    PkiCert(PkiCert),
    Secret(Secret),
    KmsKey(KmsKey),
    Role(Role),
    InstanceProfile(InstanceProfile),
    TrustAnchor(TrustAnchor),
    Profile(Profile),
    Vpc(Vpc),
    Subnet(Subnet),
    InternetGateway(InternetGateway),
    RouteTable(RouteTable),
    SecurityGroup(SecurityGroup),
    Instance(Instance),
}

/// What the plan language knows of each resource type.
pub struct TypeInfo {
    pub name: &'static str,
    /// Local types (pki.*) have no partition; all others need one.
    pub local: bool,
    /// Attributes other resources may reference as `${id.attr}`.
    pub attrs: &'static [&'static str],
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

macro_rules! types {
    ($( $name:literal => $ty:ident, $local:expr, [$($attr:literal),*] ;)*) => {
        pub static TYPES: &[TypeInfo] = &[
            $( TypeInfo { name: $name, local: $local, attrs: &[$($attr),*], schema: |g| g.subschema_for::<$ty>() }, )*
        ];

        impl Kind {
            /// Deserialize `properties` as the given type's; the error path is relative to it.
            pub fn from_properties(
                type_name: &str,
                props: serde_yaml::Value,
            ) -> Option<Result<Kind, serde_path_to_error::Error<serde_yaml::Error>>> {
                match type_name {
                    $( $name => Some(serde_path_to_error::deserialize(props).map(Kind::$ty)), )*
                    _ => None,
                }
            }

            pub fn type_name(&self) -> &'static str {
                match self { $( Kind::$ty(_) => $name, )* }
            }
        }
    };
}

types! {
    "pki.ca" => PkiCa, true, ["id", "cert_file", "key_file", "cert_pem"];
    "pki.cert" => PkiCert, true, ["id", "cert_file", "key_file", "cert_pem", "serial"];
    "secretsmanager.secret" => Secret, false, ["arn", "name", "id"];
    "kms.key" => KmsKey, false, ["arn", "id", "alias", "alias_arn"];
    "iam.role" => Role, false, ["arn", "name", "id"];
    "iam.instance_profile" => InstanceProfile, false, ["arn", "name", "id"];
    "rolesanywhere.trust_anchor" => TrustAnchor, false, ["arn", "id", "name"];
    "rolesanywhere.profile" => Profile, false, ["arn", "id", "name"];
    "ec2.vpc" => Vpc, false, ["id", "arn", "name"];
    "ec2.subnet" => Subnet, false, ["id", "arn", "name"];
    "ec2.internet_gateway" => InternetGateway, false, ["id", "arn", "name"];
    "ec2.route_table" => RouteTable, false, ["id", "arn", "name"];
    "ec2.security_group" => SecurityGroup, false, ["id", "arn", "name"];
    "ec2.instance" => Instance, false, ["id", "arn", "name", "private_ip", "public_ip"];
}

pub fn type_info(name: &str) -> Option<&'static TypeInfo> {
    TYPES.iter().find(|t| t.name == name)
}
