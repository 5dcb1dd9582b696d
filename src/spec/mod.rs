//! The spec: a plan file loaded in two stages, raw (serde data + source positions) then
//! resolved (variables, partitions, references, dependency order).
//!
//! Loading never touches the network. Every problem becomes a `Finding` with file:line:col;
//! all of them are collected, so a user sees every mistake of a file at once.

pub mod schema;
pub mod source;
pub mod template;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use crate::diag::Finding;
use crate::partition::Partition;
pub use source::{Path, Seg, Source};
use template::{Part, Template};
pub use types::{Kind, PartitionSpec, PlanFile, ResourceSpec};

/// The plan format this xpart reads.
pub const VERSION: u32 = 1;

/// The longest resource id: it becomes a tag value (`xpart:id`) and PKI file names.
pub const MAX_ID_LEN: usize = 128;

/// Inputs besides the file: `--var` values and whether `XPART_VAR_*` is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub vars: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
}

impl LoadOptions {
    /// `--var` values plus the process's `XPART_VAR_*` environment.
    pub fn from_env(vars: BTreeMap<String, String>) -> LoadOptions {
        let env = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("XPART_VAR_").map(|n| (n.to_string(), v)))
            .collect();
        LoadOptions { vars, env }
    }
}

/// A partition as the plan uses it.
#[derive(Debug, Clone)]
pub struct PartitionDef {
    pub name: String,
    pub region: String,
    pub partition: Partition,
    pub spec: PartitionSpec,
}

impl PartitionDef {
    pub fn service_principal(&self, service: &str) -> String {
        self.spec
            .service_principals
            .get(service)
            .cloned()
            .unwrap_or_else(|| self.partition.service_principal(service))
    }
}

/// A resource as resolved: typed properties with variables and static facts substituted;
/// references to other resources (`${id.attr}`) stay in the strings until apply knows them.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub id: String,
    pub type_name: String,
    /// The plan's name for the partition (a key of `partitions`); None for local types.
    pub partition: Option<String>,
    pub kind: Kind,
    pub properties: Value,
    /// Resources this one depends on (references and `depends_on`).
    pub deps: BTreeSet<String>,
    pub path: Path,
}

/// A loaded plan: what lint checks and what the engine plans from.
#[derive(Debug)]
pub struct Spec {
    pub source: Source,
    /// The plan's name, rendered: literal text, shown in plans and messages.
    pub name: String,
    /// Whether `name` rendered (no unknown variable in it): lint checks it only then.
    pub name_known: bool,
    /// Who owns what the plan creates (see `PlanIdentity`).
    pub identity: PlanIdentity,
    /// Whether the plan sets `identity:` (else the identity is the name).
    pub identity_given: bool,
    pub vars: BTreeMap<String, String>,
    pub partitions: BTreeMap<String, PartitionDef>,
    pub resources: BTreeMap<String, ResourceDef>,
    /// Resource ids, every one after its dependencies.
    pub order: Vec<String>,
}

impl Spec {
    pub fn partition_of(&self, r: &ResourceDef) -> Option<&PartitionDef> {
        r.partition.as_ref().and_then(|p| self.partitions.get(p))
    }
}

/// Collects findings while loading, with the source for positions.
struct Loader<'a> {
    src: &'a Source,
    findings: Vec<Finding>,
}

