//! Renderings of a plan: Terraform-like text (colour only on a terminal), a Markdown pull-request
//! comment, and JSON. The diff is computed elsewhere; this module only draws it.

use std::fmt::Write;

use serde_json::Value as Json;

use crate::changes::{Action, AttrChange, Change, ChangeSet};
use crate::unknown::Unknown;

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, action: Action, s: &str) -> String {
        if !self.color {
            return s.to_string();
        }
        let code = match action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
            Action::NoOp => "0",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

fn value(v: &Option<Json>, sensitive: bool) -> String {
    if sensitive {
        return crate::changes::SENSITIVE.into();
    }
    match v {
        None => "null".into(),
        Some(Json::String(s)) if Unknown::is(s) => Unknown.into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// The lines of one attribute: none when it did not change; a document (policy, tags, list)
/// changed in place as its structured diff (`docdiff`), everything else on one line.
fn attr_lines(a: &AttrChange, action: Action) -> Vec<String> {
    let replace = if a.forces_replacement && action == Action::Replace {
        "  # forces replacement"
    } else {
        ""
    };
    match action {
        Action::Create => vec![format!("+ {} = {}", a.name, value(&a.after, a.sensitive))],
        Action::Delete => vec![format!("- {} = {}", a.name, value(&a.before, a.sensitive))],
        _ if !a.changed() => vec![],
        _ => {
            if let (Some(b), Some(after), false) = (&a.before, &a.after, a.sensitive) {
                // A document equal in meaning to the other side (only reordered) is never
                // flagged by the engine; should a type flag one whose order matters to it,
                // the one-line form below shows it.
                let diffed = crate::docdiff::applies(b, after)
                    .then(|| crate::docdiff::lines(&a.name, b, after))
                    .flatten();
                if let Some(mut lines) = diffed {
                    if let Some(first) = lines.first_mut() {
                        first.push_str(replace);
                    }
                    return lines;
                }
            }
            vec![format!(
                "~ {} = {} -> {}{replace}",
                a.name,
                value(&a.before, a.sensitive),
                value(&a.after, a.sensitive)
            )]
        }
    }
}

fn partition_label(plan: &ChangeSet, name: Option<&str>) -> String {
    match name.and_then(|n| plan.partitions.iter().find(|p| p.name == n)) {
        Some(p) => format!("{} ({}, {})", p.name, p.partition, p.region),
        None => "local".into(),
    }
}

fn groups(plan: &ChangeSet) -> Vec<Option<&str>> {
    let mut g: Vec<Option<&str>> = vec![None];
    g.extend(plan.partitions.iter().map(|p| Some(p.name.as_str())));
    g
}

/// (label, counts) per partition, local resources first when there are any.
/// One line per partition (and one for local resources, if any): `row` of its label and its
/// add, change and destroy counts.
fn count_rows(plan: &ChangeSet, row: impl Fn(String, usize, usize, usize) -> String) -> String {
    groups(plan)
        .into_iter()
        .filter(|g| g.is_some() || plan.changes.iter().any(|c| c.partition.is_none()))
        .map(|g| {
            let n = plan.counts(g);
            row(partition_label(plan, g), n.add, n.change, n.destroy) + "\n"
        })
        .collect()
}

fn change_block(c: &Change, style: Style, out: &mut String) {
    let head = format!("{} {} {}", c.action.glyph(), c.type_name, c.id);
    let _ = write!(out, "  {}", style.paint(c.action, &head));
    if let Some(r) = &c.reason {
        let _ = write!(out, "  # {r}");
    }
    out.push('\n');
    for a in &c.attrs {
        for l in attr_lines(a, c.action) {
            let _ = writeln!(out, "      {}", style.paint(c.action, &l));
        }
    }
}

/// The text view: changed resources grouped by partition, then one count line per partition.
pub fn text(plan: &ChangeSet, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "xpart plan: {}\n", plan.plan);
    for g in groups(plan) {
        let changes: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.partition.as_deref() == g && c.action != Action::NoOp)
            .collect();
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# {}", partition_label(plan, g));
        for c in changes {
            change_block(c, style, &mut out);
        }
        out.push('\n');
    }
    out += &count_rows(plan, |label, add, change, destroy| {
        format!("Plan for {label}: {add} to add, {change} to change, {destroy} to destroy.")
    });
    if !plan.has_changes() {
        out.push_str("No changes: live state matches the plan.\n");
    }
    out
}

/// A pull-request comment: counts per partition, a warning when anything is destroyed, and the
/// details folded away.
pub fn markdown(plan: &ChangeSet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### xpart plan: `{}`\n", plan.plan);
    out.push_str("| partition | add | change | destroy |\n|---|---:|---:|---:|\n");
    out += &count_rows(plan, |label, add, change, destroy| {
        format!("| {label} | {add} | {change} | {destroy} |")
    });
    out.push('\n');
    let destroyed: Vec<_> = plan.destroys().collect();
    if !destroyed.is_empty() {
        out.push_str("> [!WARNING]\n");
        let _ = writeln!(
            out,
            "> This plan destroys {} resource{}:",
            destroyed.len(),
            if destroyed.len() == 1 { "" } else { "s" }
        );
        for c in &destroyed {
            let verb = if c.action == Action::Replace {
                "replaced"
            } else {
                "deleted"
            };
            let _ = writeln!(
                out,
                "> - `{} {}` in {} ({verb})",
                c.type_name,
                c.id,
                partition_label(plan, c.partition.as_deref())
            );
        }
        out.push('\n');
    }
    if !plan.has_changes() {
        out.push_str("No changes: live state matches the plan.\n");
        return out;
    }
    out.push_str("<details><summary>Details</summary>\n\n```diff\n");
    let plain = text(plan, Style { color: false });
    for line in plain.lines().skip(2) {
        if line.starts_with("Plan for") || line.starts_with("No changes") {
            continue;
        }
        // `diff` highlighting keys on the first character: the line's marker is repeated
        // there, in place of the first column of its indentation, so the glyph (`-/+`) and a
        // document's nesting still read.
        let lead = match line.trim_start().chars().next() {
            Some('+') => '+',
            Some('-') => '-',
            Some('~') => '!',
            _ => ' ',
        };
        let rest = line.strip_prefix(' ').unwrap_or(line);
        let _ = writeln!(out, "{lead}{rest}");
    }
    out.push_str("```\n\n</details>\n");
    out
}

/// The JSON view: the plan as data (schema: `xpart schema --output`).
pub fn json(plan: &ChangeSet) -> String {
    serde_json::to_string_pretty(plan).expect("a plan is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{PartitionInfo, FORMAT_VERSION};
    use serde_json::json;

    fn attr(name: &str, before: Option<Json>, after: Option<Json>) -> AttrChange {
        AttrChange::new(name, before.as_ref(), after.as_ref(), false, false)
    }

    /// The commercial partition both samples plan in.
    fn commercial() -> PartitionInfo {
        PartitionInfo {
            name: "commercial".into(),
            partition: "aws".into(),
            region: "us-west-2".into(),
            account: None,
        }
    }

    fn sample() -> ChangeSet {
        ChangeSet {
            format_version: FORMAT_VERSION,
            plan: "china-to-commercial-dev".into(),
            partitions: vec![
                PartitionInfo {
                    name: "china".into(),
                    partition: "aws-cn".into(),
                    region: "cn-north-1".into(),
                    account: None,
                },
                commercial(),
            ],
            changes: vec![
                Change {
                    id: "ra_profile".into(),
                    type_name: "rolesanywhere.profile".into(),
                    partition: Some("commercial".into()),
                    action: Action::Update,
                    attrs: vec![
                        attr("duration_seconds", Some(json!(3600)), Some(json!(7200))),
                        attr("name", Some(json!("p")), Some(json!("p"))),
                    ],
                    reason: None,
                },
                Change {
                    id: "app_secret".into(),
                    type_name: "secretsmanager.secret".into(),
                    partition: Some("commercial".into()),
                    action: Action::Create,
                    attrs: vec![
                        attr("name", None, Some(json!("xpart/app-secret-dev"))),
                        AttrChange::new("value", None, None, true, false),
                        attr("arn", None, Some(Json::from(Unknown))),
                    ],
                    reason: None,
                },
                Change {
                    id: "workload".into(),
                    type_name: "ec2.instance".into(),
                    partition: Some("china".into()),
                    action: Action::Replace,
                    attrs: vec![AttrChange::new(
                        "ami",
                        Some(&json!("ami-1")),
                        Some(&json!("ami-2")),
                        false,
                        true,
                    )],
                    reason: None,
                },
                Change {
                    id: "old".into(),
                    type_name: "ec2.security_group".into(),
                    partition: Some("china".into()),
                    action: Action::Delete,
                    attrs: vec![attr("name", Some(json!("old")), None)],
                    reason: Some("owned by this plan, no longer in it".into()),
                },
                Change {
                    id: "vpc".into(),
                    type_name: "ec2.vpc".into(),
                    partition: Some("china".into()),
                    action: Action::NoOp,
                    attrs: vec![],
                    reason: None,
                },
            ],
        }
    }

    #[test]
    fn text_view() {
        let t = text(&sample(), Style { color: false });
        assert!(
            t.contains(
                "  ~ rolesanywhere.profile ra_profile\n      ~ duration_seconds = 3600 -> 7200\n"
            ),
            "{t}"
        );
        assert!(
            !t.contains("name = \"p\""),
            "unchanged attributes are not shown in updates: {t}"
        );
        assert!(t.contains("+ value = (sensitive)"), "{t}");
        assert!(t.contains("+ arn = (known after apply)"), "{t}");
        assert!(t.contains("-/+ ec2.instance workload"), "{t}");
        assert!(t.contains("# forces replacement"), "{t}");
        assert!(
            t.contains("Plan for china (aws-cn, cn-north-1): 1 to add, 0 to change, 2 to destroy."),
            "{t}"
        );
        assert!(
            t.contains(
                "Plan for commercial (aws, us-west-2): 1 to add, 1 to change, 0 to destroy."
            ),
            "{t}"
        );
        assert!(!t.contains("ec2.vpc"), "no-ops are not listed: {t}");
        assert!(!t.contains('\x1b'));
        assert!(text(&sample(), Style { color: true }).contains("\x1b[32m"));
    }

    #[test]
    fn markdown_view_warns_of_destroys() {
        let m = markdown(&sample());
        assert!(
            m.contains("| china (aws-cn, cn-north-1) | 1 | 0 | 2 |"),
            "{m}"
        );
        assert!(
            m.contains("> [!WARNING]\n> This plan destroys 2 resources:"),
            "{m}"
        );
        assert!(m.contains("<details><summary>Details</summary>"), "{m}");
        assert!(m.contains("```diff\n"), "{m}");
    }

    #[test]
    fn json_view_round_trips_and_hides_sensitive_values() {
        let v: Json = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["format_version"], 1);
        let value = &v["changes"][1]["attrs"][1];
        assert_eq!(value["sensitive"], true);
        assert!(value["after"].is_null());
    }

    /// The renderings pinned whole, so any change to them is seen in review.
    #[test]
    fn text_and_markdown_snapshots() {
        insta::assert_snapshot!("plan_text", text(&sample(), Style { color: false }));
        insta::assert_snapshot!("plan_markdown", markdown(&sample()));
    }

    /// A reviewer's view of a policy change: one action added to the reader's policy is one
    /// `+` line inside the folded document, beside another resource's one-line change.
    #[test]
    fn policy_changes_are_diffed_inside_the_document() {
        let policy = |actions: Json| {
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadSecret", "Effect": "Allow", "Action": actions,
                 "Resource": "arn:aws:secretsmanager:us-west-2:111122223333:secret:xpart/app-secret-dev-AbCdEf"},
                {"Sid": "DecryptIt", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"}
            ]})
        };
        let before = policy(json!("secretsmanager:GetSecretValue"));
        let after = policy(json!([
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecretVersionIds"
        ]));
        let plan = ChangeSet {
            format_version: FORMAT_VERSION,
            plan: "china-to-commercial-dev".into(),
            partitions: vec![commercial()],
            changes: vec![
                Change {
                    id: "reader_role".into(),
                    type_name: "iam.role".into(),
                    partition: Some("commercial".into()),
                    action: Action::Update,
                    attrs: vec![attr(
                        "inline_policies",
                        Some(json!({"read": before})),
                        Some(json!({"read": after})),
                    )],
                    reason: None,
                },
                Change {
                    id: "ca_key".into(),
                    type_name: "kms.key".into(),
                    partition: Some("commercial".into()),
                    action: Action::Update,
                    attrs: vec![attr("description", Some(json!("old")), Some(json!("new")))],
                    reason: None,
                },
            ],
        };
        let t = text(&plan, Style { color: false });
        let plus: Vec<&str> = t
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with('+'))
            .collect();
        assert_eq!(plus, ["+ \"secretsmanager:ListSecretVersionIds\""], "{t}");
        assert!(
            !t.contains("- "),
            "nothing removed, the reordered key policy shows nothing: {t}"
        );
        let m = markdown(&plan);
        let plus: Vec<&str> = m.lines().filter(|l| l.starts_with('+')).collect();
        assert_eq!(plus.len(), 1, "{m}");
        assert!(json(&plan).contains("\"op\": \"add\""));
        insta::assert_snapshot!("plan_text_policy_diff", t);
        insta::assert_snapshot!("plan_markdown_policy_diff", m);
    }

    #[test]
    fn no_changes() {
        let mut p = sample();
        p.changes.retain(|c| c.action == Action::NoOp);
        assert!(text(&p, Style { color: false }).contains("No changes"));
        assert!(markdown(&p).contains("No changes"));
    }
}
