//! Structured diffs of documents (policies, tag maps, lists): what changed, element by element,
//! as Terraform shows a changed `jsonencode` value. Unchanged context is folded into a count;
//! each added or removed action, resource, principal or condition is a line of its own.
//!
//! Both sides are compared in the canonical form of `policy::canonical` (keys ordered, lists
//! of strings and of objects in one order, a one-element list as its element), and a string
//! stands for the one-element list it is equal to: documents that mean the same never differ.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One change inside a document, for `--format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocChange {
    /// Where, from the document's top: object keys, and list positions (`[n]`, in the
    /// canonical order of the new document, or of the old one for a removed element).
    pub path: Vec<String>,
    /// `add`, `remove` or `change`.
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Json>,
}

/// A diffed document.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Same(Json),
    Added(Json),
    Removed(Json),
    /// Two scalars (or values of different kinds) that differ.
    Changed(Json, Json),
    Object(Vec<(String, Node)>),
    /// Each element with its position: in the new list, or in the old one for a removed
    /// element.
    List(Vec<(usize, Node)>),
}

impl Node {
    fn same(&self) -> bool {
        matches!(self, Node::Same(_))
    }
}

/// A list's elements: a list as it is, anything else as the one-element list it stands for.
fn elements(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// The key that pairs a changed object of a list with its other version: its `Sid`, else
/// none (then objects pair in order).
fn pairing_key(v: &Json) -> Option<&str> {
    v.get("Sid").and_then(Json::as_str)
}

fn diff_lists(before: &[Json], after: &[Json]) -> Node {
    let mut left: Vec<Option<(usize, &Json)>> = before.iter().enumerate().map(Some).collect();
    let mut nodes = vec![];
    let mut added = vec![];
    for (ai, a) in after.iter().enumerate() {
        match left.iter().position(|b| b.is_some_and(|(_, b)| b == a)) {
            Some(i) => {
                left[i] = None;
                nodes.push((ai, Node::Same(a.clone())));
            }
            None => added.push((ai, a)),
        }
    }
    let mut removed: Vec<(usize, &Json)> = left.into_iter().flatten().collect();
    // Objects that changed inside: paired by Sid, else in order, and diffed field by field.
    for (ai, a) in added {
        let pair = if a.is_object() {
            removed
                .iter()
                .position(|(_, b)| b.is_object() && pairing_key(b) == pairing_key(a))
        } else {
            None
        };
        match pair {
            Some(i) => {
                let (_, b) = removed.remove(i);
                nodes.push((ai, diff(b, a)));
            }
            None => nodes.push((ai, Node::Added(a.clone()))),
        }
    }
    nodes.extend(
        removed
            .into_iter()
            .map(|(bi, b)| (bi, Node::Removed(b.clone()))),
    );
    Node::List(nodes)
}

fn diff(before: &Json, after: &Json) -> Node {
    if before == after {
        return Node::Same(after.clone());
    }
    match (before, after) {
        (Json::Object(b), Json::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            Node::Object(
                keys.into_iter()
                    .map(|k| {
                        let n = match (b.get(k), a.get(k)) {
                            (Some(x), Some(y)) => diff(x, y),
                            (None, Some(y)) => Node::Added(y.clone()),
                            (Some(x), None) => Node::Removed(x.clone()),
                            (None, None) => unreachable!("a key of one side"),
                        };
                        (k.clone(), n)
                    })
                    .collect(),
            )
        }
        (Json::Array(_), _) | (_, Json::Array(_)) if !before.is_object() && !after.is_object() => {
            diff_lists(&elements(before), &elements(after))
        }
        _ => Node::Changed(before.clone(), after.clone()),
    }
}

/// Whether two documents differ, and how: None when they mean the same.
fn tree(before: &Json, after: &Json) -> Option<Node> {
    let (b, a) = (
        crate::policy::canonical(before),
        crate::policy::canonical(after),
    );
    let n = diff(&b, &a);
    (!n.same()).then_some(n)
}

/// Whether `before` and `after` are documents this module diffs: objects on both sides, or a
/// list on one side and a list or the value it may stand for on the other.
pub fn applies(before: &Json, after: &Json) -> bool {
    match (before, after) {
        (Json::Object(_), Json::Object(_)) => true,
        (Json::Array(_), other) | (other, Json::Array(_)) => !other.is_null() && !other.is_object(),
        _ => false,
    }
}

/// What changed inside an attribute going from `before` to `after` (None: absent): the
/// changes when both sides are documents (`applies`), empty when they mean the same; None when
/// they are not documents, and so compare as values.
pub fn between(before: Option<&Json>, after: Option<&Json>) -> Option<Vec<DocChange>> {
    match (before, after) {
        (Some(b), Some(a)) if applies(b, a) => Some(changes(b, a)),
        _ => None,
    }
}

/// The changes inside a document, for JSON; empty when the two mean the same.
pub fn changes(before: &Json, after: &Json) -> Vec<DocChange> {
    let mut out = vec![];
    if let Some(n) = tree(before, after) {
        flatten(&n, &mut vec![], &mut out);
    }
    out
}

fn flatten(n: &Node, path: &mut Vec<String>, out: &mut Vec<DocChange>) {
    let mut push = |op: &str, before: Option<&Json>, after: Option<&Json>| {
        out.push(DocChange {
            path: path.clone(),
            op: op.into(),
            before: before.cloned(),
            after: after.cloned(),
        })
    };
    match n {
        Node::Same(_) => {}
        Node::Added(v) => push("add", None, Some(v)),
        Node::Removed(v) => push("remove", Some(v), None),
        Node::Changed(b, a) => push("change", Some(b), Some(a)),
        Node::Object(fields) => {
            for (k, f) in fields {
                path.push(k.clone());
                flatten(f, path, out);
                path.pop();
            }
        }
        Node::List(items) => {
            for (i, f) in items {
                path.push(format!("[{i}]"));
                flatten(f, path, out);
                path.pop();
            }
        }
    }
}

/// A value on a line of its own: scalars as JSON, a document on one line.
fn inline(v: &Json) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn hidden(n: usize, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("# ({n} unchanged {what}{s} hidden)")
}

fn lines_of(n: &Node, key: Option<&str>, pad: &str, out: &mut Vec<String>) {
    let label = key.map(|k| format!("{k} = ")).unwrap_or_default();
    let inner = format!("{pad}    ");
    match n {
        Node::Same(v) => out.push(format!("{pad}  {label}{}", inline(v))),
        Node::Added(v) => out.push(format!("{pad}+ {label}{}", inline(v))),
        Node::Removed(v) => out.push(format!("{pad}- {label}{}", inline(v))),
        Node::Changed(b, a) => out.push(format!("{pad}~ {label}{} -> {}", inline(b), inline(a))),
        Node::Object(fields) => {
            out.push(format!("{pad}~ {label}{{"));
            let folded = fields.iter().filter(|(_, f)| f.same()).count();
            for (k, f) in fields.iter().filter(|(_, f)| !f.same()) {
                lines_of(f, Some(k), &inner, out);
            }
            if folded > 0 {
                out.push(format!("{inner}  {}", hidden(folded, "attribute")));
            }
            out.push(format!("{pad}  }}"));
        }
        Node::List(items) => {
            out.push(format!("{pad}~ {label}["));
            let folded = items.iter().filter(|(_, f)| f.same()).count();
            for (_, f) in items.iter().filter(|(_, f)| !f.same()) {
                lines_of(f, None, &inner, out);
            }
            if folded > 0 {
                out.push(format!("{inner}  {}", hidden(folded, "element")));
            }
            out.push(format!("{pad}  ]"));
        }
    }
}

/// The text lines of a changed document attribute `name` (the first `~ name = {`), or None
/// when the two mean the same. Each line starts with its marker (`+`, `-`, `~` or a space)
/// after the indentation.
pub fn lines(name: &str, before: &Json, after: &Json) -> Option<Vec<String>> {
    let n = tree(before, after)?;
    let mut out = vec![];
    lines_of(&n, Some(name), "", &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(actions: Json) -> Json {
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": actions, "Resource": "arn:aws:secretsmanager:us-west-2:1:secret:s"},
            {"Sid": "Keys", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"}
        ]})
    }

    #[test]
    fn one_action_added_is_one_plus_line() {
        let before = policy(json!("secretsmanager:GetSecretValue"));
        let after = policy(json!([
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecretVersionIds"
        ]));
        let l = lines("policy", &before, &after).unwrap();
        let plus: Vec<&String> = l
            .iter()
            .filter(|l| l.trim_start().starts_with('+'))
            .collect();
        assert_eq!(plus.len(), 1, "{l:#?}");
        assert!(plus[0].contains("\"secretsmanager:ListSecretVersionIds\""));
        assert!(!l.iter().any(|l| l.trim_start().starts_with('-')), "{l:#?}");
        assert_eq!(
            changes(&before, &after),
            vec![DocChange {
                // Positions in the canonical (sorted) lists: the Read statement sorts second.
                path: vec![
                    "Statement".into(),
                    "[1]".into(),
                    "Action".into(),
                    "[1]".into()
                ],
                op: "add".into(),
                before: None,
                after: Some(json!("secretsmanager:ListSecretVersionIds")),
            }]
        );
    }

    #[test]
    fn documents_that_mean_the_same_do_not_differ() {
        let a = policy(json!(["b:Two", "a:One"]));
        let mut b = policy(json!(["a:One", "b:Two"]));
        // Statements in another order, keys in another order, a one-element list as a string.
        let st = b["Statement"].as_array().unwrap().clone();
        b["Statement"] = json!([st[1], st[0]]);
        b["Statement"][0]["Action"] = json!("kms:Decrypt");
        assert_eq!(lines("policy", &a, &b), None);
        assert!(changes(&a, &b).is_empty());
        // Tag maps: the same pairs.
        assert_eq!(
            lines(
                "tags",
                &json!({"a": "1", "b": "2"}),
                &json!({"b": "2", "a": "1"})
            ),
            None
        );
    }

    #[test]
    fn removed_and_changed_fields_and_whole_statements() {
        let before = policy(json!("s:Get"));
        let mut after = before.clone();
        after["Statement"][1]["Resource"] = json!("arn:aws:kms:us-west-2:1:key/k");
        after["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Sid": "New", "Effect": "Deny", "Action": "s:Delete", "Resource": "*"}));
        let l = lines("policy", &before, &after).unwrap();
        assert!(
            l.iter().any(
                |l| l.trim_start() == "~ Resource = \"*\" -> \"arn:aws:kms:us-west-2:1:key/k\""
            ),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|l| l.trim_start().starts_with("+ {\"Action\":\"s:Delete\"")),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|l| l.trim_start() == "# (1 unchanged element hidden)"),
            "{l:#?}"
        );
        let tags = lines(
            "tags",
            &json!({"team": "a", "keep": "x"}),
            &json!({"keep": "x", "owner": "b"}),
        )
        .unwrap();
        assert_eq!(
            tags,
            [
                "~ tags = {",
                "    + owner = \"b\"",
                "    - team = \"a\"",
                "      # (1 unchanged attribute hidden)",
                "  }"
            ]
        );
    }
}
