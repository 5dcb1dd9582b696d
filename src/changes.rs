//! The change set: what apply would do to bring the world to the plan, as plain data.
//!
//! Computing it (the engine) and rendering it (views) are separate; apply executes exactly the
//! changes listed here. `reason` is for people only and never drives apply.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value as Json;

/// The version of the JSON form (`xpart plan --format json`); bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete then create: some attribute cannot be changed in place.
    Replace,
    Delete,
}

impl Action {
    pub fn glyph(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// What every view and log prints in place of a sensitive value: the one spelling of it.
pub const SENSITIVE: &str = "(sensitive)";

/// One attribute's change. Sensitive values are never carried: `before`/`after` are None and
/// views print `SENSITIVE`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Json>,
    pub after: Option<Json>,
    pub sensitive: bool,
    pub forces_replacement: bool,
    /// For a changed document (a policy, a tag map, a list): what changed inside it, element
    /// by element (`docdiff`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<crate::docdiff::DocChange>,
}

impl AttrChange {
    /// The change of attribute `name` from `before` to `after` (None: absent). A sensitive one
    /// keeps neither side; a document keeps its structured diff (`docdiff`).
    pub fn new(
        name: &str,
        before: Option<&Json>,
        after: Option<&Json>,
        sensitive: bool,
        forces_replacement: bool,
    ) -> AttrChange {
        let shown = |v: Option<&Json>| v.filter(|_| !sensitive).cloned();
        let (before, after) = (shown(before), shown(after));
        let diff = crate::docdiff::between(before.as_ref(), after.as_ref()).unwrap_or_default();
        AttrChange {
            name: name.to_string(),
            before,
            after,
            sensitive,
            forces_replacement,
            diff,
        }
    }

    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Change {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The plan's partition name; None for local resources (pki.*).
    pub partition: Option<String>,
    pub action: Action,
    pub attrs: Vec<AttrChange>,
    /// Why, for people (e.g. "not owned by this plan", "certificate expires in 12 days").
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PartitionInfo {
    pub name: String,
    /// aws or aws-cn
    pub partition: String,
    pub region: String,
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Plan")]
pub struct ChangeSet {
    pub format_version: u32,
    /// The plan's owner name (tag `xpart:plan`).
    pub plan: String,
    pub partitions: Vec<PartitionInfo>,
    pub changes: Vec<Change>,
}

/// Counts of one partition (or of local resources when `partition` is None).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl ChangeSet {
    pub fn counts(&self, partition: Option<&str>) -> Counts {
        let mut c = Counts::default();
        for ch in self
            .changes
            .iter()
            .filter(|c| c.partition.as_deref() == partition)
        {
            match ch.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1;
                }
                Action::Delete => c.destroy += 1,
                Action::NoOp => {}
            }
        }
        c
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn destroys(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
    }
}

/// The JSON Schema of `xpart plan --format json`.
pub fn output_schema() -> Json {
    let g = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    serde_json::to_value(g.into_root_schema_for::<ChangeSet>()).expect("schema is JSON")
}
