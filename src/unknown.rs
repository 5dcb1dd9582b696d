//! `(known after apply)`: the one owner of the value a reference to a resource not created yet
//! renders as while planning. Nothing of xpart is imported: lint, user data, the engine and the
//! views all ask it.

use serde_json::Value as Json;

/// A value only known once a dependency exists: what a reference to a resource not created
/// yet renders as while planning.
///
/// Rendered properties are the plan types' own structs, whose fields are strings, so an unknown
/// travels inside them as one reserved text. Only this type writes it and tells it apart: no
/// other code spells or compares the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown;

impl Unknown {
    /// The reserved text, as plans show it.
    pub const TEXT: &'static str = "(known after apply)";

    /// Whether `s` is an unknown value, whole.
    pub fn is(s: &str) -> bool {
        s == Self::TEXT
    }

    /// Whether any part of `s` is unknown (a template with an unknown reference in it).
    pub fn within(s: &str) -> bool {
        s.contains(Self::TEXT)
    }

    /// Whether any string in `v` holds an unknown.
    pub fn in_json(v: &Json) -> bool {
        match v {
            Json::String(s) => Self::within(s),
            Json::Array(a) => a.iter().any(Self::in_json),
            Json::Object(m) => m.values().any(Self::in_json),
            _ => false,
        }
    }
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::TEXT)
    }
}

impl From<Unknown> for String {
    fn from(_: Unknown) -> String {
        Unknown::TEXT.to_string()
    }
}

impl From<Unknown> for Json {
    fn from(_: Unknown) -> Json {
        Json::String(Unknown::TEXT.to_string())
    }
}
