//! What the engine learns from the plan alone, before it reads anything: the serials its
//! CRLs revoke, and which outputs of each resource others refer to.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::template::Template;
use crate::plan::types::Kind;
use crate::plan::Plan;

/// The serials each CA's CRLs in the plan revoke (hex, normalized), by the CA's id: literal in
/// the plan, so known before anything is read.
pub(super) fn revoked_by_ca(spec: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    use crate::plan::types::RolesAnywhereKind;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in spec.resources.values() {
        let Kind::RolesAnywhere(RolesAnywhereKind::Crl(c)) = &r.kind else {
            continue;
        };
        let Some(ca) = ca_of(&c.ca) else {
            continue;
        };
        let serials = c
            .revoked
            .iter()
            .filter_map(|s| crate::pki::crl::normalize_serial(s));
        out.entry(ca).or_default().extend(serials);
    }
    out
}

/// The CA a `ca:` property names: the id in its `${<id>.id}`.
pub(super) fn ca_of(reference: &str) -> Option<String> {
    Template::parse(reference)
        .ok()
        .and_then(|t| t.single_ref().map(|(id, _)| id.to_string()))
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
