//! A resource as it exists (`Live`) and as the plan asks for it (`Desired`), in the terms the
//! planner compares.
//!
//! What a type keeps besides its outputs for update and delete (a key id, association ids…)
//! is its handle: a Rust struct per type (`Resource::Handle`), stored in `Live` in its serde
//! form and read back with `Live::handle::<H>()`. Stored serialized, not as a generic
//! parameter of `Live`, because the engine keeps the Lives of every type in one map keyed by
//! resource id (the read phase's results, the executor's steps), and the one form the saved
//! plan file will write anyway is this serialized one: each handle struct's field names are
//! its stable shape there (a renamed field is a changed file format). A type reads its
//! handle through the struct, so a missing field is an error that names it, never a default.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::error::{Error, Result};
use crate::plan::types::Declared;

/// Comparable attributes, by name.
pub type Attrs = BTreeMap<String, Json>;

/// What a type's handle is: plain data with a serde form (see the module head). `()` is the
/// handle of a type that needs nothing beyond its outputs.
pub trait Handle:
    Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug + PartialEq + Send + Sync
{
}

impl<T> Handle for T where
    T: Serialize + DeserializeOwned + Default + Clone + std::fmt::Debug + PartialEq + Send + Sync
{
}

/// A resource as it exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// What other resources may reference as `${id.attr}` (the type's attributes in
    /// `plan::types::TYPES`): arn, id, name…
    pub outputs: BTreeMap<String, String>,
    /// Attributes compared with `Desired::attrs` (same names, same JSON shapes).
    pub attrs: Attrs,
    /// It carries `xpart:plan` = this plan and `xpart:id` = this resource's id.
    pub owned: bool,
    /// The type's handle in its serde form: written by `with_handle`/`set_handle`, read by
    /// `handle`; private so that no type builds or reads it as loose JSON.
    handle: Json,
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

    /// The same, keeping `handle` for update and delete.
    pub fn with_handle<H: Handle>(mut self, handle: &H) -> Live {
        self.set_handle(handle);
        self
    }

    /// Keep `handle` (replacing the one it had).
    pub fn set_handle<H: Handle>(&mut self, handle: &H) {
        // A handle is a struct of text, numbers, flags and maps keyed by text: its JSON form
        // cannot fail.
        self.handle = serde_json::to_value(handle).expect("a handle has a JSON form");
    }

    /// The handle kept by `with_handle`; an error naming what is missing or malformed when
    /// it is not an `H` (a Live of another type, or none kept).
    pub fn handle<H: Handle>(&self) -> Result<H> {
        serde_json::from_value(self.handle.clone()).map_err(|e| {
            let ty = std::any::type_name::<H>();
            let ty = ty.rsplit("::").next().unwrap_or(ty);
            Error::other(format!("its handle is not a {ty}: {e}"))
        })
    }

    /// The handle in its serde form, as the saved plan will write it (and tests compare it).
    pub fn handle_json(&self) -> &Json {
        &self.handle
    }

    /// A text attribute, empty when it has none of that name (or it is not text): for
    /// attributes whose absence means empty (a description), never for an id.
    pub fn attr_str(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or_default()
    }

    /// One of its outputs; an error naming it when it has none of that name.
    pub fn output(&self, name: &str) -> Result<&str> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| Error::other(format!("its live state has no `{name}` output")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct KeyLike {
        key_id: String,
        alias: Option<String>,
    }

    #[test]
    fn a_handle_keeps_its_serde_shape_and_a_missing_field_is_named() {
        let h = KeyLike {
            key_id: "k-1".into(),
            alias: None,
        };
        let live = Live::default().with_handle(&h);
        assert_eq!(
            live.handle_json(),
            &serde_json::json!({"key_id": "k-1", "alias": null})
        );
        assert_eq!(live.handle::<KeyLike>().unwrap(), h);
        let err = Live::default().handle::<KeyLike>().unwrap_err().to_string();
        assert!(err.contains("KeyLike"), "{err}");
        let err = Live::default()
            .with_handle(&())
            .handle::<KeyLike>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("KeyLike"), "{err}");
    }

    #[test]
    fn a_missing_output_is_an_error_naming_it() {
        let live = Live::new(
            BTreeMap::from([("id".into(), "i-1".into())]),
            Attrs::new(),
            true,
        );
        assert_eq!(live.output("id").unwrap(), "i-1");
        let err = live.output("arn").unwrap_err().to_string();
        assert!(err.contains("`arn`"), "{err}");
    }
}
