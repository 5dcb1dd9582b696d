//! The plan's variables: their declarations, and their values from `--var`, `XPART_VAR_*` or
//! the declared default.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::loader::{entries, Entries, Loader};
use super::types::VarDecl;
use super::{LoadOptions, Path};
use crate::diag::Finding;

/// The variables as loaded. A value is literal text (see `Template::render`).
#[derive(Debug, Default)]
pub(super) struct Vars {
    pub(super) values: BTreeMap<String, String>,
    decls: BTreeMap<String, VarDecl>,
    /// Declared, but malformed (reported): still counts as declared.
    broken: BTreeSet<String>,
    /// `vars` is there but not a mapping: no use of a variable is reported as unknown.
    all_broken: bool,
}

impl Vars {
    /// Each declaration on its own, so one malformed declaration is one finding and its
    /// variable still counts as declared (no "unknown variable" at every use).
    pub(super) fn read(l: &mut Loader, value: Option<Value>, opts: &LoadOptions) -> Vars {
        let at = Path::root().key("vars");
        let mut vars = Vars::default();
        match entries(l, value, &at) {
            Entries::All(m) => {
                for (k, v) in m {
                    match l.typed(v, &at.key(&k)) {
                        Some(d) => {
                            vars.decls.insert(k, d);
                        }
                        None => {
                            vars.broken.insert(k);
                        }
                    }
                }
            }
            Entries::Broken => vars.all_broken = true,
        }
        for (k, d) in &vars.decls {
            let value = opts
                .vars
                .get(k)
                .or_else(|| opts.env.get(k))
                .or(d.default.as_ref());
            match value {
                Some(v) => {
                    vars.values.insert(k.clone(), v.clone());
                }
                None => l.push(
                    Finding::error("XP010", format!("variable `{k}` has no value"))
                        .at(l.src.key_span(&at.key(k)))
                        .hint(format!(
                            "give it a default, or pass --var {k}=VALUE or XPART_VAR_{k}"
                        )),
                ),
            }
        }
        for k in opts.vars.keys() {
            if !vars.decls.contains_key(k) && !vars.broken.contains(k) && !vars.all_broken {
                l.push(
                    Finding::error(
                        "XP010",
                        format!("--var {k} is given but the plan declares no variable `{k}`"),
                    )
                    .at(l.src.key_span(&at))
                    .hint(format!("declare it under `vars:` or drop --var {k}")),
                );
            }
        }
        vars
    }

    /// Whether a use of `name` without a value is reported already (declared without a value,
    /// or its declaration is malformed), so that the use is not reported again.
    pub(super) fn reported(&self, name: &str) -> bool {
        self.decls.contains_key(name) || self.broken.contains(name) || self.all_broken
    }
}
