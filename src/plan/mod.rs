//! The spec: a plan file loaded in two stages, raw (serde data + source positions) then
//! resolved (variables, partitions, references, dependency order).
//!
//! Loading never touches the network. Every problem becomes a `Finding` with file:line:col;
//! all of them are collected, so a user sees every mistake of a file at once. The stages, each
//! in its module: `read` (the document, resources one at a time), `vars`, `partitions`,
//! `identity` (name and lineage), `resources`, `order`.

mod blocks;
mod identity;
mod loader;
pub mod order;
mod partitions;
mod read;
mod resources;
pub mod schema;
pub mod source;
pub mod template;
mod tuning;
pub use tuning::Tuning;
mod leaves;
pub mod types;
mod vars;

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::diag::Finding;
use crate::partition::Partition;
pub use identity::{lineage, PlanIdentity};
pub use leaves::{has_template, map_strings, strings, strings_where};
use loader::{nearest, syntax_finding, yaml_error, Loader};
use partitions::Partitions;
pub use source::{Path, Seg, Source};
use template::Part;
pub use types::{Kind, PartitionEntry, PlanFile, ResourceEntry};
use vars::Vars;

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
    /// AWS shared-config profile the plan names (`--profile` overrides it).
    pub profile: Option<String>,
    /// The account the plan expects; apply and destroy refuse another.
    pub account: Option<String>,
    /// Service principals the plan overrides (`ec2` → `ec2.amazonaws.com`).
    pub service_principals: BTreeMap<String, String>,
    /// Timeouts, retries and concurrency: defaults, then the plan's, then `--tune`.
    pub tuning: Tuning,
}

impl PartitionDef {
    /// The partition `name` as the plan declares it (`spec`), in `partition`: settled once here,
    /// so nothing after loading reads the plan's raw settings.
    pub fn new(name: &str, partition: Partition, spec: PartitionEntry) -> PartitionDef {
        PartitionDef {
            name: name.to_string(),
            tuning: Tuning::planned(partition, &spec),
            region: spec.region,
            partition,
            profile: spec.profile,
            account: spec.account,
            service_principals: spec.service_principals,
        }
    }

