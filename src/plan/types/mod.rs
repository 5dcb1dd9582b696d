//! The plan file's shape: serde types for the top level and for each resource type's properties.
//!
//! Strings may hold `${…}` templates (see `template`); they are kept as written here and
//! resolved later. Every struct denies unknown fields, and every resource type spells its
//! name `name` and its links to other resources as references.

use std::collections::BTreeMap;

use schemars::JsonSchema;

plan_data! {
    /// A plan: the whole intent for both partitions.
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
        pub partitions: BTreeMap<String, PartitionEntry>,
        /// Blocks of resources the plan instantiates, by name (see `BlockUse`).
        #[serde(default)]
        pub blocks: BTreeMap<String, BlockSpec>,
        /// Resources by id; the id is how other resources refer to them (`${id.attr}`). An
        /// entry may instead instantiate a block (`BlockUse`).
        #[serde(default)]
        pub resources: BTreeMap<String, ResourceEntry>,
        /// Where `apply` and `destroy` hold the plan's lease, so two runs never both write.
        pub lease: Option<LeaseSpec>,
    }

    /// A block of resources a plan instantiates any number of times, each time with its own
    /// inputs. Inside it, `${input.NAME}` is an input, `${each.key}` the instance's `for_each`
    /// key, `${ID.ATTR}` a resource of the same instance; variables and partition facts as
    /// anywhere. Resources outside the block are not visible: pass them in as inputs.
    pub struct BlockSpec {
        /// A file holding the block (its `inputs`, `resources` and `outputs`, nothing else
        /// here), relative to the plan's directory and inside it.
        pub source: Option<String>,
        /// The block's inputs, used as `${input.NAME}`. A default may use `${each.key}`.
        #[serde(default)]
        pub inputs: BTreeMap<String, VarDecl>,
        /// The block's resources, as under the plan's `resources` (no block inside a block).
        #[serde(default)]
        #[schemars(with = "BTreeMap<String, ResourceEntry>")]
        pub resources: BTreeMap<String, serde_yaml::Value>,
        /// Values other resources may use as `${ENTRY.KEY.NAME}` (`${ENTRY.NAME}` without
        /// `for_each`), e.g. `role_arn: ${role.arn}`.
        #[serde(default)]
        pub outputs: BTreeMap<String, String>,
    }

    /// A resource entry that instantiates a block: once with `inputs`, or once per key of
    /// `for_each`. The instance's resources get the ids `ENTRY.KEY.ID` (`ENTRY.ID` without
    /// `for_each`).
    pub struct BlockUse {
        /// The name of a block under `blocks`.
        pub block: String,
        /// Inputs of every instance; a value may use `${each.key}`.
        #[serde(default)]
        pub inputs: BTreeMap<String, String>,
        /// One instance per key (letters, digits, `_`, `-`), with its own inputs (they take
        /// precedence over `inputs`); the key is `${each.key}` inside the block.
        pub for_each: Option<BTreeMap<String, Option<BTreeMap<String, String>>>>,
    }

    /// Where `apply` and `destroy` hold the plan's lease (see the README, "Locking").
    pub struct LeaseSpec {
        /// The partition that keeps it: the first `aws` partition by name unless set.
        pub partition: Option<String>,
        /// How long a holder that stopped renewing it keeps it, 10–3600 seconds (default 60).
        pub ttl_seconds: Option<u32>,
    }

    pub struct VarDecl {
        /// Value when neither `--var` nor `XPART_VAR_<name>` sets it; without one, it must be set.
        pub default: Option<String>,
        pub description: Option<String>,
    }

    pub struct PartitionEntry {
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

    #[derive(Default)]
    pub struct RetrySpec {
        pub max_attempts: Option<u32>,
        pub initial_backoff_ms: Option<u64>,
        pub max_backoff_ms: Option<u64>,
    }

    #[derive(Default)]
    pub struct TimeoutSpec {
        pub connect_ms: Option<u64>,
        pub attempt_ms: Option<u64>,
        pub operation_ms: Option<u64>,
        /// How long a read may miss a resource just created before "not found" is believed.
        pub read_lag_ms: Option<u64>,
    }

    /// A resource: its type, the partition it lives in (none for local `pki.*`), its properties.
    pub struct ResourceEntry {
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
}

pub type Tags = BTreeMap<String, String>;

// ---- the catalogue of resource types ---------------------------------------------------------
//
// Each family's file declares its types' properties, and in its `family!` list one row per
// type with every fact the rest of xpart needs of it (the `Declared` impl), in one place. The
// list also generates the family's part of `Kind`, `TYPES` and the dispatch; the families are
// listed once here. A row that leaves out a fact, or a type whose module lacks an engine or
// lint impl, does not compile.

mod family;
use family::{family, plan_data};
pub mod ec2;
pub mod iam;
pub mod kms;
pub mod pki;
pub mod rolesanywhere;
pub mod secretsmanager;

pub use ec2::*;
pub use iam::*;
pub use kms::*;
pub use pki::*;
pub use rolesanywhere::*;
pub use secretsmanager::*;

/// Everything the rest of xpart must know of one plan type, declared beside its properties.
/// Nothing has a default: a type that leaves an item out does not compile.
pub trait Declared: Member + JsonSchema + serde::de::DeserializeOwned + Send + Sync {
    /// Its name in plans (`iam.role`).
    const NAME: &'static str;
    /// Attributes other resources may reference as `${id.attr}`.
    const ATTRS: &'static [&'static str];
    /// Where it lives and how the search for a plan's orphans finds it.
    const FOUND: Found;
    /// Orphans of one partition are deleted by rank, lowest first: a type ranks below every
    /// type it refers to (the test `every_reference_names_a_known_type_and_is_deleted_first` holds this), so what uses
    /// a resource goes before it. Unused for local types.
    const DELETE_RANK: u8;
    /// Properties that name another resource, with that resource's type. A path is dotted
    /// property names; `[]` after one means each element of its list.
    const REFERENCES: &'static [(&'static str, &'static str)];
    /// Properties whose values are never shown (in plans, diffs or logs).
    const SENSITIVE: &'static [&'static str];
}