impl Loader<'_> {
    fn push(&mut self, f: Finding) {
        let mut f = f;
        f.file = self.src.name.clone();
        self.findings.push(f);
    }

    /// Deserialize `value` (found at `at`) as `T`, turning a serde error into a finding there.
    fn typed<T: DeserializeOwned>(&mut self, value: Value, at: &Path) -> Option<T> {
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
fn path_error(
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

fn nearest<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
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
fn duplicate_key_at(text: &str, msg: &str, from: usize) -> Option<(usize, usize)> {
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
enum Entries {
    All(Vec<(String, Value)>),
    /// Present but not a mapping (reported).
    Broken,
}

/// The entries of an optional mapping at `at`; anything else but a mapping is a finding.
fn entries(l: &mut Loader, v: Option<Value>, at: &Path) -> Entries {
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

const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "identity",
    "vars",
    "partitions",
    "resources",
];

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
fn render_known(
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

/// Load a plan: the spec (None only when the text is not a YAML mapping) and every finding.
pub fn load(name: &str, text: &str, opts: &LoadOptions) -> (Option<Spec>, Vec<Finding>) {
    let src = Source::new(name, text);
    let mut l = Loader {
        src: &src,
        findings: vec![],
    };
    if let Some(span) = src.too_deep() {
        l.push(
            Finding::error(
                "XP001",
                format!(
                    "the plan nests mappings and sequences more than {} levels deep",
                    source::MAX_DEPTH
                ),
            )
            .at(span)
            .hint("a plan needs a few levels; flatten this value"),
        );
        let findings = l.findings;
        return (None, findings);
    }
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
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
            // serde_yaml places a duplicate key at its mapping's start: point at the repeat.
            let span = duplicate_key_at(text, &msg, span.start)
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
            l.push(
                Finding::error("XP001", format!("YAML syntax: {msg}"))
                    .at(span)
                    .hint(hint),
            );
            let findings = l.findings;
            return (None, findings);
        }
    };
    let Value::Mapping(mut top) = root else {
        l.push(
            Finding::error(
                "XP002",
                "a plan is a mapping with version, name, partitions and resources",
            )
            .at(src.span(0, 1)),
        );
        let findings = l.findings;
        return (None, findings);
    };
    let root_path = Path::root();
    for k in top.keys() {
        let k = k.as_str().unwrap_or("?");
        if !TOP_KEYS.contains(&k) {
            let mut f = Finding::error("XP003", format!("unknown field `{k}` in the plan"))
                .at(src.key_span(&root_path.key(k)));
            f = f.hint(match nearest(k, TOP_KEYS.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("expected one of {}", TOP_KEYS.join(", ")),
            });
            l.push(f);
        }
    }
    // The resources are most of a plan: taken out, not copied.
    let resources_value = top.remove("resources");
    let get = |k: &str| top.get(Value::String(k.into())).cloned();

    // version and name
    match get("version") {
        None => l.push(
            Finding::error("XP004", "missing field `version` in the plan")
                .at(src.span(0, 1))
                .hint("add `version: 1`"),
        ),
        Some(v) => {
            if let Some(n) = l.typed::<u32>(v, &root_path.key("version")) {
                if n != VERSION {
                    l.push(
                        Finding::error("XP005", format!("plan version {n} is not supported"))
                            .at(src.value_span(&root_path.key("version")))
                            .hint(format!("this xpart reads version {VERSION}")),
                    );
                }
            }
        }
    }
    let raw_name = match get("name") {
        None => {
            l.push(
                Finding::error("XP004", "missing field `name` in the plan")
                    .at(src.span(0, 1))
                    .hint("add `name: <owner identity>`"),
            );
            None
        }
        Some(v) => l.typed::<String>(v, &root_path.key("name")),
    };
    let raw_identity = match get("identity") {
        None => None,
        Some(v) => l.typed::<String>(v, &root_path.key("identity")),
    };

    // vars: each declaration on its own, so one malformed declaration is one finding and its
    // variable still counts as declared (no "unknown variable" at every use).
    let mut broken_vars = BTreeSet::new();
    let mut decls: BTreeMap<String, types::VarDecl> = BTreeMap::new();
    // `vars` is there but not a mapping: no use of a variable is reported as unknown.
    let mut vars_broken = false;
    match entries(&mut l, get("vars"), &root_path.key("vars")) {
        Entries::All(m) => {
            for (k, v) in m {
                match l.typed(v, &root_path.key("vars").key(&k)) {
                    Some(d) => {
                        decls.insert(k, d);
                    }
                    None => {
                        broken_vars.insert(k);
                    }
                }
            }
        }
        Entries::Broken => vars_broken = true,
    }
    let mut vars = BTreeMap::new();
    for (k, d) in &decls {
        let value = opts
            .vars
            .get(k)
            .or_else(|| opts.env.get(k))
            .or(d.default.as_ref());
        match value {
            Some(v) => {
                vars.insert(k.clone(), v.clone());
            }
            None => l.push(
                Finding::error("XP010", format!("variable `{k}` has no value"))
                    .at(src.key_span(&root_path.key("vars").key(k)))
                    .hint(format!(
                        "give it a default, or pass --var {k}=VALUE or XPART_VAR_{k}"
                    )),
            ),
        }
    }
    for k in opts.vars.keys() {
        if !decls.contains_key(k) && !broken_vars.contains(k) && !vars_broken {
            l.push(
                Finding::error(
                    "XP010",
                    format!("--var {k} is given but the plan declares no variable `{k}`"),
                )
                .at(src.key_span(&root_path.key("vars")))
                .hint(format!("declare it under `vars:` or drop --var {k}")),
            );
        }
    }

    // partitions, each on its own like vars
    // Declared but unusable (malformed, unknown region): already reported, so resources in
    // them are skipped quietly instead of each repeating the same problem.
    let mut broken_partitions = BTreeSet::new();
    let mut part_specs: BTreeMap<String, PartitionSpec> = BTreeMap::new();
    // `partitions` is there but not a mapping: every partition a resource names is unknown.
    let mut partitions_broken = false;
    match entries(&mut l, get("partitions"), &root_path.key("partitions")) {
        Entries::All(m) => {
            for (k, v) in m {
                match l.typed(v, &root_path.key("partitions").key(&k)) {
                    Some(ps) => {
                        part_specs.insert(k, ps);
                    }
                    None => {
                        broken_partitions.insert(k);
                    }
                }
            }
        }
        Entries::Broken => partitions_broken = true,
    }
    if get("partitions").is_none() {
        l.push(
            Finding::error("XP004", "missing field `partitions` in the plan")
                .at(src.span(0, 1))
                .hint("add `partitions:` with a region for each"),
        );
        partitions_broken = true;
    }
    let mut partitions = BTreeMap::new();
    for (pname, ps) in part_specs {
        let at = root_path.key("partitions").key(&pname);
        let Some(partition) = Partition::of_region(&ps.region) else {
            broken_partitions.insert(pname.clone());
            l.push(
                Finding::error("XP030", format!("region `{}` is not in a partition xpart knows", ps.region))
                    .at(src.value_span(&at.key("region")))
                    .hint("use a commercial region (e.g. us-west-2) or a China region (cn-north-1, cn-northwest-1)"),
            );
            continue;
        };
        if let Some(declared) = &ps.partition {
            if declared != partition.id() {
                l.push(
                    Finding::error(
                        "XP030",
                        format!(
                            "region `{}` is in partition {partition}, not {declared}",
                            ps.region
                        ),
                    )
                    .at(src.value_span(&at.key("region")))
                    .hint(format!(
                        "pick a region of {declared} ({})",
                        Partition::from_id(declared)
                            .map(|p| p.regions().join(", "))
                            .unwrap_or_else(|| "unknown partition".into())
                    )),
                );
            }
        }
        if let Some(acct) = &ps.account {
            if acct.len() != 12 || !acct.chars().all(|c| c.is_ascii_digit()) {
                l.push(
                    Finding::error(
                        "XP031",
                        format!("account `{acct}` is not a 12-digit account id"),
                    )
                    .at(src.value_span(&at.key("account")))
                    .hint("quote it as a string of 12 digits, e.g. \"111122223333\""),
                );
            }
        }
        partitions.insert(
            pname.clone(),
            PartitionDef {
                name: pname,
                region: ps.region.clone(),
                partition,
                spec: ps,
            },
        );
    }

    // resources, raw
    let raw_resources: BTreeMap<String, Value> = match resources_value {
        Some(Value::Mapping(m)) => m
            .into_iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v)))
            .collect(),
        Some(Value::Null) | None => BTreeMap::new(),
        Some(_) => {
            l.push(
                Finding::error("XP002", "`resources` must be a mapping of id to resource")
                    .at(src.value_span(&root_path.key("resources"))),
            );
            BTreeMap::new()
        }
    };
    let ids: BTreeSet<String> = raw_resources.keys().cloned().collect();
    // The name and the identity are literal text once variables and facts are in: what lint
    // checks is exactly what becomes the `xpart:plan` tag and the state directory's name.
    let quiet = |p: &Part| match p {
        Part::Var(v) => decls.contains_key(v) || broken_vars.contains(v) || vars_broken,
        Part::Fact { partition, .. } => broken_partitions.contains(partition) || partitions_broken,
        _ => false,
    };
    let plan_name = raw_name.as_deref().and_then(|n| {
        render_known(
            &mut l,
            n,
            &root_path.key("name"),
            &vars,
            &partitions,
            &quiet,
        )
    });
    let identity = match (&raw_identity, &raw_name) {
        (Some(t), _) => render_known(
            &mut l,
            t,
            &root_path.key("identity"),
            &vars,
            &partitions,
            &quiet,
        )
        .map(|n| PlanIdentity::new(t, &n)),
        (None, Some(t)) => plan_name.as_ref().map(|n| PlanIdentity::new(t, n)),
        (None, None) => None,
    };

    let mut resources = BTreeMap::new();
    // (where, resource id, attribute, source text) of every reference to a declared resource.
    let mut refs: Vec<(Path, String, String, String)> = vec![];
    for (id, raw) in raw_resources {
        let at = root_path.key("resources").key(&id);
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            l.push(
                Finding::error(
                    "XP016",
                    format!("resource id `{id}` may only use letters, digits, `_` and `-`"),
                )
                .at(src.key_span(&at))
                .hint("rename it; ids appear in references as ${id.attr}"),
            );
            continue;
        }
        // The id is the value of the `xpart:id` tag and names the local PKI files.
        if id.len() > MAX_ID_LEN {
            l.push(
                Finding::error(
                    "XP016",
                    format!(
                        "resource id `{}…` is {} characters long",
                        &id[..16],
                        id.len()
                    ),
                )
                .at(src.key_span(&at))
                .hint(format!(
                    "at most {MAX_ID_LEN}: the id is a tag value and a file name"
                )),
            );
            continue;
        }
        let Some(rs) = l.typed::<ResourceSpec>(raw, &at) else {
            continue;
        };
        let Some(info) = types::type_info(&rs.type_name) else {
            let names = types::TYPES.iter().map(|t| t.name);
            let hint = match nearest(&rs.type_name, names.clone()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("known types: {}", names.collect::<Vec<_>>().join(", ")),
            };
            l.push(
                Finding::error("XP006", format!("unknown resource type `{}`", rs.type_name))
                    .at(src.value_span(&at.key("type")))
                    .hint(hint),
            );
            continue;
        };
        // partition
        let partition = match (&rs.partition, info.local) {
            (Some(_), true) => {
                l.push(
                    Finding::error(
                        "XP015",
                        format!("`{}` is local and lives in no partition", info.name),
                    )
                    .at(src.key_span(&at.key("partition")))
                    .hint("remove `partition:`"),
                );
                None
            }
            (None, false) => {
                l.push(
                    Finding::error("XP015", format!("`{}` needs a partition", info.name))
                        .at(src.key_span(&at))
                        .hint(format!(
                            "add `partition:` with one of: {}",
                            partitions.keys().cloned().collect::<Vec<_>>().join(", ")
                        )),
                );
                continue;
            }
            (Some(p), false) if broken_partitions.contains(p) || partitions_broken => continue,
            (Some(p), false) if !partitions.contains_key(p) => {
                let hint = match nearest(p, partitions.keys().map(String::as_str)) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!(
                        "declared partitions: {}",
                        partitions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                l.push(
                    Finding::error(
                        "XP014",
                        format!("partition `{p}` is not declared under `partitions`"),
                    )
                    .at(src.value_span(&at.key("partition")))
                    .hint(hint),
                );
                continue;
            }
            (p, _) => p.clone(),
        };

        // templates: variables, facts, references
        let props_at = at.key("properties");
        let mut deps = BTreeSet::new();
        let mut leaves = vec![];
        strings_where(&rs.properties, &props_at, &has_template, &mut leaves);
        let mut ok = true;
        for (path, s) in &leaves {
            let t = match Template::parse(s) {
                Ok(t) => t,
                Err(e) => {
                    l.push(Finding::error("XP011", e.message).at(src.span_within(path, &e.text)).hint("references look like ${id.attr}, ${var.NAME} or ${partitions.NAME.ATTR}"));
                    ok = false;
                    continue;
                }
            };
            for (part, text) in &t.parts {
                match part {
                    Part::Var(v)
                        if !vars.contains_key(v)
                            && !decls.contains_key(v)
                            && !broken_vars.contains(v)
                            && !vars_broken =>
                    {
                        l.push(
                            Finding::error("XP010", format!("unknown variable `{v}`"))
                                .at(src.span_within(path, text))
                                .hint("declare it under `vars:`"),
                        );
                        ok = false;
                    }
                    Part::Fact { partition: p, .. }
                        if !partitions.contains_key(p)
                            && !broken_partitions.contains(p)
                            && !partitions_broken =>
                    {
                        l.push(
                            Finding::error(
                                "XP014",
                                format!("partition `{p}` is not declared under `partitions`"),
                            )
                            .at(src.span_within(path, text))
                            .hint(format!(
                                "declared partitions: {}",
                                partitions.keys().cloned().collect::<Vec<_>>().join(", ")
                            )),
                        );
                        ok = false;
                    }
                    Part::Ref { id: rid, .. } => {
                        if !ids.contains(rid) {
                            let hint = match nearest(rid, ids.iter().map(String::as_str)) {
                                Some(n) => format!("did you mean `{n}`?"),
                                None => {
                                    "reference a resource id declared under `resources`".to_string()
                                }
                            };
                            l.push(
                                Finding::error(
                                    "XP011",
                                    format!("`{text}` refers to no resource `{rid}`"),
                                )
                                .at(src.span_within(path, text))
                                .hint(hint),
                            );
                            ok = false;
                        } else if rid == &id {
                            l.push(
                                Finding::error("XP013", format!("`{id}` refers to itself"))
                                    .at(src.span_within(path, text))
                                    .hint("a resource cannot depend on its own attributes"),
                            );
                            ok = false;
                        } else {
                            // The attribute is checked once every resource's type is known.
                            deps.insert(rid.clone());
                            if let Part::Ref { attr, .. } = part {
                                refs.push((path.clone(), rid.clone(), attr.clone(), text.clone()));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (i, d) in rs.depends_on.iter().enumerate() {
            if ids.contains(d) {
                deps.insert(d.clone());
            } else {
                l.push(
                    Finding::error("XP011", format!("depends_on names no resource `{d}`"))
                        .at(src.value_span(&at.key("depends_on").index(i)))
                        .hint("list resource ids declared under `resources`"),
                );
            }
        }

        // substitute variables and the facts known without credentials
        let mut props = rs.properties;
        map_strings(&mut props, &mut |s| match Template::parse(s) {
            Ok(t) => t.render(&mut |p| static_value(p, &vars, &partitions)),
            Err(_) => s.to_string(),
        });
        let props = match props {
            Value::Null => Value::Mapping(Default::default()),
            p => p,
        };
        let kind = match Kind::from_properties(info.name, props.clone()) {
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                let f = path_error(&src, &props_at, e);
                l.push(f);
                None
            }
            None => None,
        };
        if let (Some(kind), true) = (kind, ok) {
            resources.insert(
                id.clone(),
                ResourceDef {
                    id: id.clone(),
                    type_name: info.name.to_string(),
                    partition,
                    kind,
                    properties: props,
                    deps,
                    path: at,
                },
            );
        }
    }

    // attributes of references, now that every type is known
    for (path, rid, attr, text) in &refs {
        let Some(r) = resources.get(rid) else {
            continue;
        };
        let info = types::type_info(&r.type_name).expect("a loaded resource has a known type");
        if !info.attrs.contains(&attr.as_str()) {
            let tn = info.name;
            l.push(
                Finding::error("XP012", format!("`{tn}` has no attribute `{attr}`"))
                    .at(src.span_within(path, text))
                    .hint(format!("attributes of {tn}: {}", info.attrs.join(", "))),
            );
        }
    }

    let order = match topo_order(&resources) {
        Ok(o) => o,
        Err(cycle) => {
            let first = &cycle[0];
            let at = resources[first].path.clone();
            l.push(
                Finding::error("XP013", format!("dependency cycle: {}", cycle.join(" → ")))
                    .at(src.key_span(&at))
                    .hint("break the cycle: one of these resources must not refer to the next"),
            );
            vec![]
        }
    };

    let mut findings = l.findings;
    findings.sort_by_key(|f| (f.span.line, f.span.column, f.code));
    findings.dedup();
    // The spec is returned even with errors, holding what did load, so lint can check the
    // rest in the same run; the engine refuses a spec whose findings include an error.
    let spec = Spec {
        name_known: plan_name.is_some(),
        name: plan_name.unwrap_or_default(),
        identity: identity.unwrap_or_default(),
        identity_given: raw_identity.is_some(),
        vars,
        partitions,
        resources,
        order,
        source: src,
    };
    (Some(spec), findings)
}

/// Whether `dir` is a relative path that stays inside the directory it is joined to: plain
/// names only, no `..`, no root, no `.` tricks, not empty.
pub fn confined(dir: &str) -> bool {
    let p = std::path::Path::new(dir);
    !dir.is_empty()
        && !dir.contains('\0')
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Values known without credentials: variables and partition facts (account only when given).
pub fn static_value(
    p: &Part,
    vars: &BTreeMap<String, String>,
    parts: &BTreeMap<String, PartitionDef>,
) -> Option<String> {
    match p {
        Part::Var(v) => vars.get(v).cloned(),
        Part::Fact { partition, attr } => {
            let d = parts.get(partition)?;
            match attr.as_str() {
                "partition" => Some(d.partition.id().to_string()),
                "region" => Some(d.region.clone()),
                "dns_suffix" => Some(d.partition.dns_suffix().to_string()),
                "account" => d.spec.account.clone(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Kahn's algorithm, ties broken by id so the order is stable; Err carries one cycle.
/// O((resources + references) · log resources), on indices rather than names: plans of tens
/// of thousands of resources lint in time linear in their size.
fn topo_order(resources: &BTreeMap<String, ResourceDef>) -> Result<Vec<String>, Vec<String>> {
    // Indices in id order (the map is sorted), so the smallest ready index is the smallest id.
    let ids: Vec<&str> = resources.keys().map(String::as_str).collect();
    let index: std::collections::HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let deps: Vec<Vec<usize>> = resources
        .values()
        .map(|r| {
            r.deps
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; ids.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..ids.len())
        .filter(|i| indeg[*i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(ids.len());
    while let Some(std::cmp::Reverse(next)) = ready.pop() {
        order.push(next);
        for &dep in &dependents[next] {
            indeg[dep] -= 1;
            if indeg[dep] == 0 {
                ready.push(std::cmp::Reverse(dep));
            }
        }
    }
    if order.len() == ids.len() {
        return Ok(order.into_iter().map(|i| ids[i].to_string()).collect());
    }
    // Walk dependencies from any unfinished node until one repeats: that is a cycle.
    let mut done = vec![false; ids.len()];
    for &i in &order {
        done[i] = true;
    }
    let mut cur = (0..ids.len())
        .find(|i| !done[*i])
        .expect("some node is unfinished");
    let mut at: Vec<Option<usize>> = vec![None; ids.len()];
    let mut seen: Vec<usize> = vec![];
    loop {
        if let Some(pos) = at[cur] {
            let mut cycle: Vec<String> = seen[pos..].iter().map(|i| ids[*i].to_string()).collect();
            cycle.push(ids[cur].to_string());
            return Err(cycle);
        }
        at[cur] = Some(seen.len());
        seen.push(cur);
        cur = *deps[cur]
            .iter()
            .find(|d| !done[**d])
            .expect("an unfinished node has an unfinished dependency");
    }
}
