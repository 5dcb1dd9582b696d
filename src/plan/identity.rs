//! A plan's identity (`name:` or `identity:`, rendered, and its lineage), and the rendering of
//! top-level templates that must be known before anything runs.

use std::collections::BTreeMap;

use super::loader::Loader;
use super::template::{Part, Template};
use super::{static_value, PartitionDef, Path};
use crate::diag::Finding;

/// Who owns what a plan creates: every resource it makes carries `xpart:plan` = `name` and
/// `xpart:lineage` = `lineage`, and a resource is the plan's only when both match (and its
/// `xpart:id` names one of the plan's ids).
///
/// `name` is the plan's identity rendered (`identity:`, else `name:`), so two runs with
/// different variables are different plans. `lineage` is a digest of that template as written,
/// so two plans whose names only happen to render alike (`china-${var.s}` with `s=to-x` and
/// `china-to-${var.s}` with `s=x`) are still different plans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanIdentity {
    pub name: String,
    pub lineage: String,
}

impl PlanIdentity {
    /// The identity of a plan whose identity template is `template`, rendered as `name`.
    pub fn new(template: &str, name: &str) -> PlanIdentity {
        PlanIdentity {
            name: name.to_string(),
            lineage: lineage(template),
        }
    }
}

/// The lineage of an identity template: the first 16 hex digits of SHA-256 over its canonical
/// form (`${ var.x }` and `${var.x}` are one template).
pub fn lineage(template: &str) -> String {
    let canonical = match Template::parse(template) {
        Ok(t) => t.to_string(),
        Err(_) => template.to_string(),
    };
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("xpart-lineage-v1\0{canonical}").as_bytes(),
    );
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Render a top-level template that must be fully known without credentials (`name`,
/// `identity`): variables and partition facts, nothing that exists only after apply. The
/// result is literal text; None (with findings) when something in it is not known.
/// `quiet(part)`: the variable or partition of `part` is already reported (declared without a
/// value, or malformed), so its use here is not reported again.
pub(super) fn render_known(
    l: &mut Loader,
    template: &str,
    at: &Path,
    vars: &BTreeMap<String, String>,
    partitions: &BTreeMap<String, PartitionDef>,
    quiet: &dyn Fn(&Part) -> bool,
) -> Option<String> {
    let t = match Template::parse(template) {
        Ok(t) => t,
        Err(e) => {
            let span = l.src.span_within(at, &e.text);
            l.push(Finding::error("XP011", e.message).at(span));
            return None;
        }
    };
    let mut out = String::new();
    let mut ok = true;
    for (part, text) in &t.parts {
        if let Part::Lit(s) = part {
            out.push_str(s);
            continue;
        }
        if let Some(v) = static_value(part, vars, partitions) {
            out.push_str(&v);
            continue;
        }
        ok = false;
        if quiet(part) {
            continue;
        }
        let span = l.src.span_within(at, text);
        let (msg, hint) = match part {
            Part::Var(v) => (
                format!("unknown variable `{v}`"),
                "declare it under `vars:`".to_string(),
            ),
            Part::Fact { partition, .. } if !partitions.contains_key(partition) => (
                format!("partition `{partition}` is not declared under `partitions`"),
                "declare it, or use a variable".to_string(),
            ),
            Part::Fact { .. } => (
                format!("`{text}` is known here only when the partition sets `account:`"),
                "set `account:` on the partition, or use a variable".to_string(),
            ),
            _ => (
                format!("`{text}` is known only after apply; `{at}` must be known before"),
                "use variables (${var.NAME}) and partition facts only".to_string(),
            ),
        };
        let code = if matches!(part, Part::Var(_)) {
            "XP010"
        } else {
            "XP011"
        };
        l.push(Finding::error(code, msg).at(span).hint(hint));
    }
    ok.then_some(out)
}
