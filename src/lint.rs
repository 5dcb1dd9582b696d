//! `xpart lint`: static checks of a plan, with no network and no credentials.
//!
//! Loading already reports syntax, shape, variables, references and cycles; the rules here
//! catch what AWS would refuse or what would silently be wrong: ARNs and principals of the other
//! partition, key policies that lock the account out, trust without conditions, names and
//! numbers out of range, literal secrets, CAs Roles Anywhere will not take.

use std::path::Path as FsPath;

use serde_json::Value as Json;

use crate::diag::Finding;
use crate::partition::Partition;
use crate::policy;
use crate::spec::template::Template;
use crate::spec::types::{KeyAlgorithm, KeySpec, Kind};
use crate::spec::{self, LoadOptions, PartitionDef, Path, ResourceDef, Spec};

/// Load and check a plan; `base` is the directory relative file paths are read from.
pub fn lint_text(name: &str, text: &str, opts: &LoadOptions, base: &FsPath) -> Vec<Finding> {
    lint_loaded(name, text, opts, base).1
}

/// `lint_text`, handing back the loaded spec too (None when the text is not a plan at all).
///
/// Each resource gets its own checks the moment loading has built it, while its data is
/// still in the processor's cache; what needs other resources (their types and partitions,
/// names to compare) waits until all are loaded. That keeps lint's time proportional to the
/// plan's size, for plans of tens of thousands of resources too.
pub fn lint_loaded(
    name: &str,
    text: &str,
    opts: &LoadOptions,
    base: &FsPath,
) -> (Option<Spec>, Vec<Finding>) {
    let mut later = Later::default();
    let (spec, mut findings) =
        spec::load_with(name, text, opts, &mut |r, source, partitions, built| {
            let mut cx = Ctx {
                source,
                later: &mut later,
                out: vec![],
            };
            local(&mut cx, r, partitions, built, base);
            with_file(cx.out, name)
        });
    if let Some(spec) = &spec {
        let mut cx = Ctx {
            source: &spec.source,
            later: &mut later,
            out: vec![],
        };
        global(&mut cx, spec);
        findings.extend(with_file(cx.out, name));
    }
    findings.sort_by_key(|f| (f.span.line, f.span.column, f.code));
    findings.dedup();
    (spec, findings)
}

fn with_file(mut found: Vec<Finding>, name: &str) -> Vec<Finding> {
    for f in &mut found {
        f.file = name.to_string();
    }
    found
}

/// Fields holding data for the workload or for people, not names of things in the partition:
/// an ARN of the other partition is expected there (the China workload needs the commercial
/// trust anchor's ARN, for instance).
const FREE_FIELDS: &[&str] = &["bootstrap", "description", "tags", "value"];

/// What the checks of single resources leave for the checks that need every resource.
#[derive(Default)]
struct Later {
    /// Reference checks of the resource being checked, settled before the next one.
    fresh: Vec<Pending>,
    /// Reference checks whose target comes later in the plan (or never).
    pending: Vec<Pending>,
    /// The first resource seen of each (type, partition, name as known), and every other.
    first_named: std::collections::HashMap<NameKey, String>,
    named_again: Vec<(NameKey, String)>,
}

/// A resource's type, partition (its place among the plan's partitions) and name: unique in
/// a plan. Small on purpose: one per resource, while the plan is read.
type NameKey = (&'static str, Option<usize>, String);

/// A check of a reference that needs the referenced resource's type or partition.
enum Pending {
    /// XP022: `from` (in `partition`) refers to `rid`, which must be in the same partition.
    SamePartition {
        from: String,
        path: Path,
        text: String,
        rid: String,
        partition: Partition,
    },
    /// XP017: `rid` must be a `want`.
    Type {
        from: String,
        path: Path,
        rid: String,
        want: &'static str,
    },
}

struct Ctx<'a> {
    source: &'a crate::spec::Source,
    later: &'a mut Later,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, f: Finding) {
        self.out.push(f);
    }
    fn value(&self, p: &Path) -> crate::diag::Span {
        self.source.value_span(p)
    }
    fn key(&self, p: &Path) -> crate::diag::Span {
        self.source.key_span(p)
    }
}

/// Every check of a loaded spec (`lint_loaded` does the same while loading).
pub fn lint(spec: &Spec, base: &FsPath) -> Vec<Finding> {
    let mut later = Later::default();
    let mut cx = Ctx {
        source: &spec.source,
        later: &mut later,
        out: vec![],
    };
    for r in spec.resources.values() {
        local(&mut cx, r, &spec.partitions, &spec.resources, base);
    }
    global(&mut cx, spec);
    cx.out
}

type Partitions = std::collections::BTreeMap<String, PartitionDef>;
type Resources = std::collections::BTreeMap<String, ResourceDef>;

/// The checks of one resource, as soon as it is built: its own, and those of its references to
/// resources built before it (`built`); references to later ones wait for `global`.
fn local(cx: &mut Ctx, r: &ResourceDef, partitions: &Partitions, built: &Resources, base: &FsPath) {
    let part = r.partition.as_ref().and_then(|p| partitions.get(p));
    if let Some(p) = part {
        cross_partition(cx, r, p);
    }
    kind_rules(cx, r, part, base);
    limits(cx, r);
    reference_types(cx, r);
    for check in std::mem::take(&mut cx.later.fresh) {
        if let Some(later) = settle(cx, check, built, partitions, &|_| true) {
            cx.later.pending.push(later);
        }
    }
    if let Some(n) = r.properties.get("name").and_then(|v| v.as_str()) {
        let (n, complete) = known(n);
        if complete {
            let ty = spec::types::type_info(&r.type_name).map_or("", |t| t.name);
            let part = r
                .partition
                .as_ref()
                .and_then(|p| partitions.keys().position(|k| k == p));
            let key = (ty, part, n.into_owned());
            match cx.later.first_named.entry(key) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(r.id.clone());
                }
                std::collections::hash_map::Entry::Occupied(e) => {
                    cx.later.named_again.push((e.key().clone(), r.id.clone()));
                }
            }
        }
    }
}