    pub fn service_principal(&self, service: &str) -> String {
        self.service_principals
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
pub struct Plan {
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
    /// Where `apply` and `destroy` hold the plan's lease; None for a plan with no partition.
    pub lease: Option<LeaseDef>,
}

/// The plan's lease: the partition that keeps it, and how long it outlives its last renewal.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseDef {
    pub partition: String,
    pub ttl: std::time::Duration,
}

/// The shortest and longest lease a plan may ask for, in seconds.
const LEASE_TTL: std::ops::RangeInclusive<u32> = 10..=3600;
/// A lease's life when the plan names none, in seconds.
const LEASE_DEFAULT_TTL: u32 = 60;

/// The plan's lease as it asks, or the default: kept in the first `aws` partition by name (the
/// commercial partition answers faster and more reliably than China's), else the first.
fn lease_of(
    l: &mut Loader,
    header: &[(String, Value)],
    defs: &BTreeMap<String, PartitionDef>,
) -> Option<LeaseDef> {
    let at = Path::root().key("lease");
    let asked = entry(header, "lease").and_then(|v| l.typed::<types::LeaseSpec>(v, &at));
    let asked = asked.unwrap_or(types::LeaseSpec {
        partition: None,
        ttl_seconds: None,
    });
    let ttl = asked.ttl_seconds.unwrap_or(LEASE_DEFAULT_TTL);
    if !LEASE_TTL.contains(&ttl) {
        let f = Finding::error("XP007", format!("lease ttl_seconds {ttl} is out of range"))
            .at(l.src.value_span(&at.key("ttl_seconds")))
            .hint(format!("{}–{} seconds", LEASE_TTL.start(), LEASE_TTL.end()));
        l.push(f);
    }
    let partition = match asked.partition {
        Some(p) if defs.contains_key(&p) => p,
        Some(p) => {
            let f = Finding::error("XP007", format!("lease partition `{p}` is not declared"))
                .at(l.src.value_span(&at.key("partition")))
                .hint(format!(
                    "one of: {}",
                    defs.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            l.push(f);
            return None;
        }
        None => defs
            .values()
            .find(|d| d.partition.id() == "aws")
            .or_else(|| defs.values().next())?
            .name
            .clone(),
    };
    Some(LeaseDef {
        partition,
        ttl: std::time::Duration::from_secs(ttl.into()),
    })
}

const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "identity",
    "vars",
    "partitions",
    "blocks",
    "resources",
    "lease",
];

/// Load a plan: the spec (None only when the text is not a YAML mapping) and every finding.
pub fn load(name: &str, text: &str, opts: &LoadOptions) -> (Option<Plan>, Vec<Finding>) {
    load_with(name, text, opts, None, &mut |_, _, _, _| vec![])
}

/// What `load_with` shows each resource to, the moment it is built: the resource, the plan's
/// source (for positions), its partitions, and the resources built before it. What it returns
/// is kept with the resource's findings if the resource stays in the spec.
pub type EachResource<'f> = dyn FnMut(
        &ResourceDef,
        &Source,
        &BTreeMap<String, PartitionDef>,
        &BTreeMap<String, ResourceDef>,
    ) -> Vec<Finding>
    + 'f;

/// `load`, handing every resource to `each` as soon as it is built (lint checks it there,
/// while its data is fresh). `base`: the plan's directory, where blocks in files of their own
/// are read from (without it, such a block is an error).
pub fn load_with(
    name: &str,
    text: &str,
    opts: &LoadOptions,
    base: Option<&std::path::Path>,
    each: &mut EachResource<'_>,
) -> (Option<Plan>, Vec<Finding>) {
    let src = Source::new(name, text);
    let mut l = Loader::new(&src);
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
        return (None, l.findings);
    }
    let mut doc = Document {
        l: &mut l,
        opts,
        each,
        header: vec![],
        stage: None,
        buffered: vec![],
        resources_broken: false,
        duplicate: None,
    };
    let shape = read::document(text, &mut doc);
    let Document {
        header,
        stage,
        buffered,
        resources_broken,
        duplicate,
        each,
        ..
    } = doc;
    // A YAML error ends loading with that one finding, as a parser would.
    let syntax = match (&shape, &duplicate) {
        (Err(e), _) => Some(yaml_error(&src, e)),
        (Ok(_), Some((key, in_resources))) => {
            // The index places a repeated key's path at its last occurrence: the repeat.
            let path = match in_resources {
                true => Path::root().key("resources").key(key),
                false => Path::root().key(key),
            };
            let msg = format!("duplicate entry with key \"{key}\"");
            Some(syntax_finding(&src, &msg, src.key_span(&path).start))
        }
        _ => None,
    };
    if let Some(f) = syntax {
        l.findings.clear();
        l.push(f);
        return (None, l.findings);
    }
    if shape.ok() != Some(read::Shape::Mapping) {
        l.push(
            Finding::error(
                "XP002",
                "a plan is a mapping with version, name, partitions and resources",
            )
            .at(src.span(0, 1)),
        );
        return (None, l.findings);
    }
    let mut stage = stage.unwrap_or_else(|| prepare(&mut l, &header, opts));
    for (id, value) in buffered {
        stage.one(&mut l, id, value, each);
    }
    let blocks = blocks::Blocks::read(&mut l, entry(&header, "blocks"), base);
    let done = stage.finish(&mut l, blocks, each);
    if resources_broken {
        l.push(
            Finding::error("XP002", "`resources` must be a mapping of id to resource")
                .at(src.value_span(&Path::root().key("resources"))),
        );
    }
    let spec = spec_of(&mut l, header, done);
    let mut findings = l.findings;
    src.annotate(&mut findings);
    findings.sort_by_key(|f| (f.span.line, f.span.column, f.code));
    findings.dedup();
    // The source goes into the spec once the loader (which points into it) is done.
    (
        Some(Plan {
            source: src,
            ..spec
        }),
        findings,
    )
}

/// The reader's sink: the top-level entries kept, each resource built as it comes once the
/// variables and partitions are known (buffered until then, when the plan writes them after
/// its resources).
struct Document<'a, 's, 'e, 'f> {
    l: &'a mut Loader<'s>,
    opts: &'a LoadOptions,
    each: &'e mut EachResource<'f>,
    header: Vec<(String, Value)>,
    stage: Option<resources::Stage>,
    buffered: Vec<(String, Value)>,
    resources_broken: bool,
    duplicate: Option<(String, bool)>,
}

impl read::Receiver for Document<'_, '_, '_, '_> {
    fn header(&mut self, key: String, value: Value) {
        self.header.push((key, value));
    }

    fn resource(&mut self, id: String, value: Value) {
        let seen = |k: &str| self.header.iter().any(|(h, _)| h == k);
        if self.stage.is_none() && seen("vars") && seen("partitions") {
            self.stage = Some(prepare(self.l, &self.header, self.opts));
        }
        match &mut self.stage {
            Some(stage) => stage.one(self.l, id, value, self.each),
            None => self.buffered.push((id, value)),
        }
    }

    fn resources_not_a_mapping(&mut self) {
        self.resources_broken = true;
    }

    fn duplicate(&mut self, key: String, in_resources: bool) {
        self.duplicate.get_or_insert((key, in_resources));
    }
}

