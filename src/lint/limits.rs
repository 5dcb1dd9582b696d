//! Lengths, characters and numbers AWS (or X.509) refuses, per type.
//!
//! Each of these would pass every other check and fail only when its resource is created,
//! after the resources created before it: a partial apply. moto, behind the test-bed,
//! enforces few of them, so without these rules the test-bed would even accept what AWS
//! refuses.

use super::*;

/// The longest tag key and value AWS takes (IAM, KMS, Secrets Manager, EC2, Roles Anywhere).
pub(crate) const TAG_KEY_MAX: usize = 128;

pub(crate) const TAG_VALUE_MAX: usize = 256;

/// What AWS takes as one kind of free text, named `.0`: up to `.1` characters, each passing
/// `.2`; `.3` says which are allowed.
pub(crate) struct Text(&'static str, usize, fn(char) -> bool, &'static str);

const IAM_CHARS: &str = "printable ASCII and Latin-1 characters";
const SG_CHARS: &str = "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*";
const TAG_VALUE: Text = Text("a tag value", TAG_VALUE_MAX, any_char, "");
const NAME_TAG: Text = Text("the name (its `Name` tag)", TAG_VALUE_MAX, any_char, "");
const ROLE_DESCRIPTION: Text = Text("the role description", 1000, iam_text, IAM_CHARS);
const SECRET_DESCRIPTION: Text = Text("the secret description", 2048, any_char, "");
const KEY_DESCRIPTION: Text = Text("the key description", 8192, any_char, "");
const SG_NAME: Text = Text("the security group name", 255, sg_text, SG_CHARS);
const SG_DESCRIPTION: Text = Text("the security group description", 255, sg_text, SG_CHARS);
const RULE_DESCRIPTION: Text = Text("the rule description", 255, sg_text, SG_CHARS);

/// `value` (at `at`) as `rule` allows.
pub(crate) fn check_text(cx: &mut Checker, at: &Path, value: &str, rule: &Text) {
    check_text_as(cx, at, rule.0, value, rule)
}

/// `check_text` of a `description` property, if set.
fn check_description(cx: &mut Checker, at: &Path, value: Option<&str>, rule: &Text) {
    if let Some(d) = value {
        check_text(cx, &at.key("description"), d, rule);
    }
}

/// `check_text`, naming the text `what`.
pub(crate) fn check_text_as(cx: &mut Checker, at: &Path, what: &str, value: &str, rule: &Text) {
    let Text(_, max, ok, allowed) = *rule;
    let text = known_text(value);
    let n = text.chars().count();
    let problem = if n > max {
        Some((
            format!("{what} is {n} characters long; AWS takes at most {max}"),
            format!("shorten it to {max} characters or fewer"),
        ))
    } else {
        text.chars().find(|c| !ok(*c)).map(|c| {
            (
                format!("{what} holds {c:?}, a character AWS refuses there"),
                format!("use {allowed}"),
            )
        })
    };
    if let Some((message, hint)) = problem {
        cx.push(Finding::error("XP054", message).at(cx.value(at)).hint(hint));
    }
}

/// IAM descriptions: tab, newline, printable ASCII and Latin-1.
pub(crate) fn iam_text(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}')
}

pub(crate) fn any_char(_: char) -> bool {
    true
}

