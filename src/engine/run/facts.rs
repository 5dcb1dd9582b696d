//! What the engine learns from the plan alone, before it reads anything: what each type keeps
//! from the whole plan (its `Resource::prepare`), and which outputs of each resource others
//! refer to.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::resource::{Extensions, Resource};
use crate::plan::template::Template;
use crate::plan::types::with_type;
use crate::plan::Plan;

/// By resource id, what its type keeps from the whole plan (`Resource::prepare`), for every
/// call made for it (`Ctx::ext`).
pub(super) fn prepared(spec: &Plan) -> BTreeMap<String, Extensions> {
    spec.resources
        .values()
        .map(|r| {
            let mut ext = Extensions::default();
            with_type!(r.type_name.as_str(), T => T::prepare(spec, &r.id, &mut ext), _ => ());
            (r.id.clone(), ext)
        })
        .collect()
}

/// By resource id, the outputs other resources refer to (`${id.attr}` anywhere in their
/// properties).
pub(super) fn referenced_outputs(spec: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in spec.resources.values() {
        let mut leaves = vec![];
        crate::plan::strings_where(
            &r.properties,
            &r.path,
            &crate::plan::has_template,
            &mut leaves,
        );
        for (_, s) in leaves {
            let Ok(t) = Template::parse(s) else { continue };
            for (id, attr, _) in t.refs() {
                out.entry(id.to_string())
                    .or_default()
                    .insert(attr.to_string());
            }
        }
    }
    out
}
