//! Findings while loading: the collector, and how serde's and YAML's errors become findings
//! with file:line:col.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::{Path, Seg, Source};
use crate::diag::Finding;

/// Collects findings while loading, with the source for positions.
pub(super) struct Loader<'a> {
    pub(super) src: &'a Source,
    pub(super) findings: Vec<Finding>,
}

impl<'a> Loader<'a> {
    pub(super) fn new(src: &'a Source) -> Loader<'a> {
        Loader {
            src,
            findings: vec![],
        }
    }

    pub(super) fn push(&mut self, f: Finding) {
        let mut f = f;
        f.file = self.src.name.clone();
        self.findings.push(f);
    }

    /// Deserialize `value` (found at `at`) as `T`, turning a serde error into a finding there.
    pub(super) fn typed<T: DeserializeOwned>(&mut self, value: Value, at: &Path) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let f = path_error(self.src, at, e);
                self.push(f);
                None
            }
        }
    }
}

/// A serde error at `at` plus the path serde_path_to_error tracked inside it, as a finding.
pub(super) fn path_error(
    src: &Source,
    at: &Path,
    e: serde_path_to_error::Error<serde_yaml::Error>,
) -> Finding {
    let mut path = at.clone();
    for seg in e.path().iter() {
        match seg {
            serde_path_to_error::Segment::Map { key } => path = path.key(key),
            serde_path_to_error::Segment::Seq { index } => path = path.index(*index),
            _ => {}
        }
    }
    serde_finding(src, &path, &e.into_inner().to_string())
}

/// Classify a serde message (unknown field, missing field, wrong type) and place it.
fn serde_finding(src: &Source, path: &Path, msg: &str) -> Finding {
    let msg = msg.split(" at line ").next().unwrap_or(msg).to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let at = match path.0.last() {
            Some(Seg::Key(k)) if k == field => path.clone(),
            _ => path.key(field),
        };
        let expected = rest.split_once(", expected ").map(|(_, e)| e.to_string());
        let owner = at.parent().unwrap_or_default();
        let mut f = Finding::error(
            "XP003",
            format!("unknown field `{field}` in {}", describe(&owner)),
        )
        .at(src.key_span(&at));
        if let Some(e) = expected {
            f = f.hint(format!("expected {e}"));
        }
        return f;
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return Finding::error(
            "XP004",
            format!("missing field `{field}` in {}", describe(path)),
        )
        .at(src.key_span(path))
        .hint(format!("add `{field}:`"));
    }
    Finding::error("XP002", format!("{msg} at {path}"))
        .at(src.value_span(path))
        .hint("see the plan reference (docs/plan.md)")
}

fn describe(path: &Path) -> String {
    if path.0.is_empty() {
        "the plan".into()
    } else {
        format!("`{path}`")
    }
}

pub(super) fn nearest<'a>(
    word: &str,
    options: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Edit distance ≤ 2 picks the obvious typo; anything further is not a suggestion.
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + (ca != *cb) as usize)
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    options
        .into_iter()
        .map(|o| (dist(word, o), o))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, o)| o)
}

/// Where the second `key:` of a block mapping starting at byte `from` is, for serde_yaml's
/// `duplicate entry with key "…"` (which it reports at the mapping's first key).
pub(super) fn duplicate_key_at(text: &str, msg: &str, from: usize) -> Option<(usize, usize)> {
    let key = msg
        .split("duplicate entry with key \"")
        .nth(1)?
        .split('"')
        .next()?;
    let line_start = text[..from].rfind('\n').map_or(0, |i| i + 1);
    let indent = from - line_start;
    let mut seen = 0;
    let mut offset = line_start;
    for line in text[line_start..].split_inclusive('\n') {
        let trimmed = line.trim_start_matches(' ');
        let this_indent = line.len() - trimmed.len();
        let content = trimmed.trim_end();
        if !content.is_empty() && !content.starts_with('#') {
            if this_indent < indent {
                break; // the mapping ended
            }
            let k = content
                .split(':')
                .next()
                .unwrap_or_default()
                .trim_matches(|c| c == '"' || c == '\'');
            if this_indent == indent
                && k == key
                && content[k.len()..]
                    .trim_start_matches(['"', '\''])
                    .starts_with(':')
            {
                seen += 1;
                if seen == 2 {
                    return Some((offset + this_indent, key.len()));
                }
            }
        }
        offset += line.len();
    }
    None
}

/// A mapping's entries, each to be deserialized on its own.
pub(super) enum Entries {
    All(Vec<(String, Value)>),
    /// Present but not a mapping (reported).
    Broken,
}

/// The entries of an optional mapping at `at`; anything else but a mapping is a finding.
pub(super) fn entries(l: &mut Loader, v: Option<Value>, at: &Path) -> Entries {
    match v {
        None | Some(Value::Null) => Entries::All(vec![]),
        Some(Value::Mapping(m)) => Entries::All(
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{k:?}")),
                        v,
                    )
                })
                .collect(),
        ),
        Some(other) => {
            let _ = l.typed::<BTreeMap<String, Value>>(other, at);
            Entries::Broken
        }
    }
}

/// A YAML syntax error from serde_yaml, as a finding at its place (for a duplicate key, at the
/// repeat, not at its mapping's start where serde_yaml puts it).
pub(super) fn yaml_error(src: &Source, e: &serde_yaml::Error) -> Finding {
    let text = &src.text;
    let span = match e.location() {
        Some(loc) => {
            let line_start: usize = text
                .split_inclusive('\n')
                .take(loc.line() - 1)
                .map(str::len)
                .sum();
            let col: usize = text[line_start..]
                .chars()
                .take(loc.column() - 1)
                .map(char::len_utf8)
                .sum();
            src.span(line_start + col, line_start + col + 1)
        }
        None => src.span(0, 1),
    };
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    syntax_finding(src, &msg, span.start)
}

/// A syntax problem `msg` found at byte `at` (a duplicate key: its mapping's start), as a
/// finding with a hint for the common causes.
pub(super) fn syntax_finding(src: &Source, msg: &str, at: usize) -> Finding {
    let span = src.span(at, at + 1);
    let span = duplicate_key_at(&src.text, msg, span.start)
        .map(|(start, len)| src.span(start, start + len))
        .unwrap_or(span);
    let line = src.line_text(span.line);
    let hint = if msg.contains("duplicate entry with key") {
        "a key appears once per mapping: rename one of the two, or merge them"
    } else if line.contains("${")
        && (line.matches('{').count() > line.matches("${").count() || line.contains('['))
    {
        "inside { } or [ ], quote strings that contain ${…}: \"name-${var.x}\""
    } else {
        "fix the YAML syntax at this position"
    };
    Finding::error("XP001", format!("YAML syntax: {msg}"))
        .at(span)
        .hint(hint)
}