/// The value of a top-level entry.
fn entry(header: &[(String, Value)], key: &str) -> Option<Value> {
    header
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Variables and partitions, read: what every resource is built with.
fn prepare(l: &mut Loader, header: &[(String, Value)], opts: &LoadOptions) -> resources::Stage {
    let vars = Vars::read(l, entry(header, "vars"), opts);
    let parts = Partitions::read(l, entry(header, "partitions"));
    resources::Stage::new(vars, parts)
}

/// The rest of the top level (unknown keys, version, name and identity) and the order, around
/// the resources read.
fn spec_of(l: &mut Loader, header: Vec<(String, Value)>, done: resources::Done) -> Plan {
    let src = l.src;
    let root = Path::root();
    for (k, _) in &header {
        if !TOP_KEYS.contains(&k.as_str()) {
            let mut f = Finding::error("XP003", format!("unknown field `{k}` in the plan"))
                .at(src.key_span(&root.key(k)));
            f = f.hint(match nearest(k, TOP_KEYS.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("expected one of {}", TOP_KEYS.join(", ")),
            });
            l.push(f);
        }
    }
    match entry(&header, "version") {
        None => l.push(
            Finding::error("XP004", "missing field `version` in the plan")
                .at(src.span(0, 1))
                .hint("add `version: 1`"),
        ),
        Some(v) => {
            if let Some(n) = l.typed::<u32>(v, &root.key("version")) {
                if n != VERSION {
                    l.push(
                        Finding::error("XP005", format!("plan version {n} is not supported"))
                            .at(src.value_span(&root.key("version")))
                            .hint(format!("this xpart reads version {VERSION}")),
                    );
                }
            }
        }
    }
    let raw_name = match entry(&header, "name") {
        None => {
            l.push(
                Finding::error("XP004", "missing field `name` in the plan")
                    .at(src.span(0, 1))
                    .hint("add `name: <owner identity>`"),
            );
            None
        }
        Some(v) => l.typed::<String>(v, &root.key("name")),
    };
    let raw_identity =
        entry(&header, "identity").and_then(|v| l.typed::<String>(v, &root.key("identity")));
    let resources::Done {
        vars,
        parts,
        resources,
        local,
    } = done;
    // The name and the identity are literal text once variables and facts are in: what lint
    // checks is exactly what becomes the `xpart:plan` tag and the state directory's name.
    let quiet = |p: &Part| match p {
        Part::Var(v) => vars.reported(v),
        Part::Fact { partition, .. } => parts.reported(partition),
        _ => false,
    };
    let (values, defs) = (&vars.values, &parts.defs);
    let plan_name = raw_name
        .as_deref()
        .and_then(|n| identity::render_known(l, n, &root.key("name"), values, defs, &quiet));
    let identity = match (&raw_identity, &raw_name) {
        (Some(t), _) => identity::render_known(l, t, &root.key("identity"), values, defs, &quiet)
            .map(|n| PlanIdentity::new(t, &n)),
        (None, Some(t)) => plan_name.as_ref().map(|n| PlanIdentity::new(t, n)),
        (None, None) => None,
    };
    for f in local {
        l.findings.push(f);
    }
    let order = match order::topo_order(&resources) {
        Ok(o) => o,
        Err(cycle) => {
            let at = resources[&cycle[0]].path.clone();
            l.push(
                Finding::error("XP013", format!("dependency cycle: {}", cycle.join(" → ")))
                    .at(src.key_span(&at))
                    .hint("break the cycle: one of these resources must not refer to the next"),
            );
            vec![]
        }
    };
    let lease = lease_of(l, &header, &parts.defs);
    // The spec is returned even with errors, holding what did load, so lint can check the
    // rest in the same run; the engine refuses a spec whose findings include an error.
    Plan {
        lease,
        name_known: plan_name.is_some(),
        name: plan_name.unwrap_or_default(),
        identity: identity.unwrap_or_default(),
        identity_given: raw_identity.is_some(),
        vars: vars.values,
        partitions: parts.defs,
        resources,
        order,
        // Replaced by the plan's own source in `load_with`.
        source: Source::new("", ""),
    }
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
                "account" => d.account.clone(),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Plan {
    /// Apply `--tune PARTITION.SETTING=VALUE` flags over the plan's tuning:
    /// `china.max_attempts=16`, `commercial.attempt_ms=30000`.
    pub fn tune(&mut self, flags: &[(String, String)]) -> Result<(), String> {
        for (key, value) in flags {
            let flag = format!("{key}={value}");
            let (part, setting) = key
                .split_once('.')
                .ok_or_else(|| format!("--tune {flag}: expected PARTITION.SETTING=VALUE"))?;
            let known: Vec<String> = self.partitions.keys().cloned().collect();
            let def = self.partitions.get_mut(part).ok_or_else(|| {
                format!(
                    "--tune {flag}: no partition `{part}` in the plan ({})",
                    known.join(", ")
                )
            })?;
            def.tuning.set(setting, value, &flag)?;
        }
        Ok(())
    }
}
