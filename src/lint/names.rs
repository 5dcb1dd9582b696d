//! Names AWS accepts, per kind of name, checked on their rendered text (lint), and again once
//! references are filled in (the engine, `rendered_name_problems`); the plan's own name.

use super::*;
use crate::plan::types::Kind;

/// What AWS accepts as one kind of name.
pub(crate) struct NameRule {
    code: &'static str,
    what: &'static str,
    max: usize,
    ok: fn(char) -> bool,
    allowed: &'static str,
}

/// The rules, a row each: `NAME: code, what, max length, accepted char, accepted (in words)`.
macro_rules! name_rules {
    ($($name:ident: $code:literal, $what:literal, $max:literal, $ok:expr, $allowed:expr;)+) => {
        $(
            pub(crate) const $name: NameRule = NameRule {
                code: $code,
                what: $what,
                max: $max,
                ok: $ok,
                allowed: $allowed,
            };
        )+
    };
}

const IAM_CHARS: &str = "letters, digits and +=,.@_-";
const RA_CHARS: &str = "letters, digits, spaces, _ and -";

name_rules! {
    ROLE_NAME: "XP050", "role name", 64, iam_char, IAM_CHARS;
    INSTANCE_PROFILE_NAME: "XP050", "instance profile name", 128, iam_char, IAM_CHARS;
    SECRET_NAME: "XP051", "secret name", 512, |c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c), "letters, digits and /_+=.@-";
    TRUST_ANCHOR_NAME: "XP053", "trust anchor name", 255, ra_char, RA_CHARS;
    PROFILE_NAME: "XP053", "profile name", 255, ra_char, RA_CHARS;
}

/// What Roles Anywhere accepts in a name.
fn ra_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _-".contains(c)
}

/// A name as AWS will see it, whatever produced it (literal text, a variable, an escape):
/// checked on its rendered text. A name with references is checked on what is known of it
/// (its characters, and its length as a lower bound); the engine checks it again once rendered.
pub(crate) fn check_name(cx: &mut Checker, at: &Path, name: &str, rule: &NameRule) {
    if let Some(problem) = name_problem(name, rule) {
        cx.push(
            Finding::error(rule.code, problem)
                .at(cx.value(at))
                .hint(format!("1–{} characters of {}", rule.max, rule.allowed)),
        );
    }
}

/// Why AWS would refuse `name` (a template as the resolved plan holds it) as a `rule` name.
pub(crate) fn name_problem(name: &str, rule: &NameRule) -> Option<String> {
    let (text, complete) = known(name);
    let n = text.chars().count();
    let shown = crate::diag::excerpt(if complete { &text } else { name }, 80);
    if let Some(c) = text.chars().find(|c| !(rule.ok)(*c)) {
        return Some(format!(
            "{} `{shown}` holds {c:?}, which AWS does not accept in a {}",
            rule.what, rule.what
        ));
    }
    ((complete && n == 0) || n > rule.max)
        .then(|| format!("{} `{shown}` is not a name AWS accepts", rule.what))
}

/// The names of a rendered resource that AWS would refuse, each with why: the engine's check
/// before it creates or renames anything, for names that held references at lint time.
pub fn rendered_name_problems(kind: &Kind) -> Vec<String> {
    let names = with_props!(kind, |p, T| <T as Rules>::names(p));
    names
        .into_iter()
        .filter(|(n, _)| !crate::unknown::Unknown::within(n))
        .filter_map(|(n, check)| match check {
            NameCheck::Rule(rule) => name_problem(&escape(n), rule),
            NameCheck::Alias => alias_problem(&escape(n)),
        })
        .collect()
}

/// A rendered value as a template of itself (its `${` escaped), for the checks that take
/// templates.
pub(crate) fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

/// Why AWS would refuse `alias` (a template) as a KMS alias.
pub(crate) fn alias_problem(alias: &str) -> Option<String> {
    let (a, complete) = known(alias);
    let chars_ok = a
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
    let shape_ok = !complete
        || (a.starts_with("alias/")
            && !a.starts_with("alias/aws/")
            && a.len() > 6
            && a.len() <= 256);
    (!chars_ok || !shape_ok).then(|| {
        format!(
            "alias `{}` is not an alias AWS accepts",
            crate::diag::excerpt(if complete { &a } else { alias }, 80)
        )
    })
}

pub(crate) fn iam_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// The longest plan name: it is the `xpart:plan` tag value and a directory name.
pub(crate) const PLAN_NAME_MAX: usize = 255;

/// The plan name and its identity: the identity is the value of every resource's
/// `xpart:plan` tag and the name of the plan's state directory, and by default it is the name.
/// Checked on the rendered text, whatever produced it (variables, escapes): no path separators,
/// no dot-names, not longer than a tag value or a file name.
pub(crate) fn plan_name(cx: &mut Checker, spec: &Plan) {
    if !spec.name_known {
        return; // an unresolved variable or no name at all: reported by loading
    }
    let identity = &spec.identity.name;
    let mut checks = vec![("name", spec.name.clone(), "plan name")];
    if spec.identity_given && !identity.is_empty() {
        checks.push(("identity", identity.clone(), "plan identity"));
    }
    for (key, name, what) in checks {
        let at = Path::root().key(key);
        let ok = !name.is_empty()
            && name.len() <= PLAN_NAME_MAX
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            let shown = crate::diag::excerpt(&name, 40);
            cx.push(
                Finding::error(
                    "XP054",
                    format!("{what} `{shown}` ({} characters) cannot be a tag value and a directory name", name.chars().count()),
                )
                .at(cx.value(&at))
                .hint(format!(
                    "1–{PLAN_NAME_MAX} letters, digits, `.`, `_` and `-`, starting with a letter or digit (after ${{var.…}} is filled in)"
                )),
            );
        }
    }
}