/// Check a reference against `resources`; the check back when its target is not there (yet).
/// `kept`: whether the referring resource is still in the plan.
fn settle(
    cx: &mut Ctx,
    check: Pending,
    resources: &Resources,
    partitions: &Partitions,
    kept: &dyn Fn(&str) -> bool,
) -> Option<Pending> {
    match check {
        Pending::SamePartition {
            from,
            path,
            text,
            rid,
            partition,
        } => {
            let Some(target) = resources.get(&rid) else {
                return Some(Pending::SamePartition {
                    from,
                    path,
                    text,
                    rid,
                    partition,
                });
            };
            let tp = target.partition.as_ref().and_then(|p| partitions.get(p))?;
            if kept(&from) && tp.partition != partition {
                cx.push(
                    Finding::error(
                        "XP022",
                        format!("`{from}` ({partition}) refers to `{rid}`, which is in {} (`{}`)", tp.partition, tp.name),
                    )
                    .at(cx.source.span_within(&path, &text))
                    .hint("no principal or resource of another partition can be named here; the bridge between partitions is Roles Anywhere"),
                );
            }
            None
        }
        Pending::Type {
            from,
            path,
            rid,
            want,
        } => {
            let Some(target) = resources.get(&rid) else {
                return Some(Pending::Type {
                    from,
                    path,
                    rid,
                    want,
                });
            };
            if kept(&from) && target.type_name != want {
                cx.push(
                    Finding::error(
                        "XP017",
                        format!(
                            "`{rid}` is a `{}`, but this field wants a `{want}`",
                            target.type_name
                        ),
                    )
                    .at(cx.value(&path))
                    .hint(format!("refer to a {want} resource")),
                );
            }
            None
        }
    }
}

/// The checks that need every resource: references' targets, names that repeat, trusted
/// subjects, the plan's name and its partitions. What a resource left out of the spec (an
/// unknown reference) recorded is dropped.
fn global(cx: &mut Ctx, spec: &Spec) {
    plan_name(cx, spec);
    for (name, p) in &spec.partitions {
        for (svc, principal) in &p.spec.service_principals {
            if p.partition.foreign_service_principal(principal) {
                let at = Path::root()
                    .key("partitions")
                    .key(name)
                    .key("service_principals")
                    .key(svc);
                cx.push(
                    Finding::error("XP021", format!("service principal `{principal}` belongs to AWS China, but `{name}` is in {}", p.partition))
                        .at(cx.value(&at))
                        .hint(format!("use `{}`", Partition::Aws.service_principal(svc))),
                );
            }
        }
    }
    trusted_subjects(cx, spec);
    let kept = |id: &str| spec.resources.contains_key(id);
    for check in std::mem::take(&mut cx.later.pending) {
        // Whatever is still not there refers to no resource: loading reported it.
        settle(cx, check, &spec.resources, &spec.partitions, &kept);
    }
    // A name repeated within a type and partition: the resource with the first id keeps it,
    // every other gets the finding.
    let name_at = |id: &str| {
        Path::root()
            .key("resources")
            .key(id)
            .key("properties")
            .key("name")
    };
    let mut groups: std::collections::BTreeMap<&NameKey, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (key, id) in &cx.later.named_again {
        groups.entry(key).or_default().push(id);
    }
    let mut found = vec![];
    for (key, mut ids) in groups {
        ids.push(&cx.later.first_named[key]);
        ids.retain(|id| kept(id));
        ids.sort_unstable();
        let Some((first, rest)) = ids.split_first() else {
            continue;
        };
        let first_line = cx.value(&name_at(first)).line;
        for id in rest {
            found.push(
                Finding::error("XP060", format!("two `{}` resources are named `{}`", key.0, key.2))
                    .at(cx.value(&name_at(id)))
                    .hint(format!("the other is on line {first_line}; names must be unique per type and partition")),
            );
        }
    }
    cx.out.extend(found);
}

/// The resource id a field refers to when it is exactly one reference (`${id.attr}`).
fn single_ref_id(s: &str) -> Option<String> {
    Template::parse(s)
        .ok()?
        .single_ref()
        .map(|(id, _)| id.to_string())
}