/// EC2 security group (and rule) descriptions.
pub(crate) fn sg_text(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// The numbers AWS takes for one setting, named `.0`: `.1` to `.2`; `.3` says why.
pub(crate) struct Bound(&'static str, u64, u64, &'static str);

const SESSION_WHY: &str = "IAM roles take 1 to 12 hours (3600–43200 s)";
const GENERATED_WHY: &str = "GetRandomPassword makes 1 to 4096 characters";
const VALIDITY_WHY: &str = "a certificate is valid for 1 day to 100 years";
const MAX_DAYS: u64 = crate::pki::MAX_VALIDITY_DAYS as u64;
const SESSION: Bound = Bound("max_session_duration", 3600, 43200, SESSION_WHY);
const GENERATED: Bound = Bound("generated length", 1, 4096, GENERATED_WHY);
const VALIDITY: Bound = Bound("validity_days", 1, MAX_DAYS, VALIDITY_WHY);

/// `n` (at `at`), if set, outside `bound`.
pub(crate) fn check_range(cx: &mut Checker, at: &Path, n: Option<u32>, bound: &Bound) {
    let Some(n) = n.map(u64::from) else { return };
    let Bound(what, lo, hi, why) = *bound;
    let range = lo..=hi;
    if !range.contains(&n) {
        cx.push(
            Finding::error(
                "XP064",
                format!("{what} {n} is outside {}–{}", range.start(), range.end()),
            )
            .at(cx.value(at))
            .hint(why.to_string()),
        );
    }
}

pub(crate) fn check_tags(cx: &mut Checker, at: &Path, tags: &crate::plan::types::Tags) {
    for (k, v) in tags {
        let kat = at.key("tags").key(k);
        let reserved = ["aws:", "xpart:"]
            .iter()
            .find(|p| k.to_ascii_lowercase().starts_with(*p));
        if k.is_empty() || k.chars().count() > TAG_KEY_MAX {
            cx.push(
                Finding::error(
                    "XP054",
                    format!("tag key `{k}` is not 1–{TAG_KEY_MAX} characters"),
                )
                .at(cx.key(&kat))
                .hint(format!("tag keys take 1–{TAG_KEY_MAX} characters")),
            );
        } else if let Some(p) = reserved {
            cx.push(
                Finding::error("XP054", format!("tag key `{k}` uses the reserved prefix `{p}`"))
                    .at(cx.key(&kat))
                    .hint("`aws:` belongs to AWS and `xpart:` to xpart's ownership tags; pick another key"),
            );
        }
        check_text_as(cx, &kat, &format!("the value of tag `{k}`"), v, &TAG_VALUE);
    }
}

/// An IAM path: `/`, or `/…/` of printable ASCII, up to 512 characters.
pub(crate) fn check_iam_path(cx: &mut Checker, at: &Path, path: &str) {
    let (path, complete) = known(path);
    if !complete {
        return;
    }
    let ok = path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if !ok {
        cx.push(
            Finding::error("XP054", format!("IAM path `{path}` is not a path IAM accepts"))
                .at(cx.value(at))
                .hint("`/` or `/division/team/`: up to 512 printable characters, starting and ending with /"),
        );
    }
}

/// An EC2 resource's name becomes its `Name` tag.
pub(crate) fn name_tag(cx: &mut Checker, at: &Path, name: &str) {
    check_text(cx, &at.key("name"), name, &NAME_TAG)
}

/// The name and tags of an EC2 network resource.
pub(crate) fn ec2_limits(cx: &mut Checker, at: &Path, name: &str, tags: &crate::plan::types::Tags) {
    name_tag(cx, at, name);
    check_tags(cx, at, tags);
}

pub(crate) fn role_limits(cx: &mut Checker, at: &Path, role: &plan::types::Role) {
    check_description(cx, at, role.description.as_deref(), &ROLE_DESCRIPTION);
    if let Some(p) = &role.path {
        check_iam_path(cx, &at.key("path"), p);
    }
    check_range(
        cx,
        &at.key("max_session_duration"),
        role.max_session_duration,
        &SESSION,
    );
    check_tags(cx, at, &role.tags);
}

pub(crate) fn secret_limits(cx: &mut Checker, at: &Path, sec: &plan::types::Secret) {
    check_description(cx, at, sec.description.as_deref(), &SECRET_DESCRIPTION);
    let length = sec.value.generate.as_ref().and_then(|g| g.length);
    check_range(
        cx,
        &at.key("value").key("generate").key("length"),
        length,
        &GENERATED,
    );
    check_tags(cx, at, &sec.tags);
}

pub(crate) fn key_limits(cx: &mut Checker, at: &Path, k: &plan::types::KmsKey) {
    check_description(cx, at, k.description.as_deref(), &KEY_DESCRIPTION);
    check_tags(cx, at, &k.tags);
}

pub(crate) fn ca_limits(cx: &mut Checker, at: &Path, ca: &plan::types::PkiCa) {
    check_range(cx, &at.key("validity_days"), ca.validity_days, &VALIDITY);
}

pub(crate) fn cert_limits(cx: &mut Checker, at: &Path, c: &plan::types::PkiCert) {
    let validity = c
        .validity_days
        .unwrap_or(crate::pki::DEFAULT_CERT_VALIDITY_DAYS);
    check_range(cx, &at.key("validity_days"), c.validity_days, &VALIDITY);
    if let Some(n) = c.renew_before_days {
        if n >= validity {
            cx.push(
                    Finding::error("XP064", format!("renew_before_days {n} is not below the validity of {validity} days"))
                        .at(cx.value(&at.key("renew_before_days")))
                        .hint("a certificate renewed that early is renewed on every run; renew well before it expires, not before it is issued"),
                );
        }
    }
}

pub(crate) fn security_group_limits(cx: &mut Checker, at: &Path, sg: &plan::types::SecurityGroup) {
    check_text(cx, &at.key("name"), &sg.name, &SG_NAME);
    if known_text(&sg.name).to_ascii_lowercase().starts_with("sg-") {
        cx.push(
            Finding::error(
                "XP054",
                format!("security group name `{}` starts with `sg-`", sg.name),
            )
            .at(cx.value(&at.key("name")))
            .hint("EC2 keeps `sg-` for group ids; pick another name"),
        );
    }
    check_description(cx, at, sg.description.as_deref(), &SG_DESCRIPTION);
    for (i, rule) in sg.ingress.iter().enumerate() {
        let rat = at.key("ingress").index(i);
        check_description(cx, &rat, rule.description.as_deref(), &RULE_DESCRIPTION);
    }
    check_tags(cx, at, &sg.tags);
}

pub(crate) fn instance_limits(cx: &mut Checker, at: &Path, inst: &plan::types::Instance) {
    name_tag(cx, at, &inst.name);
    check_tags(cx, at, &inst.tags);
    if let Some(b) = &inst.bootstrap {
        bootstrap_settings(cx, &at.key("bootstrap"), b);
        // The user data holds every setting (and more): what is known already is a
        // lower bound of its size.
        let mut leaves = vec![];
        plan::strings(b, &at.key("bootstrap"), &mut leaves);
        let known: usize = leaves.iter().map(|(_, s)| known_text(s).len()).sum();
        if known > crate::bootstrap::MAX_USER_DATA {
            cx.push(
                    Finding::error(
                        "XP054",
                        format!("the bootstrap settings hold at least {known} bytes; EC2 user data takes at most {}", crate::bootstrap::MAX_USER_DATA),
                    )
                    .at(cx.key(&at.key("bootstrap")))
                    .hint("bootstrap passes ARNs and a certificate; keep large data in a secret or on S3"),
                );
        }
    }
}

/// The instance's bootstrap settings as the instance will need them (`bootstrap::check`):
/// checked now, since the engine renders them only when it creates the instance, after all
/// it depends on. References, known only at apply, pass as `unknown::Unknown`.
pub(crate) fn bootstrap_settings(cx: &mut Checker, at: &Path, b: &serde_yaml::Value) {
    fn unknown_refs(v: &mut Json) {
        match v {
            Json::String(s) => {
                if let Ok(t) = Template::parse(s) {
                    *s = t.fill(&mut |_| None, crate::unknown::Unknown::TEXT);
                }
            }
            Json::Array(a) => a.iter_mut().for_each(unknown_refs),
            Json::Object(m) => m.values_mut().for_each(unknown_refs),
            _ => {}
        }
    }
    let mut settings = policy::yaml_to_json(b);
    unknown_refs(&mut settings);
    if let Err(e) = crate::bootstrap::check(&settings) {
        // Point at the setting the message names (`bootstrap.<key> …`) when there is one.
        let key = e
            .strip_prefix("bootstrap.")
            .and_then(|r| {
                r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
            })
            .filter(|k| b.get(*k).is_some());
        let span = match key {
            Some(k) => cx.key(&at.key(k)),
            None => cx.key(at),
        };
        cx.push(
            Finding::error("XP065", e)
                .at(span)
                .hint("the workload's installer (src/bootstrap/mod.rs) takes a fixed set of settings: fix this one"),
        );
    }
}
