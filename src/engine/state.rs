//! A resource as it exists (`Live`) and as the plan asks for it (`Desired`), in the terms the
//! planner compares.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use crate::plan::types::Declared;

/// Comparable attributes, by name.
pub type Attrs = BTreeMap<String, Json>;

/// A resource as it exists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// What other resources may reference as `${id.attr}` (the type's attributes in
    /// `plan::types::TYPES`): arn, id, name…
    pub outputs: BTreeMap<String, String>,
    /// Attributes compared with `Desired::attrs` (same names, same JSON shapes).
    pub attrs: Attrs,
    /// It carries `xpart:plan` = this plan and `xpart:id` = this resource's id.
    pub owned: bool,
    /// Whatever update and delete need besides `outputs` (association ids, key id…).
    pub handle: Json,
}

impl Live {
    /// A resource that needs nothing beyond its outputs to be updated or deleted.
    pub fn new(outputs: BTreeMap<String, String>, attrs: Attrs, owned: bool) -> Live {
        Live {
            outputs,
            attrs,
            owned,
            handle: Json::Null,
        }
    }

    /// A text attribute, empty when it has none of that name (or it is not text).
    pub fn attr_str(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or_default()
    }

    /// One of its outputs, empty when it has none of that name.
    pub fn output(&self, name: &str) -> String {
        self.outputs.get(name).cloned().unwrap_or_default()
    }
}

/// The attributes whose desired value differs from the live one, or is not known yet (it
/// holds `(known after apply)`): what a plan shows as changed and an update brings to the
/// plan. The one comparison of attributes; types and tests use it too.
pub fn changed_attrs(desired: &Desired, live: &Live) -> BTreeSet<String> {
    desired
        .attrs
        .iter()
        .filter(|(k, v)| live.attrs.get(*k) != Some(*v) || crate::unknown::Unknown::in_json(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// What the plan asks for, in the same terms as `Live::attrs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    pub attrs: Attrs,
    /// Attributes never shown (secret values): the plan says `(sensitive)`.
    pub sensitive: BTreeSet<String>,
    /// Attributes that cannot change in place: a difference replaces the resource.
    pub replace_on: BTreeSet<String>,
}

impl Desired {
    /// Nothing yet, with the attributes type `T` declares sensitive marked so.
    pub fn of<T: Declared>() -> Desired {
        Desired {
            sensitive: T::SENSITIVE.iter().map(|k| k.to_string()).collect(),
            ..Desired::default()
        }
    }
    pub fn attr(mut self, name: &str, v: impl Into<Json>) -> Desired {
        self.attrs.insert(name.to_string(), v.into());
        self
    }
    pub fn sensitive(mut self, name: &str) -> Desired {
        self.sensitive.insert(name.to_string());
        self
    }
    pub fn forces_replacement(mut self, names: &[&str]) -> Desired {
        self.replace_on.extend(names.iter().map(|n| n.to_string()));
        self
    }
}
