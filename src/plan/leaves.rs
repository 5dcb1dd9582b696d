//! Walks over the string leaves of a plan value: the ones that may hold templates, with their
//! paths when asked for, and rewriting them in place.

use serde_yaml::Value;

use super::{Path, Seg};

/// Every string leaf under `v`, with its path.
pub fn strings<'v>(v: &'v Value, at: &Path, out: &mut Vec<(Path, &'v str)>) {
    strings_where(v, at, &|_| true, out)
}

/// One step of a path inside a value, borrowed from it (see `strings_where`).
#[derive(Debug, Clone, Copy)]
enum SegRef<'v> {
    Key(&'v str),
    Index(usize),
}

/// The string leaves under `v` that `keep` wants, with their paths. Only those get a `Path`
/// (an allocation per step): a plan walks its strings several times, and only the few that
/// can hold a template or an ARN need to be placed.
pub fn strings_where<'v>(
    v: &'v Value,
    at: &Path,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<(Path, &'v str)>,
) {
    fn walk<'v>(
        v: &'v Value,
        at: &Path,
        rel: &mut Vec<SegRef<'v>>,
        keep: &dyn Fn(&str) -> bool,
        out: &mut Vec<(Path, &'v str)>,
    ) {
        match v {
            Value::String(s) if keep(s) => {
                let mut p = at.clone();
                for seg in rel.iter() {
                    p.0.push(match seg {
                        SegRef::Key(k) => Seg::Key(k.to_string()),
                        SegRef::Index(i) => Seg::Index(*i),
                    });
                }
                out.push((p, s));
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    rel.push(SegRef::Index(i));
                    walk(item, at, rel, keep, out);
                    rel.pop();
                }
            }
            Value::Mapping(m) => {
                for (k, item) in m {
                    if let Some(k) = k.as_str() {
                        rel.push(SegRef::Key(k));
                        walk(item, at, rel, keep, out);
                        rel.pop();
                    }
                }
            }
            Value::Tagged(t) => walk(&t.value, at, rel, keep, out),
            _ => {}
        }
    }
    walk(v, at, &mut vec![], keep, out)
}

/// Whether a string can hold a template part (`${…}` or the `$${` escape).
pub fn has_template(s: &str) -> bool {
    s.contains('$')
}

/// Rewrite every string leaf that holds a template (`has_template`) with `f`; the others, most
/// of a plan, stay as they are without a copy.
pub fn map_strings(v: &mut Value, f: &mut dyn FnMut(&str) -> String) {
    match v {
        Value::String(s) if has_template(s) => *s = f(s),
        Value::Sequence(items) => items.iter_mut().for_each(|i| map_strings(i, f)),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, i)| map_strings(i, f)),
        Value::Tagged(t) => map_strings(&mut t.value, f),
        _ => {}
    }
}