/// The link between a type and `Kind`: generated by `family!`, never written by hand.
pub trait Member: Sized {
    fn into_kind(self) -> Kind;
    fn from_kind(k: &Kind) -> Option<&Self>;
}

/// Where a type's resources live, and how xpart finds the ones a plan owns but no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Files on this machine (`pki.*`): no partition, nothing to search.
    Local,
    /// In a partition, found by the tagging index (GetResources) under ARNs
    /// `arn:<partition>:<service>:<region>:<account>:<resource>/<id>` (or `<resource>:<id>`).
    Tagged {
        service: &'static str,
        resource: &'static str,
    },
    /// In a partition, outside the tagging index (IAM is global): the type's own
    /// `find_owned` lists them on every plan.
    Listed,
}

/// What the plan language knows of each resource type: `Declared`, as data.
pub struct TypeInfo {
    pub name: &'static str,
    pub attrs: &'static [&'static str],
    pub found: Found,
    pub delete_rank: u8,
    pub references: &'static [(&'static str, &'static str)],
    pub sensitive: &'static [&'static str],
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Deserialize `properties` as this type's; the error path is relative to them.
    pub parse: fn(serde_yaml::Value) -> Result<Kind, PropertiesError>,
}

impl TypeInfo {
    /// Local types (`pki.*`) have no partition; all others need one.
    pub fn is_local(&self) -> bool {
        self.found == Found::Local
    }
}

pub type PropertiesError = serde_path_to_error::Error<serde_yaml::Error>;

impl TypeInfo {
    pub const fn of<T: Declared>() -> TypeInfo {
        TypeInfo {
            name: T::NAME,
            attrs: T::ATTRS,
            found: T::FOUND,
            delete_rank: T::DELETE_RANK,
            references: T::REFERENCES,
            sensitive: T::SENSITIVE,
            schema: schema_of::<T>,
            parse: parse_as::<T>,
        }
    }
}

fn schema_of<T: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

fn parse_as<T: Declared>(v: serde_yaml::Value) -> Result<Kind, PropertiesError> {
    serde_path_to_error::deserialize::<_, T>(v).map(T::into_kind)
}

/// The typed properties of a resource: one variant per family (see `family!`).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Pki(PkiKind),
    SecretsManager(SecretsManagerKind),
    Kms(KmsKind),
    Iam(IamKind),
    RolesAnywhere(RolesAnywhereKind),
    Ec2(Ec2Kind),
}

/// Every type, in the order plans list them in the schema.
pub fn types() -> impl Iterator<Item = &'static TypeInfo> {
    [
        pki::TYPES,
        secretsmanager::TYPES,
        kms::TYPES,
        iam::TYPES,
        rolesanywhere::TYPES,
        ec2::TYPES,
    ]
    .into_iter()
    .flatten()
}

pub fn type_info(name: &str) -> Option<&'static TypeInfo> {
    types().find(|t| t.name == name)
}

/// Evaluate `$body` with `$p` bound to the typed properties in a `&Kind` and `$T` their type:
/// the one dispatch over types, which the engine (`Resource`) and lint (`Rules`) use.
macro_rules! with_props {
    ($kind:expr, |$p:ident, $T:ident| $body:expr) => {{
        use $crate::plan::types as ty;
        match $kind {
            ty::Kind::Pki(k) => ty::pki::pki_props!(k, |$p, $T| $body),
            ty::Kind::SecretsManager(k) => {
                ty::secretsmanager::secretsmanager_props!(k, |$p, $T| $body)
            }
            ty::Kind::Kms(k) => ty::kms::kms_props!(k, |$p, $T| $body),
            ty::Kind::Iam(k) => ty::iam::iam_props!(k, |$p, $T| $body),
            ty::Kind::RolesAnywhere(k) => {
                ty::rolesanywhere::rolesanywhere_props!(k, |$p, $T| $body)
            }
            ty::Kind::Ec2(k) => ty::ec2::ec2_props!(k, |$p, $T| $body),
        }
    }};
}
pub(crate) use with_props;

