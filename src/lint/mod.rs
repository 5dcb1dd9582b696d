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
use crate::plan::template::Template;
use crate::plan::types::{with_props, KeyAlgorithm, KeySpec};
use crate::plan::{self, LoadOptions, PartitionDef, Path, Plan, ResourceDef};
use crate::policy;

pub(crate) mod kinds;
pub(crate) mod limits;
pub(crate) mod names;
pub(crate) mod pki;
mod references;

use kinds::*;
pub use names::rendered_name_problems;
use names::*;
use pki::*;
use references::*;

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
) -> (Option<Plan>, Vec<Finding>) {
    let mut later = Later::default();
    let (spec, mut findings) = plan::load_with(
        name,
        text,
        opts,
        Some(base),
        &mut |r, source, partitions, built| {
            let mut cx = Checker {
                source,
                later: &mut later,
                out: vec![],
            };
            local(&mut cx, r, partitions, built, base);
            with_file(cx.out, name)
        },
    );
    if let Some(spec) = &spec {
        let mut cx = Checker {
            source: &spec.source,
            later: &mut later,
            out: vec![],
        };
        global(&mut cx, spec);
        findings.extend(with_file(cx.out, name));
        spec.source.annotate(&mut findings);
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

/// Where one plan's findings go, with the source to point them at.
pub(crate) struct Checker<'a> {
    source: &'a crate::plan::Source,
    later: &'a mut Later,
    out: Vec<Finding>,
}

impl Checker<'_> {
    pub(crate) fn push(&mut self, f: Finding) {
        self.out.push(f);
    }
    pub(crate) fn value(&self, p: &Path) -> crate::diag::Span {
        self.source.value_span(p)
    }
    pub(crate) fn key(&self, p: &Path) -> crate::diag::Span {
        self.source.key_span(p)
    }
}

/// `Rules::documents` of a type with one policy document, its property `key`, when the plan
/// gives one.
pub(crate) fn one_document(
    at: &Path,
    key: &str,
    doc: Option<&serde_yaml::Value>,
) -> Vec<(Path, Json)> {
    doc.map(|d| (at.key(key), policy::yaml_to_json(d)))
        .into_iter()
        .collect()
}

/// Lint's part of a resource type, implemented beside the type's engine module (its one home)
/// and dispatched by `plan::types::with_props!`: a type without it does not compile.
pub(crate) trait Rules {
    /// The type's own rules (names, numbers, shapes, files), checked as soon as the resource
    /// is loaded. `at` is its `properties`.
    fn check(&self, cx: &mut Checker, at: &Path, env: &Env);
    /// Its policy documents: every one gets the policy rules (`kinds::policy_rules`). Most
    /// types have none.
    fn documents(&self, at: &Path) -> Vec<(Path, Json)> {
        let _ = at;
        vec![]
    }
    /// Its names AWS limits (beyond an EC2 `Name` tag's length, which `check` covers): lint
    /// checks them as written, the engine once rendered. Most types have none.
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![]
    }
}

/// What a type's rules may need besides the resource.
pub(crate) struct Env<'a> {
    /// The resource's partition (none for local types).
    pub part: Option<&'a PartitionDef>,
    /// The directory relative file paths are read from.
    pub base: &'a FsPath,
}

/// How a name is checked.
#[derive(Clone, Copy)]
pub(crate) enum NameCheck {
    Rule(&'static NameRule),
    /// A KMS alias: `alias/` and a name.
    Alias,
}

type Partitions = std::collections::BTreeMap<String, PartitionDef>;

type Resources = std::collections::BTreeMap<String, ResourceDef>;

/// The checks of one resource, as soon as it is built: its own, and those of its references to
/// resources built before it (`built`); references to later ones wait for `global`.
fn local(
    cx: &mut Checker,
    r: &ResourceDef,
    partitions: &Partitions,
    built: &Resources,
    base: &FsPath,
) {
    let part = r.partition.as_ref().and_then(|p| partitions.get(p));
    if let Some(p) = part {
        cross_partition(cx, r, p);
    }
    kind_rules(cx, r, part, base);
    reference_types(cx, r);
    for check in std::mem::take(&mut cx.later.fresh) {
        if let Some(later) = settle(cx, check, built, partitions, &|_| true) {
            cx.later.pending.push(later);
        }
    }
    if let Some(n) = r.properties.get("name").and_then(|v| v.as_str()) {
        let (n, complete) = known(n);
        if complete {
            let ty = r.kind.type_name();
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
    cx: &mut Checker,
    check: Pending,
    resources: &Resources,
    partitions: &Partitions,
    kept: &dyn Fn(&str) -> bool,
) -> Option<Pending> {
    // Not there yet: checked back later, as it is.
    let (Pending::SamePartition { rid, .. } | Pending::Type { rid, .. }) = &check;
    let Some(target) = resources.get(rid) else {
        return Some(check);
    };
    match check {
        Pending::SamePartition {
            from,
            path,
            text,
            rid,
            partition,
        } => {
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
fn global(cx: &mut Checker, spec: &Plan) {
    plan_name(cx, spec);
    for (name, p) in &spec.partitions {
        for (svc, principal) in &p.service_principals {
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
    held_cas(cx, spec);
    session_tag_subjects(cx, spec);
    mapped_trust(cx, spec);
    crl_targets(cx, spec);
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
                    .hint(format!("the other is `{first}`, on line {first_line}; names must be unique per type and partition")),
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

fn props(r: &ResourceDef) -> Path {
    r.path.key("properties")
}

/// What lint knows of a string: its literal text (escapes undone: `$${x}` is the text `${x}`)
/// and whether that is all of it. References (`${id.attr}`) are known only at apply, so they
/// count as empty, which makes lengths a lower bound; every character lint sees is one that
/// will be in the value.
fn known(s: &str) -> (std::borrow::Cow<'_, str>, bool) {
    if !plan::has_template(s) {
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