/// A role that trusts one certificate subject CN (`roles_anywhere.subject_cn`) must be
/// reachable by a certificate of the plan when the plan issues that anchor's certificates: a CN
/// that differs by one look-alike character (a Cyrillic `с` for a Latin `c`) otherwise passes
/// every check and fails only when the workload asks for credentials. Subject fields that mix
/// scripts get a warning of their own (`subject_characters`).
fn trusted_subjects(cx: &mut Ctx, spec: &Spec) {
    // The plan's certificates by issuing CA, once: (cert id, its CN as known).
    let mut by_ca: std::collections::HashMap<String, Vec<(&String, String)>> =
        std::collections::HashMap::new();
    for c in spec.resources.values() {
        if let Kind::PkiCert(pc) = &c.kind {
            if let Some(ca) = single_ref_id(&pc.ca) {
                by_ca
                    .entry(ca)
                    .or_default()
                    .push((&c.id, known(&pc.subject.common_name).0.into_owned()));
            }
        }
    }
    for r in spec.resources.values() {
        let Kind::Role(role) = &r.kind else { continue };
        let Some(ra) = &role.trust.roles_anywhere else {
            continue;
        };
        let Some(cn) = ra.subject_cn.as_deref() else {
            continue;
        };
        let (cn, complete) = known(cn);
        let Some(anchor) = single_ref_id(&ra.trust_anchor).and_then(|a| spec.resources.get(&a))
        else {
            continue;
        };
        let Kind::TrustAnchor(ta) = &anchor.kind else {
            continue;
        };
        let Some(ca) = ta.ca.as_deref().and_then(single_ref_id) else {
            continue;
        };
        let Some(certs) = by_ca.get(&ca) else {
            continue;
        };
        if !complete || certs.iter().any(|(_, c)| *c == cn) {
            continue;
        }
        let theirs = certs
            .iter()
            .map(|(id, c)| {
                format!(
                    "`{}` ({id}){}",
                    crate::diag::excerpt(c, 64),
                    crate::diag::non_ascii(c)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let at = props(r)
            .key("trust")
            .key("roles_anywhere")
            .key("subject_cn");
        cx.push(
            Finding::error(
                "XP067",
                format!(
                    "role `{}` trusts certificates with CN `{}`{}, but the plan's certificates of CA `{ca}` have CN {theirs}",
                    r.id,
                    crate::diag::excerpt(&cn, 64),
                    crate::diag::non_ascii(&cn)
                ),
            )
            .at(cx.value(&at))
            .hint("make `subject_cn` and the certificate's `common_name` the same text; Roles Anywhere compares them exactly"),
        );
    }
}

/// Subject fields that mix ASCII letters with letters of another script: almost always a
/// look-alike typed by mistake, and Roles Anywhere matches subjects exactly.
fn subject_characters(cx: &mut Ctx, at: &Path, s: &crate::spec::types::Subject) {
    let fields = [
        ("common_name", Some(&s.common_name)),
        ("organization", s.organization.as_ref()),
        ("organizational_unit", s.organizational_unit.as_ref()),
        ("country", s.country.as_ref()),
    ];
    for (field, v) in fields {
        let Some(v) = v else { continue };
        let text = known_text(v);
        let ascii_letters = text.chars().any(|c| c.is_ascii_alphabetic());
        let other_letters = text.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
        if ascii_letters && other_letters {
            cx.push(
                Finding::warning(
                    "XP068",
                    format!(
                        "subject {field} `{}` mixes ASCII letters with other scripts{}",
                        crate::diag::excerpt(&text, 64),
                        crate::diag::non_ascii(&text)
                    ),
                )
                .at(cx.value(&at.key("subject").key(field)))
                .hint("a look-alike letter makes a different name: retype it in one script"),
            );
        }
    }
}

fn props(r: &ResourceDef) -> Path {
    r.path.key("properties")
}

/// ARNs and references of another partition in fields that name things in this one.
fn cross_partition(cx: &mut Ctx, r: &ResourceDef, p: &PartitionDef) {
    let mut leaves = vec![];
    spec::strings_where(
        &r.properties,
        &props(r),
        &|s| s.contains("arn:") || spec::has_template(s),
        &mut leaves,
    );
    for (path, s) in leaves {
        let field = path.0.get(3).and_then(|s| match s {
            spec::Seg::Key(k) => Some(k.as_str()),
            _ => None,
        });
        if field.is_some_and(|f| FREE_FIELDS.contains(&f)) {
            continue;
        }
        let mut rest = s;
        while let Some(i) = rest.find("arn:") {
            let after = &rest[i + 4..];
            let part = after.split(':').next().unwrap_or_default();
            if !part.is_empty() && !part.contains('$') && part != p.partition.id() {
                let needle = format!("arn:{part}:");
                let span = cx.source.span_within(&path, &needle);
                // The raw text may spell the partition through ${partitions.X.partition}.
                let span = if span == cx.value(&path) {
                    cx.source.span_within(&path, "arn:")
                } else {
                    span
                };
                cx.push(
                    Finding::error(
                        "XP020",
                        format!("ARN of partition `{part}` in `{}`, which is in {} (`{}`)", r.id, p.partition, p.name),
                    )
                    .at(span)
                    .hint(format!(
                        "refer to a resource of `{}` (${{id.arn}}) or build the ARN with ${{partitions.{}.partition}}; AWS rejects principals and resources of another partition",
                        p.name, p.name
                    )),
                );
            }
            rest = after;
        }
        let Ok(t) = Template::parse(s) else { continue };
        for (rid, _, text) in t.refs() {
            cx.later.fresh.push(Pending::SamePartition {
                from: r.id.clone(),
                path: path.clone(),
                text: text.to_string(),
                rid: rid.to_string(),
                partition: p.partition,
            });
        }
    }
}

/// What AWS accepts as one kind of name.
struct NameRule {
    code: &'static str,
    what: &'static str,
    max: usize,
    ok: fn(char) -> bool,
    allowed: &'static str,
}

const ROLE_NAME: NameRule = NameRule {
    code: "XP050",
    what: "role name",
    max: 64,
    ok: iam_char,
    allowed: "letters, digits and +=,.@_-",
};
const INSTANCE_PROFILE_NAME: NameRule = NameRule {
    code: "XP050",
    what: "instance profile name",
    max: 128,
    ok: iam_char,
    allowed: "letters, digits and +=,.@_-",
};
const SECRET_NAME: NameRule = NameRule {
    code: "XP051",
    what: "secret name",
    max: 512,
    ok: |c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c),
    allowed: "letters, digits and /_+=.@-",
};
const TRUST_ANCHOR_NAME: NameRule = NameRule {
    what: "trust anchor name",
    ..RA_NAME
};
const PROFILE_NAME: NameRule = NameRule {
    what: "profile name",
    ..RA_NAME
};
const RA_NAME: NameRule = NameRule {
    code: "XP053",
    what: "Roles Anywhere name",
    max: 255,
    ok: |c| c.is_ascii_alphanumeric() || " _-".contains(c),
    allowed: "letters, digits, spaces, _ and -",
};

/// A name as AWS will see it, whatever produced it (literal text, a variable, an escape):
/// checked on its rendered text. A name with references is checked on what is known of it
/// (its characters, and its length as a lower bound); the engine checks it again once rendered.
fn check_name(cx: &mut Ctx, at: &Path, name: &str, rule: &NameRule) {
    if let Some(problem) = name_problem(name, rule) {
        cx.push(
            Finding::error(rule.code, problem)
                .at(cx.value(at))
                .hint(format!("1–{} characters of {}", rule.max, rule.allowed)),
        );
    }
}

/// Why AWS would refuse `name` (a template as the resolved plan holds it) as a `rule` name.
fn name_problem(name: &str, rule: &NameRule) -> Option<String> {
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
    let checks: Vec<(&str, &NameRule)> = match kind {
        Kind::Role(r) => vec![(&r.name, &ROLE_NAME)],
        Kind::InstanceProfile(ip) => vec![(&ip.name, &INSTANCE_PROFILE_NAME)],
        Kind::Secret(s) => vec![(&s.name, &SECRET_NAME)],
        Kind::TrustAnchor(t) => vec![(&t.name, &TRUST_ANCHOR_NAME)],
        Kind::Profile(p) => vec![(&p.name, &PROFILE_NAME)],
        _ => vec![],
    };
    let mut out: Vec<String> = checks
        .into_iter()
        .filter(|(n, _)| !n.contains(crate::plan::UNKNOWN))
        .filter_map(|(n, rule)| name_problem(&escape(n), rule))
        .collect();
    if let Kind::KmsKey(k) = kind {
        if let Some(a) = k
            .alias
            .as_deref()
            .filter(|a| !a.contains(crate::plan::UNKNOWN))
        {
            out.extend(alias_problem(&escape(a)));
        }
    }
    out
}

/// A rendered value as a template of itself (its `${` escaped), for the checks that take
/// templates.
fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

/// Why AWS would refuse `alias` (a template) as a KMS alias.
fn alias_problem(alias: &str) -> Option<String> {
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

fn iam_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

fn documents(r: &ResourceDef) -> Vec<(Path, Json)> {
    let at = props(r);
    match &r.kind {
        Kind::Role(role) => {
            let mut v = vec![];
            if let Some(d) = &role.trust.document {
                v.push((at.key("trust").key("document"), policy::yaml_to_json(d)));
            }
            for (n, pol) in &role.policies {
                if let Some(d) = &pol.document {
                    v.push((
                        at.key("policies").key(n).key("document"),
                        policy::yaml_to_json(d),
                    ));
                }
            }
            v
        }
        Kind::KmsKey(k) => k
            .policy
            .iter()
            .map(|d| (at.key("policy"), policy::yaml_to_json(d)))
            .collect(),
        Kind::Profile(pr) => pr
            .session_policy
            .iter()
            .map(|d| (at.key("session_policy"), policy::yaml_to_json(d)))
            .collect(),
        _ => vec![],
    }
}

fn kind_rules(cx: &mut Ctx, r: &ResourceDef, part: Option<&PartitionDef>, base: &FsPath) {
    let at = props(r);
    for (doc_at, doc) in documents(r) {
        if doc.get("Statement").is_none() {
            cx.push(
                Finding::error("XP044", "a policy document needs a `Statement`")
                    .at(cx.value(&doc_at))
                    .hint("write Version and Statement as in IAM's JSON policy grammar"),
            );
        }
        for (i, st) in policy::statements(&doc).into_iter().enumerate() {
            let st_at = doc_at.key("Statement");
            let st_at = if doc.get("Statement").is_some_and(Json::is_array) {
                st_at.index(i)
            } else {
                st_at
            };
            let allow = st.get("Effect").and_then(Json::as_str) == Some("Allow");
            for (kind, who) in policy::principals(st) {
                if who == "*" && allow && st.get("Condition").is_none() {
                    cx.push(
                        Finding::error(
                            "XP042",
                            "a wildcard principal without a condition lets anyone in",
                        )
                        .at(cx.key(&st_at.key("Principal")))
                        .hint("name the principal, or add a Condition that narrows it"),
                    );
                }
                if let Some(p) = part {
                    if kind == "Service" && p.partition.foreign_service_principal(who) {
                        cx.push(
                            Finding::error("XP021", format!("service principal `{who}` belongs to AWS China, but `{}` is in {}", r.id, p.partition))
                                .at(cx.source.span_within(&st_at.key("Principal"), who))
                                .hint(format!("use `{}`", who.trim_end_matches(".cn"))),
                        );
                    }
                }
                if kind == "Service" && who == "rolesanywhere.amazonaws.com" && allow {
                    let binds = st
                        .get("Condition")
                        .and_then(Json::as_object)
                        .is_some_and(|c| {
                            c.values().any(|ops| {
                                ops.as_object().is_some_and(|o| {
                                    o.keys().any(|k| k.eq_ignore_ascii_case("aws:SourceArn"))
                                })
                            })
                        });
                    if !binds {
                        cx.push(
                            Finding::warning("XP041", "Roles Anywhere trust without an aws:SourceArn condition: any trust anchor in the account can hand out this role")
                                .at(cx.key(&st_at.key("Principal")))
                                .hint("use `trust: {roles_anywhere: {trust_anchor: ${anchor.arn}}}`, or add ArnEquals aws:SourceArn"),
                        );
                    }
                }
            }
        }
    }
    match &r.kind {
        Kind::Role(role) => {
            check_name(cx, &at.key("name"), &role.name, &ROLE_NAME);
            let set = [
                role.trust.service.is_some(),
                role.trust.roles_anywhere.is_some(),
                role.trust.document.is_some(),
            ];
            if set.iter().filter(|b| **b).count() != 1 {
                cx.push(
                    Finding::error(
                        "XP058",
                        "`trust` needs exactly one of `service`, `roles_anywhere`, `document`",
                    )
                    .at(cx.key(&at.key("trust")))
                    .hint("e.g. `trust: {service: ec2}`"),
                );
            }
            if let Some(svc) = &role.trust.service {
                if svc.contains('.') {
                    cx.push(Finding::error("XP021", format!("`service: {svc}` takes a short service name; the principal comes from the partition table")).at(cx.value(&at.key("trust").key("service"))).hint(format!("write `service: {}`", svc.split('.').next().unwrap_or(svc))));
                }
            }
            for (n, pol) in &role.policies {
                for (i, s) in pol.statements.iter().enumerate() {
                    if s.actions.iter().any(|a| a == "*") && s.resources.iter().any(|r| r == "*") {
                        cx.push(
                            Finding::warning(
                                "XP043",
                                "a statement allowing every action on every resource",
                            )
                            .at(cx.key(&at.key("policies").key(n).key("statements").index(i)))
                            .hint("list the actions and resource ARNs the role needs"),
                        );
                    }
                    for (j, a) in s.actions.iter().enumerate() {
                        if a != "*" && !a.contains(':') {
                            cx.push(Finding::error("XP062", format!("action `{a}` has no service prefix")).at(cx.value(&at.key("policies").key(n).key("statements").index(i).key("actions").index(j))).hint("write actions as service:Action, e.g. secretsmanager:GetSecretValue"));
                        }
                    }
                }
            }
        }
        Kind::InstanceProfile(ip) => {
            check_name(cx, &at.key("name"), &ip.name, &INSTANCE_PROFILE_NAME)
        }
        Kind::Secret(s) => {
            check_name(cx, &at.key("name"), &s.name, &SECRET_NAME);
            let v = &s.value;
            let n = [
                v.env.is_some(),
                v.file.is_some(),
                v.generate.is_some(),
                v.literal.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if n != 1 {
                cx.push(
                    Finding::error(
                        "XP058",
                        "`value` needs exactly one of `env`, `file`, `generate`, `literal`",
                    )
                    .at(cx.key(&at.key("value")))
                    .hint("e.g. `value: {env: MY_SECRET}`"),
                );
            }
            if v.literal.is_some() && !s.allow_literal {
                cx.push(
                    Finding::error("XP057", "a literal secret value is written in the plan")
                        .at(cx.value(&at.key("value").key("literal")))
                        .hint("read it from `env:` or `file:`, or let the service `generate:` it; `allow_literal: true` if this is really a test value")
                        .conceal_source(),
                );
            }
            if let Some(w) = s.recovery_window_days {
                if !(7..=30).contains(&w) {
                    cx.push(
                        Finding::error(
                            "XP059",
                            format!("recovery window {w} is outside 7–30 days"),
                        )
                        .at(cx.value(&at.key("recovery_window_days")))
                        .hint("use 7–30, or `force_delete: true` for no recovery"),
                    );
                }
            }
        }
        Kind::KmsKey(k) => {
            if let Some(problem) = k.alias.as_deref().and_then(alias_problem) {
                cx.push(
                    Finding::error("XP052", problem)
                        .at(cx.value(&at.key("alias")))
                        .hint(
                            "start with `alias/` (not `alias/aws/`), then letters, digits and /_-",
                        ),
                );
            }
            if let Some(w) = k.deletion_window_days {
                if !(7..=30).contains(&w) {
                    cx.push(
                        Finding::error(
                            "XP059",
                            format!("deletion window {w} is outside 7–30 days"),
                        )
                        .at(cx.value(&at.key("deletion_window_days")))
                        .hint("KMS schedules key deletion 7 to 30 days out"),
                    );
                }
            }
            if let (Some(doc), Some(p)) = (&k.policy, part) {
                if !policy::key_policy_keeps_account(&policy::yaml_to_json(doc), p) {
                    cx.push(
                        Finding::error("XP040", "this key policy locks the account out: no statement gives the account principal kms:* or kms:PutKeyPolicy")
                            .at(cx.key(&at.key("policy")))
                            .hint(format!("add the default statement: Principal AWS {}, Action kms:*, Resource *", p.partition.account_principal(&policy::account_of(p)))),
                    );
                }
            }
        }
        Kind::TrustAnchor(ta) => {
            check_name(cx, &at.key("name"), &ta.name, &TRUST_ANCHOR_NAME);
            if ta.ca.is_some() == ta.certificate_file.is_some() {
                cx.push(
                    Finding::error(
                        "XP058",
                        "a trust anchor needs exactly one of `ca` and `certificate_file`",
                    )
                    .at(cx.key(&at))
                    .hint("e.g. `ca: ${root_ca.id}`"),
                );
            }
            if let Some(f) = &ta.certificate_file {
                check_ca_file(cx, &at.key("certificate_file"), f, base);
            }
        }
        Kind::Profile(pr) => {
            check_name(cx, &at.key("name"), &pr.name, &PROFILE_NAME);
            if let Some(d) = pr.duration_seconds {
                if !(900..=43200).contains(&d) {
                    cx.push(
                        Finding::error(
                            "XP055",
                            format!("session duration {d} s is outside 900–43200"),
                        )
                        .at(cx.value(&at.key("duration_seconds")))
                        .hint("Roles Anywhere sessions last 15 minutes to 12 hours"),
                    );
                }
            }
            if pr.roles.is_empty() {
                cx.push(
                    Finding::error("XP058", "a profile needs at least one role")
                        .at(cx.key(&at.key("roles")))
                        .hint("roles: [${role.arn}]"),
                );
            }
        }
        Kind::PkiCa(ca) => {
            if let Some(s) = &ca.subject {
                subject_characters(cx, &at, s);
            }
            if let Some(d) = &ca.dir {
                check_dir(cx, &at.key("dir"), d);
            }
            if let Some(k) = &ca.key {
                key_spec(cx, &at.key("key"), k);
            }
            if let Some(imp) = &ca.import {
                check_ca_file(
                    cx,
                    &at.key("import").key("certificate_file"),
                    &imp.certificate_file,
                    base,
                );
            } else if ca.subject.is_none() {
                cx.push(
                    Finding::error("XP004", "a generated CA needs a `subject`")
                        .at(cx.key(&at))
                        .hint("subject: {common_name: my-root-ca}, or `import:` an existing CA"),
                );
            }
        }
        Kind::PkiCert(c) => {
            subject_characters(cx, &at, &c.subject);
            if let Some(d) = &c.dir {
                check_dir(cx, &at.key("dir"), d);
            }
            if let Some(k) = &c.key {
                key_spec(cx, &at.key("key"), k);
            }
        }
        Kind::Vpc(v) => cidr(cx, &at.key("cidr"), &v.cidr),
        Kind::Subnet(s) => cidr(cx, &at.key("cidr"), &s.cidr),
        Kind::RouteTable(rt) => {
            for (i, route) in rt.routes.iter().enumerate() {
                cidr(
                    cx,
                    &at.key("routes").index(i).key("destination"),
                    &route.destination,
                );
            }
        }
        Kind::SecurityGroup(sg) => {
            for (i, rule) in sg.ingress.iter().enumerate() {
                let rat = at.key("ingress").index(i);
                cidr(cx, &rat.key("cidr"), &rule.cidr);
                let ports =
                    rule.port.is_some() || rule.from_port.is_some() || rule.to_port.is_some();
                if !["tcp", "udp", "icmp", "-1"].contains(&rule.protocol.as_str()) {
                    cx.push(
                        Finding::error(
                            "XP061",
                            format!("protocol `{}` is not tcp, udp, icmp or -1", rule.protocol),
                        )
                        .at(cx.value(&rat.key("protocol")))
                        .hint("use tcp, udp, icmp or -1 (all)"),
                    );
                } else if ["tcp", "udp"].contains(&rule.protocol.as_str()) && !ports {
                    cx.push(
                        Finding::error(
                            "XP061",
                            "a tcp or udp rule needs `port` or `from_port`/`to_port`",
                        )
                        .at(cx.key(&rat))
                        .hint("e.g. port: 22"),
                    );
                }
                if let (Some(f), Some(t)) = (rule.from_port, rule.to_port) {
                    if f > t {
                        cx.push(
                            Finding::error("XP061", format!("from_port {f} is above to_port {t}"))
                                .at(cx.value(&rat.key("from_port")))
                                .hint("swap them"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

// ---- limits: lengths, characters and numbers AWS (or X.509) refuses ----------------------
//
// Each of these would pass every other check and fail only when its resource is created, after
// the resources created before it: a partial apply. moto, behind the test-bed, enforces few of
// them, so without these rules the test-bed would even accept what AWS refuses.

/// The longest tag key and value AWS takes (IAM, KMS, Secrets Manager, EC2, Roles Anywhere).
const TAG_KEY_MAX: usize = 128;
const TAG_VALUE_MAX: usize = 256;
/// The longest plan name: it is the `xpart:plan` tag value and a directory name.
const PLAN_NAME_MAX: usize = 255;

/// What lint knows of a string: its literal text (escapes undone: `$${x}` is the text `${x}`)
/// and whether that is all of it. References (`${id.attr}`) are known only at apply, so they
/// count as empty, which makes lengths a lower bound; every character lint sees is one that
/// will be in the value.
fn known(s: &str) -> (std::borrow::Cow<'_, str>, bool) {
    if !spec::has_template(s) {
        // Most strings hold no template at all: no parse, no copy.
        return (std::borrow::Cow::Borrowed(s), true);
    }
    match Template::parse(s) {
        Ok(t) => {
            let (text, complete) = t.known_text();
            (std::borrow::Cow::Owned(text), complete)
        }
        Err(_) => (std::borrow::Cow::Borrowed(s), false),
    }
}

/// The known text alone (see `known`).
fn known_text(s: &str) -> std::borrow::Cow<'_, str> {
    known(s).0
}

/// Free text AWS takes up to `max` characters of, each passing `ok`.
fn check_text(
    cx: &mut Ctx,
    at: &Path,
    what: &str,
    value: &str,
    max: usize,
    ok: fn(char) -> bool,
    allowed: &str,
) {
    let text = known_text(value);
    let n = text.chars().count();
    if n > max {
        cx.push(
            Finding::error(
                "XP054",
                format!("{what} is {n} characters long; AWS takes at most {max}"),
            )
            .at(cx.value(at))
            .hint(format!("shorten it to {max} characters or fewer")),
        );
    } else if let Some(c) = text.chars().find(|c| !ok(*c)) {
        cx.push(
            Finding::error(
                "XP054",
                format!("{what} holds {c:?}, a character AWS refuses there"),
            )
            .at(cx.value(at))
            .hint(format!("use {allowed}")),
        );
    }
}

/// IAM descriptions: tab, newline, printable ASCII and Latin-1.
fn iam_text(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}')
}

fn any_char(_: char) -> bool {
    true
}

/// EC2 security group (and rule) descriptions.
fn sg_text(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// A number outside `range`.
fn check_range(
    cx: &mut Ctx,
    at: &Path,
    what: &str,
    n: u64,
    range: std::ops::RangeInclusive<u64>,
    why: &str,
) {
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

fn check_tags(cx: &mut Ctx, at: &Path, tags: &crate::spec::types::Tags) {
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
        check_text(
            cx,
            &kat,
            &format!("the value of tag `{k}`"),
            v,
            TAG_VALUE_MAX,
            any_char,
            "",
        );
    }
}

/// An IAM path: `/`, or `/…/` of printable ASCII, up to 512 characters.
fn check_iam_path(cx: &mut Ctx, at: &Path, path: &str) {
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

/// The plan name and its identity: the identity is the value of every resource's
/// `xpart:plan` tag and the name of the plan's state directory, and by default it is the name.
/// Checked on the rendered text, whatever produced it (variables, escapes): no path separators,
/// no dot-names, not longer than a tag value or a file name.
fn plan_name(cx: &mut Ctx, spec: &Spec) {
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

/// Lengths, characters and numbers AWS refuses, per type.
fn limits(cx: &mut Ctx, r: &ResourceDef) {
    let at = props(r);
    let name_tag = |cx: &mut Ctx, name: &str| {
        check_text(
            cx,
            &at.key("name"),
            "the name (its `Name` tag)",
            name,
            TAG_VALUE_MAX,
            any_char,
            "",
        )
    };
    match &r.kind {
        Kind::Role(role) => {
            if let Some(d) = &role.description {
                check_text(
                    cx,
                    &at.key("description"),
                    "the role description",
                    d,
                    1000,
                    iam_text,
                    "printable ASCII and Latin-1 characters",
                );
            }
            if let Some(p) = &role.path {
                check_iam_path(cx, &at.key("path"), p);
            }
            if let Some(n) = role.max_session_duration {
                check_range(
                    cx,
                    &at.key("max_session_duration"),
                    "max_session_duration",
                    n.into(),
                    3600..=43200,
                    "IAM roles take 1 to 12 hours (3600–43200 s)",
                );
            }
            check_tags(cx, &at, &role.tags);
        }
        Kind::InstanceProfile(ip) => {
            if let Some(p) = &ip.path {
                check_iam_path(cx, &at.key("path"), p);
            }
            check_tags(cx, &at, &ip.tags);
        }
        Kind::Secret(sec) => {
            if let Some(d) = &sec.description {
                check_text(
                    cx,
                    &at.key("description"),
                    "the secret description",
                    d,
                    2048,
                    any_char,
                    "",
                );
            }
            if let Some(n) = sec.value.generate.as_ref().and_then(|g| g.length) {
                check_range(
                    cx,
                    &at.key("value").key("generate").key("length"),
                    "generated length",
                    n.into(),
                    1..=4096,
                    "GetRandomPassword makes 1 to 4096 characters",
                );
            }
            check_tags(cx, &at, &sec.tags);
        }
        Kind::KmsKey(k) => {
            if let Some(d) = &k.description {
                check_text(
                    cx,
                    &at.key("description"),
                    "the key description",
                    d,
                    8192,
                    any_char,
                    "",
                );
            }
            check_tags(cx, &at, &k.tags);
        }
        Kind::TrustAnchor(ta) => check_tags(cx, &at, &ta.tags),
        Kind::Profile(pr) => check_tags(cx, &at, &pr.tags),
        Kind::PkiCa(ca) => {
            if let Some(n) = ca.validity_days {
                check_range(
                    cx,
                    &at.key("validity_days"),
                    "validity_days",
                    n.into(),
                    1..=crate::pki::MAX_VALIDITY_DAYS.into(),
                    "a certificate is valid for 1 day to 100 years",
                );
            }
        }
        Kind::PkiCert(c) => {
            let validity = c
                .validity_days
                .unwrap_or(crate::pki::DEFAULT_CERT_VALIDITY_DAYS);
            if let Some(n) = c.validity_days {
                check_range(
                    cx,
                    &at.key("validity_days"),
                    "validity_days",
                    n.into(),
                    1..=crate::pki::MAX_VALIDITY_DAYS.into(),
                    "a certificate is valid for 1 day to 100 years",
                );
            }
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
        Kind::Vpc(v) => {
            name_tag(cx, &v.name);
            check_tags(cx, &at, &v.tags);
        }
        Kind::Subnet(v) => {
            name_tag(cx, &v.name);
            check_tags(cx, &at, &v.tags);
        }
        Kind::InternetGateway(v) => {
            name_tag(cx, &v.name);
            check_tags(cx, &at, &v.tags);
        }
        Kind::RouteTable(v) => {
            name_tag(cx, &v.name);
            check_tags(cx, &at, &v.tags);
        }
        Kind::SecurityGroup(sg) => {
            check_text(
                cx,
                &at.key("name"),
                "the security group name",
                &sg.name,
                255,
                sg_text,
                "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
            );
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
            if let Some(d) = &sg.description {
                check_text(
                    cx,
                    &at.key("description"),
                    "the security group description",
                    d,
                    255,
                    sg_text,
                    "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
                );
            }
            for (i, rule) in sg.ingress.iter().enumerate() {
                if let Some(d) = &rule.description {
                    check_text(
                        cx,
                        &at.key("ingress").index(i).key("description"),
                        "the rule description",
                        d,
                        255,
                        sg_text,
                        "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
                    );
                }
            }
            check_tags(cx, &at, &sg.tags);
        }
        Kind::Instance(inst) => {
            name_tag(cx, &inst.name);
            check_tags(cx, &at, &inst.tags);
            if let Some(b) = &inst.bootstrap {
                bootstrap_settings(cx, &at.key("bootstrap"), b);
                // The user data holds every setting (and more): what is known already is a
                // lower bound of its size.
                let mut leaves = vec![];
                spec::strings(b, &at.key("bootstrap"), &mut leaves);
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
    }
}

/// The instance's bootstrap settings as the instance will need them (`bootstrap::check`):
/// checked now, since the engine renders them only when it creates the instance, after all
/// it depends on. References, known only at apply, pass as `plan::UNKNOWN`.
fn bootstrap_settings(cx: &mut Ctx, at: &Path, b: &serde_yaml::Value) {
    fn unknown_refs(v: &mut Json) {
        match v {
            Json::String(s) => {
                if let Ok(t) = Template::parse(s) {
                    *s = t
                        .parts
                        .iter()
                        .map(|(p, _)| match p {
                            crate::spec::template::Part::Lit(l) => l.as_str(),
                            _ => crate::plan::UNKNOWN,
                        })
                        .collect();
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
                .hint("the workload's installer (src/bootstrap.rs) takes a fixed set of settings: fix this one"),
        );
    }
}

/// Key files go inside the plan's state directory, never elsewhere.
fn check_dir(cx: &mut Ctx, at: &Path, dir: &str) {
    let (text, complete) = known(dir);
    if !complete || !spec::confined(&text) {
        cx.push(
            Finding::error(
                "XP066",
                format!(
                    "dir `{}` is not a relative path inside the plan's state directory",
                    crate::diag::excerpt(dir, 80)
                ),
            )
            .at(cx.value(at))
            .hint("give a relative directory without `..` (e.g. `pki/ca`); it is placed under the state directory"),
        );
    }
}

fn key_spec(cx: &mut Ctx, at: &Path, k: &KeySpec) {
    match k.algorithm {
        KeyAlgorithm::Rsa if !matches!(k.bits, None | Some(2048 | 3072 | 4096)) => {
            cx.push(
                Finding::error(
                    "XP063",
                    format!("RSA keys of {} bits are not supported", k.bits.unwrap_or(0)),
                )
                .at(cx.value(&at.key("bits")))
                .hint("bits: 2048, 3072 or 4096"),
            );
        }
        KeyAlgorithm::Ecdsa if k.bits.is_some() => {
            cx.push(
                Finding::error("XP063", "ECDSA keys take `curve`, not `bits`")
                    .at(cx.key(&at.key("bits")))
                    .hint("curve: p256 or p384"),
            );
        }
        _ => {}
    }
}

fn cidr(cx: &mut Ctx, at: &Path, s: &str) {
    let (s, complete) = known(s);
    if !complete {
        return;
    }
    let ok = s.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|n| n <= 32)
    });
    if !ok {
        cx.push(
            Finding::error("XP061", format!("`{s}` is not an IPv4 CIDR block"))
                .at(cx.value(at))
                .hint("e.g. 10.0.0.0/16"),
        );
    }
}

/// A CA the user brings gets the checks CreateTrustAnchor applies, before any API call.
fn check_ca_file(cx: &mut Ctx, at: &Path, file: &str, base: &FsPath) {
    let (file, complete) = known(file);
    if !complete {
        return;
    }
    let path = base.join(&*file);
    let pem = match crate::input::read("CA certificate", &path, crate::input::MAX_PEM) {
        Ok(b) => b,
        Err(e) => {
            cx.push(
                Finding::error("XP056", e.to_string())
                    .at(cx.value(at))
                    .hint("give a PEM file path relative to the plan"),
            );
            return;
        }
    };
    match crate::pki::ca_problems(&pem) {
        Ok(problems) => {
            for p in problems {
                cx.push(Finding::error("XP056", format!("{}: {p}", path.display())).at(cx.value(at)).hint("a trust anchor CA needs X.509 v3 with basicConstraints CA:TRUE and keyUsage keyCertSign"));
            }
        }
        Err(e) => cx.push(
            Finding::error("XP056", format!("{}: {e}", path.display()))
                .at(cx.value(at))
                .hint("give a PEM-encoded X.509 certificate"),
        ),
    }
}

/// Fields whose single reference must point at a resource of a given type.
fn reference_types(cx: &mut Ctx, r: &ResourceDef) {
    let expected: &[(&str, &str)] = match r.type_name.as_str() {
        "pki.cert" => &[("ca", "pki.ca")],
        "secretsmanager.secret" => &[("kms_key", "kms.key")],
        "iam.instance_profile" => &[("role", "iam.role")],
        "rolesanywhere.trust_anchor" => &[("ca", "pki.ca")],
        "rolesanywhere.profile" => &[("roles", "iam.role")],
        "ec2.subnet" | "ec2.internet_gateway" | "ec2.route_table" | "ec2.security_group" => {
            &[("vpc", "ec2.vpc")]
        }
        "ec2.instance" => &[
            ("subnet", "ec2.subnet"),
            ("security_groups", "ec2.security_group"),
            ("instance_profile", "iam.instance_profile"),
        ],
        _ => &[],
    };
    let mut checks: Vec<(Path, &str)> = expected
        .iter()
        .map(|(f, t)| (props(r).key(f), *t))
        .collect();
    if r.type_name == "iam.role" {
        checks.push((
            props(r)
                .key("trust")
                .key("roles_anywhere")
                .key("trust_anchor"),
            "rolesanywhere.trust_anchor",
        ));
    }
    if r.type_name == "ec2.route_table" {
        if let Kind::RouteTable(rt) = &r.kind {
            for i in 0..rt.routes.len() {
                checks.push((
                    props(r).key("routes").index(i).key("gateway"),
                    "ec2.internet_gateway",
                ));
            }
        }
        checks.push((props(r).key("subnets"), "ec2.subnet"));
    }
    for (at, want) in checks {
        let mut leaves = vec![];
        if let Some(v) = lookup(&r.properties, &at.0[3..]) {
            spec::strings_where(v, &at, &spec::has_template, &mut leaves);
        }
        for (path, s) in leaves {
            let Ok(t) = Template::parse(s) else { continue };
            if let Some((rid, _)) = t.single_ref() {
                cx.later.fresh.push(Pending::Type {
                    from: r.id.clone(),
                    path,
                    rid: rid.to_string(),
                    want,
                });
            }
        }
    }
}

fn lookup<'v>(v: &'v serde_yaml::Value, segs: &[spec::Seg]) -> Option<&'v serde_yaml::Value> {
    let mut cur = v;
    for s in segs {
        cur = match s {
            spec::Seg::Key(k) => cur.get(k.as_str())?,
            spec::Seg::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}