/// Evaluate `$body` with `$T` the properties type of the plan type named `$name`; `$fallback`
/// for a name no type has.
macro_rules! with_type {
    ($name:expr, $T:ident => $body:expr, _ => $fallback:expr) => {{
        use $crate::plan::types as ty;
        let name: &str = $name;
        'found: {
            ty::pki::pki_type!(name, $T => break 'found $body);
            ty::secretsmanager::secretsmanager_type!(name, $T => break 'found $body);
            ty::kms::kms_type!(name, $T => break 'found $body);
            ty::iam::iam_type!(name, $T => break 'found $body);
            ty::rolesanywhere::rolesanywhere_type!(name, $T => break 'found $body);
            ty::ec2::ec2_type!(name, $T => break 'found $body);
            $fallback
        }
    }};
}
pub(crate) use with_type;

impl Kind {
    /// Deserialize `properties` as the given type's; None for an unknown type.
    pub fn from_properties(
        type_name: &str,
        props: serde_yaml::Value,
    ) -> Option<Result<Kind, PropertiesError>> {
        type_info(type_name).map(|t| (t.parse)(props))
    }

    pub fn type_name(&self) -> &'static str {
        with_props!(self, |_p, T| <T as Declared>::NAME)
    }

    /// The properties, if they are a `T`'s.
    pub fn get<T: Member>(&self) -> Option<&T> {
        T::from_kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_named_after_their_family() {
        let mut seen = std::collections::BTreeSet::new();
        for t in types() {
            assert!(seen.insert(t.name), "{} declared twice", t.name);
            let (family, member) = t.name.split_once('.').expect("family.member");
            assert!(!family.is_empty() && !member.is_empty(), "{}", t.name);
            // A local type is a pki one, and only pki types are local.
            assert_eq!(t.is_local(), family == "pki", "{}", t.name);
        }
        assert!(seen.len() > 1);
    }

    #[test]
    fn every_reference_names_a_known_type_and_is_deleted_first() {
        for t in types() {
            for (path, target) in t.references {
                let u = type_info(target).unwrap_or_else(|| panic!("{}.{path}: {target}", t.name));
                if !t.is_local() && !u.is_local() {
                    assert!(
                        t.delete_rank < u.delete_rank,
                        "{} refers to {target} ({path}), so it must be deleted before it",
                        t.name
                    );
                }
            }
        }
    }

    #[test]
    fn delete_ranks_order_every_partition_type() {
        let mut ranks: Vec<(u8, &str)> = types()
            .filter(|t| !t.is_local())
            .map(|t| (t.delete_rank, t.name))
            .collect();
        ranks.sort();
        for w in ranks.windows(2) {
            assert!(w[0].0 < w[1].0, "{} and {} share a rank", w[0].1, w[1].1);
        }
    }

    #[test]
    fn every_partition_type_is_found_one_way_and_has_an_id() {
        for t in types().filter(|t| !t.is_local()) {
            assert_ne!(t.found, Found::Local, "{}", t.name);
            assert!(
                t.attrs.contains(&"id") && t.attrs.contains(&"arn"),
                "{}",
                t.name
            );
        }
        let tagged: Vec<_> = types()
            .filter_map(|t| match t.found {
                Found::Tagged { service, resource } => Some((service, resource)),
                _ => None,
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = tagged.iter().collect();
        assert_eq!(distinct.len(), tagged.len(), "two types share an ARN form");
    }

    #[test]
    fn the_dispatch_by_name_reaches_every_type() {
        // `with_type!` falls back for a name no family's list has; a family missing from it
        // would leave its types' orphans undeleted, so every catalogued name must get through.
        for t in types() {
            let found = with_type!(t.name, T => <T as Declared>::NAME, _ => "none");
            assert_eq!(found, t.name);
        }
        assert_eq!(
            with_type!("ec2.nope", T => <T as Declared>::NAME, _ => "none"),
            "none"
        );
    }

    #[test]
    fn properties_parse_into_their_own_type() {
        let vpc: serde_yaml::Value = serde_yaml::from_str("{name: n, cidr: 10.0.0.0/16}").unwrap();
        let k = Kind::from_properties("ec2.vpc", vpc).unwrap().unwrap();
        assert_eq!(k.type_name(), "ec2.vpc");
        assert_eq!(k.get::<Vpc>().map(|v| v.cidr.as_str()), Some("10.0.0.0/16"));
        assert!(k.get::<Subnet>().is_none());
        assert!(Kind::from_properties("ec2.nope", serde_yaml::Value::Null).is_none());
    }

    #[test]
    fn sensitive_properties_are_properties_of_the_type() {
        for t in types() {
            // The type's schema is a reference into the generator's definitions.
            let mut g = schemars::SchemaGenerator::default();
            let schema = serde_json::to_value((t.schema)(&mut g)).unwrap();
            let text = format!(
                "{schema} {}",
                serde_json::to_value(g.definitions()).unwrap()
            );
            for s in t.sensitive {
                assert!(text.contains(&format!("\"{s}\"")), "{}: {s}", t.name);
            }
        }
    }
}
