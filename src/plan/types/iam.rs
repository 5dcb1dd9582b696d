//! `iam.*`: roles, their trust and inline policies, and instance profiles.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Found;

super::family! {
    module: iam, variant: Iam, kinds: IamKind, props: iam_props, types: iam_type;
    Role => name "iam.role", attrs ["arn", "name", "id"], found Found::Listed, delete_rank 11, references [("trust.roles_anywhere.trust_anchor", "rolesanywhere.trust_anchor")], sensitive [];
    InstanceProfile => name "iam.instance_profile", attrs ["arn", "name", "id"], found Found::Listed, delete_rank 8, references [("role", "iam.role")], sensitive [];
}

super::plan_data! {
    /// Who may assume a role: exactly one of these.
    #[derive(Default)]
    pub struct Trust {
        /// A service by short name (`ec2`); its principal comes from the partition table.
        pub service: Option<String>,
        pub roles_anywhere: Option<RolesAnywhereTrust>,
        /// A raw trust policy document.
        #[schemars(with = "Option<serde_json::Value>")]
        pub document: Option<serde_yaml::Value>,
    }

    pub struct RolesAnywhereTrust {
        /// `${<anchor>.arn}`: bound with an `aws:SourceArn` condition.
        pub trust_anchor: String,
        /// Certificate subject CN allowed to assume the role (`aws:PrincipalTag/x509Subject/CN`).
        pub subject_cn: Option<String>,
    }

    /// An inline policy: statements, or a raw document.
    #[derive(Default)]
    pub struct InlinePolicy {
        #[serde(default)]
        pub statements: Vec<Statement>,
        #[schemars(with = "Option<serde_json::Value>")]
        pub document: Option<serde_yaml::Value>,
    }

    pub struct Statement {
        pub sid: Option<String>,
        #[serde(default)]
        pub effect: Effect,
        pub actions: Vec<String>,
        pub resources: Vec<String>,
    }

    /// `iam.role`
    tagged pub struct Role {
        pub name: String,
        /// Default: the plan's IAM path `/xpart/<plan name>/`, where xpart finds its own roles
        /// (also once the plan no longer has them). A declared path is used as written: `/`
        /// keeps a role made outside xpart, or by an xpart before the plan's path, where it is.
        pub path: Option<String>,
        pub description: Option<String>,
        pub trust: Trust,
        /// Inline policies by name.
        #[serde(default)]
        pub policies: BTreeMap<String, InlinePolicy>,
        #[serde(default)]
        pub managed_policy_arns: Vec<String>,
        pub max_session_duration: Option<u32>,
    }

    /// `iam.instance_profile`
    tagged pub struct InstanceProfile {
        pub name: String,
        /// Default: the plan's IAM path `/xpart/<plan name>/`, as a role's.
        pub path: Option<String>,
        /// `${<role>.name}`
        pub role: String,
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}
