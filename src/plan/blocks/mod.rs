//! Blocks: a group of resources the plan instantiates many times, each time with its own inputs
//! (`blocks:`, and resource entries with `block:`), as a Terraform module is, with `for_each`.
//!
//! Expansion makes ordinary resources of each instance before they are built: ids
//! `ENTRY.KEY.ID` (`ENTRY.ID` without `for_each`), templates rewritten from the block's scope
//! (inputs, `each.key`, the instance's own resources) into the plan's, and references to an
//! instance's outputs replaced by what they stand for. References, order, lint and the engine
//! then see plain resources. Where each was written is kept (`source::Origins`), so every
//! finding about one points into the block and names the instance.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_yaml::Value;

use std::path::Path as FsPath;

use super::loader::{entries, nearest, yaml_error, Entries, Loader};
use super::source::{Origins, Source};
use super::template::{Part, Template};
use super::types::{BlockSpec, BlockUse, VarDecl};
use super::Path;
use crate::diag::Finding;

/// The one code of block problems: an unknown block or input, a missing input, a malformed
/// `for_each` key, a name a block cannot see, an output the instance does not have.
const CODE: &str = "XP018";

/// The plan's blocks, as declared.
#[derive(Default)]
pub(super) struct Blocks {
    defs: BTreeMap<String, Block>,
    /// Declared but malformed (reported): an entry using one is skipped quietly.
    broken: BTreeSet<String>,
    /// Blocks kept in files of their own, with the files' text (for positions).
    files: Vec<(String, Source)>,
}

struct Block {
    inputs: BTreeMap<String, VarDecl>,
    /// Its resources in the order written, each as its raw entry.
    resources: Vec<(String, Value)>,
    outputs: BTreeMap<String, String>,
}

impl Block {
    fn has(&self, id: &str) -> bool {
        self.resources.iter().any(|(r, _)| r == id)
    }
}

impl Blocks {
    /// Each block on its own, like variables: a malformed block is one finding. A block with
    /// `source` is read from its file, found from `base` (the plan's directory).
    pub(super) fn read(l: &mut Loader, value: Option<Value>, base: Option<&FsPath>) -> Blocks {
        let at = Path::root().key("blocks");
        let mut blocks = Blocks::default();
        let Entries::All(m) = entries(l, value, &at) else {
            return blocks;
        };
        for (name, v) in m {
            let b_at = at.key(&name);
            let Some(mut spec) = l.typed::<BlockSpec>(v, &b_at) else {
                blocks.broken.insert(name);
                continue;
            };
            let ok = match spec.source.take() {
                Some(file) => match from_file(l, &name, &spec, &file, &b_at, base) {
                    Some((read, src)) => {
                        // Kept even when malformed: its findings are shown from its text.
                        let mut fl = Loader::new(&src);
                        let ok = read.is_some_and(|s| {
                            spec = s;
                            check_resources(&mut fl, &name, &spec, &Path::root())
                        });
                        l.findings.append(&mut fl.findings);
                        blocks.files.push((name.clone(), src));
                        ok
                    }
                    None => false,
                },
                None => check_resources(l, &name, &spec, &b_at),
            };
            if !ok {
                blocks.broken.insert(name);
                continue;
            }
            blocks.defs.insert(
                name,
                Block {
                    inputs: spec.inputs,
                    resources: spec.resources.into_iter().collect(),
                    outputs: spec.outputs,
                },
            );
        }
        blocks
    }
}

/// The ids of a block's resources (at `at`, the block), and that none instantiates a block.
fn check_resources(l: &mut Loader, name: &str, spec: &BlockSpec, at: &Path) -> bool {
    let mut ok = true;
    for (id, raw) in &spec.resources {
        let r_at = at.key("resources").key(id);
        ok &= super::resources::check_id(l, id, &r_at).is_some();
        if raw.get("block").is_some() {
            l.push(
                Finding::error(CODE, format!("block `{name}` instantiates a block"))
                    .at(l.src.key_span(&r_at.key("block")))
                    .hint("blocks do not nest: instantiate both from the plan's `resources`"),
            );
            ok = false;
        }
    }
    ok
}

/// Block `name`, read from `file` (its `source`, at `at`): the block (None when malformed,
/// reported) and the file's text; None (reported) when the file is outside the plan's
/// directory or unreadable.
fn from_file(
    l: &mut Loader,
    name: &str,
    here: &BlockSpec,
    file: &str,
    at: &Path,
    base: Option<&FsPath>,
) -> Option<(Option<BlockSpec>, Source)> {
    let refuse = |l: &mut Loader, msg: String, hint: &str| {
        let f = Finding::error(CODE, msg)
            .at(l.src.value_span(&at.key("source")))
            .hint(hint);
        l.push(f);
    };
    if !here.inputs.is_empty() || !here.resources.is_empty() || !here.outputs.is_empty() {
        refuse(
            l,
            format!("block `{name}` has `source` and a body of its own"),
            "with `source`, the block's inputs, resources and outputs are all in that file",
        );
        return None;
    }
    let Some(base) = base else {
        refuse(
            l,
            format!("block `{name}` is in a file, which is read only with the plan's directory"),
            "lint or apply the plan from its file",
        );
        return None;
    };
    // Lexically inside (no root, no `..`), and still inside once links are followed.
    let base = match base.as_os_str().is_empty() {
        true => FsPath::new("."),
        false => base,
    };
    let path = base.join(file);
    let inside = super::confined(file)
        && match (path.canonicalize(), base.canonicalize()) {
            (Ok(p), Ok(b)) => p.starts_with(b),
            (Err(_), _) => true, // missing: reading it says so
            (Ok(_), Err(_)) => false,
        };
    if !inside {
        refuse(
            l,
            format!("block file `{file}` is outside the plan's directory"),
            "give a path relative to the plan's directory, inside it (no `..`, not absolute)",
        );
        return None;
    }
    let text = match crate::input::read_text("block file", &path, crate::input::MAX_PLAN) {
        Ok(t) => t,
        Err(e) => {
            refuse(
                l,
                e.to_string(),
                "the path is relative to the plan's directory",
            );
            return None;
        }
    };
    // Named as the plan is (relative to where xpart runs), so an editor opens it.
    let shown = match FsPath::new(&l.src.name).parent() {
        Some(dir) => dir.join(file).display().to_string(),
        None => file.to_string(),
    };
    let src = Source::new(shown, text);
    let mut fl = Loader::new(&src);
    let parsed = match src.too_deep() {
        Some(span) => {
            let f = Finding::error("XP001", "the block file nests too deep")
                .at(span)
                .hint("a block needs a few levels; flatten this value");
            fl.push(f);
            None
        }
        None => match serde_yaml::from_str::<Value>(&src.text) {
            Ok(v) => fl.typed::<BlockSpec>(v, &Path::root()),
            Err(e) => {
                let f = yaml_error(&src, &e);
                fl.push(f);
                None
            }
        },
    };
    if let Some(BlockSpec {
        source: Some(_), ..
    }) = &parsed
    {
        let f = Finding::error(CODE, "a block file cannot name another file")
            .at(src.key_span(&Path::root().key("source")))
            .hint("write the block here");
        fl.push(f);
    }
    let mut found = std::mem::take(&mut fl.findings);
    l.findings.append(&mut found);
    Some((parsed.filter(|p| p.source.is_none()), src))
}

/// Whether a resource entry instantiates a block.
pub(super) fn is_use(raw: &Value) -> bool {
    raw.get("block").is_some()
}

/// Whether a plan string refers to a resource `declared` does not know yet (perhaps an
/// instance's output, `${ENTRY.KEY.NAME}`): such resources are built once every instance is.
pub(super) fn refers_ahead(s: &str, declared: &dyn Fn(&str) -> bool) -> bool {
    s.split("${").skip(1).any(|r| {
        let e = r.split('}').next().unwrap_or_default().trim();
        match e.rsplit_once('.') {
            Some((id, _)) => id != "var" && !id.starts_with("partitions") && !declared(id),
            None => false,
        }
    })
}

/// One instance of a block.
struct Instance<'b> {
    /// `workloads.orders`, or `workloads`: the prefix of its resources' ids.
    name: String,
    key: Option<String>,
    block: &'b Block,
    block_name: &'b str,
    /// Its inputs' values: templates of the plan's scope.
    inputs: BTreeMap<String, String>,
}

/// What expansion leaves: the instances' resources to build (id, raw entry in the plan's
/// scope), and what plan strings referring to instances need.
pub(super) struct Expanded {
    pub(super) resources: Vec<(String, Value)>,
    /// Ids of expanded resources that cannot be built (reported): refer to them quietly.
    pub(super) failed: Vec<String>,
    /// Entries that did not expand at all (reported): anything under them is referred to
    /// quietly.
    pub(super) failed_entries: Vec<String>,
    pub(super) names: Names,
}

/// The instances' names as plan strings use them.
#[derive(Default)]
pub(super) struct Names {
    /// By instance: its outputs (templates of the plan's scope); None when it did not expand.
    outputs: HashMap<String, Option<BTreeMap<String, String>>>,
    /// Entries with `for_each`: their instances are named by key.
    keyed: BTreeMap<String, Vec<String>>,
    /// Entries that did not expand (reported).
    failed: BTreeSet<String>,
}

/// A problem with one template: what, the text it is about, how to fix it. `quiet`: already
/// reported elsewhere (a reference to an instance that did not expand).
pub(super) struct Problem {
    message: String,
    text: String,
    hint: String,
    quiet: bool,
}

impl Problem {
    fn new(message: String, text: &str, hint: impl Into<String>) -> Problem {
        Problem {
            message,
            text: text.to_string(),
            hint: hint.into(),
            quiet: false,
        }
    }

    /// Report it at `path` (unless quiet).
    pub(super) fn report(self, l: &mut Loader, path: &Path) {
        if !self.quiet {
            let f = Finding::error(CODE, self.message)
                .at(l.src.span_within(path, &self.text))
                .hint(self.hint);
            l.push(f);
        }
    }
}

/// Expand every entry that uses a block (`uses`, in the order read), recording in the source
/// where each instance's resources are written.
pub(super) fn expand(l: &mut Loader, mut blocks: Blocks, uses: Vec<(String, Value)>) -> Expanded {
    let mut x = Expansion::default();
    for (name, src) in std::mem::take(&mut blocks.files) {
        x.origins.block_file(name, src);
    }
    for (entry, raw) in uses {
        x.entry(l, &blocks, entry, raw);
    }
    x.finish(l)
}

/// An instance's own inputs, and where it is written (the entry, or its `for_each` key).
type Site = (Option<String>, BTreeMap<String, String>, Path);

/// Expansion under way. Every instance is read and placed first (`origins`), and only then
/// are resources rewritten: the source takes the origins once, whole, and the rewriting's
/// findings need them to point into the block.
#[derive(Default)]
struct Expansion<'b> {
    instances: Vec<Instance<'b>>,
    origins: Origins,
    names: Names,
    failed: Vec<String>,
    failed_entries: Vec<String>,
}

impl<'b> Expansion<'b> {
    /// One entry using a block: its instances, one per `for_each` key (or one). A malformed
    /// entry, or one naming no block, is reported and fails whole.
    fn entry(&mut self, l: &mut Loader, blocks: &'b Blocks, entry: String, raw: Value) {
        let at = Path::root().key("resources").key(&entry);
        let Some(u) = l.typed::<BlockUse>(raw, &at) else {
            self.failed_entries.push(entry);
            return;
        };
        let Some((block_name, block)) = blocks.defs.get_key_value(&u.block) else {
            // A broken block was reported where it is declared: its uses fail quietly.
            if !blocks.broken.contains(&u.block) {
                no_block(l, blocks, &u.block, &at);
            }
            self.failed_entries.push(entry);
            return;
        };
        let common = given(l, block, &u.inputs, &at.key("inputs"));
        for site in self.sites(&entry, &at, u.for_each) {
            self.instance(l, &entry, (block_name, block), &common, site);
        }
    }

    /// Where each instance of `entry` (at `at`) is written, with its own inputs; the keys of
    /// a `for_each` are recorded as the entry's instance names.
    fn sites(
        &mut self,
        entry: &str,
        at: &Path,
        for_each: Option<BTreeMap<String, Option<BTreeMap<String, String>>>>,
    ) -> Vec<Site> {
        let Some(m) = for_each else {
            return vec![(None, BTreeMap::new(), at.clone())];
        };
        let each_at = at.key("for_each");
        self.names.keyed.insert(
            entry.to_string(),
            m.keys().map(|k| format!("{entry}.{k}")).collect(),
        );
        m.into_iter()
            .map(|(k, v)| {
                let site = each_at.key(&k);
                (Some(k), v.unwrap_or_default(), site)
            })
            .collect()
    }

    /// One instance of block `block_name` for `entry`: its inputs checked and its resources
    /// placed in the block's text. One that cannot be built is reported and fails.
    fn instance(
        &mut self,
        l: &mut Loader,
        entry: &str,
        (block_name, block): (&'b str, &'b Block),
        common: &BTreeMap<String, String>,
        (key, own, site): Site,
    ) {
        let name = match &key {
            Some(k) => format!("{entry}.{k}"),
            None => entry.to_string(),
        };
        let site_span = l.src.key_span(&site);
        if let Some(k) = &key {
            if !valid_key(k) {
                l.push(
                    Finding::error(CODE, format!("`for_each` key `{k}` of `{entry}` may only use letters, digits, `_` and `-`"))
                        .at(site_span)
                        .hint("the key becomes part of resource ids (`ENTRY.KEY.ID`), which are AWS tag values"),
                );
                self.fail_instance(&name, block);
                return;
            }
        }
        let own = given(l, block, &own, &site);
        let inputs = inputs_of(
            l,
            &name,
            key.as_deref(),
            (block_name, block),
            common,
            own,
            &site,
        );
        let index = self.origins.instance(name.clone(), site_span);
        let Some(inputs) = inputs else {
            self.fail_instance(&name, block);
            return;
        };
        for (id, _) in &block.resources {
            let text = Path::root()
                .key("blocks")
                .key(block_name)
                .key("resources")
                .key(id);
            self.origins.resource(format!("{name}.{id}"), index, text);
        }
        self.instances.push(Instance {
            name,
            key,
            block,
            block_name,
            inputs,
        });
    }

    /// Instance `name` cannot be built (reported): it has no outputs, and its resources are
    /// referred to quietly.
    fn fail_instance(&mut self, name: &str, block: &Block) {
        self.names.outputs.insert(name.to_string(), None);
        self.failed
            .extend(block.resources.iter().map(|(id, _)| format!("{name}.{id}")));
    }

    /// With the origins handed to the source: each instance's outputs, and its resources
    /// rewritten into the plan's scope (one that cannot be is reported, and failed).
    fn finish(self, l: &mut Loader) -> Expanded {
        let Expansion {
            instances,
            origins,
            mut names,
            mut failed,
            failed_entries,
        } = self;
        l.src.set_origins(origins);
        let mut resources = vec![];
        for inst in &instances {
            let outputs = outputs_of(l, inst);
            names.outputs.insert(inst.name.clone(), outputs);
            for (id, raw) in &inst.block.resources {
                let full = format!("{}.{id}", inst.name);
                let at = Path::root().key("resources").key(&full);
                let mut raw = raw.clone();
                match rewrite_entry(l, inst, &mut raw, &at) {
                    true => resources.push((full, raw)),
                    false => failed.push(full),
                }
            }
        }
        for e in &failed_entries {
            names.failed.insert(e.clone());
        }
        Expanded {
            resources,
            failed,
            failed_entries,
            names,
        }
    }
}

/// Report that an entry (at `at`) uses `name`, which no block is, suggesting the nearest.
fn no_block(l: &mut Loader, blocks: &Blocks, name: &str, at: &Path) {
    let hint = match nearest(name, blocks.defs.keys().map(String::as_str)) {
        Some(n) => format!("did you mean `{n}`?"),
        None => "declare it under `blocks:`".to_string(),
    };
    l.push(
        Finding::error(CODE, format!("no block `{name}`"))
            .at(l.src.value_span(&at.key("block")))
            .hint(hint),
    );
}

/// Whether a `for_each` key is usable: letters, digits, `_` and `-` only, since it becomes part
/// of resource ids, which are AWS tag values.
fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The inputs an instantiation gives (at `at`), each checked against the block's declarations.
fn given(
    l: &mut Loader,
    block: &Block,
    values: &BTreeMap<String, String>,
    at: &Path,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in values {
        if !block.inputs.contains_key(k) {
            let hint = match nearest(k, block.inputs.keys().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("the block's inputs: {}", list(block.inputs.keys())),
            };
            l.push(
                Finding::error(CODE, format!("the block has no input `{k}`"))
                    .at(l.src.key_span(&at.key(k)))
                    .hint(hint),
            );
            continue;
        }
        if let Err(e) = Template::parse(v) {
            l.push(
                Finding::error("XP011", e.message)
                    .at(l.src.span_within(&at.key(k), &e.text))
                    .hint(
                        "references look like ${id.attr}, ${var.NAME} or ${partitions.NAME.ATTR}",
                    ),
            );
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// An instance's inputs: its own, else the entry's, else the block's defaults; `${each.key}`
/// substituted. None (reported) when one has no value.
fn inputs_of(
    l: &mut Loader,
    name: &str,
    key: Option<&str>,
    (block_name, block): (&str, &Block),
    common: &BTreeMap<String, String>,
    own: BTreeMap<String, String>,
    site: &Path,
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, decl) in &block.inputs {
        let value = own.get(k).or_else(|| common.get(k));
        let text = match (value, &decl.default) {
            (Some(v), _) => each_key(v, key),
            (None, Some(d)) => {
                // A default is written in the block: its scope is the block's, less inputs.
                let scope = Scope {
                    name,
                    key,
                    block,
                    inputs: None,
                };
                match scope.rewrite(d) {
                    Ok(t) => t,
                    Err(p) => {
                        let at = Path::root().key("blocks").key(block_name).key("inputs");
                        p.report(l, &at.key(k).key("default"));
                        ok = false;
                        continue;
                    }
                }
            }
            (None, None) => {
                l.push(
                    Finding::error(
                        CODE,
                        format!("instance `{name}` has no value for input `{k}`"),
                    )
                    .at(l.src.key_span(site))
                    .hint(format!(
                        "give it `{k}: …` (the block declares it without a default)"
                    )),
                );
                ok = false;
                continue;
            }
        };
        out.insert(k.clone(), text);
    }
    ok.then_some(out)
}

/// `${each.key}` in an entry's input value, replaced by the key.
fn each_key(v: &str, key: Option<&str>) -> String {
    if !v.contains("each.") {
        return v.to_string();
    }
    let Ok(t) = Template::parse(v) else {
        return v.to_string();
    };
    t.parts
        .iter()
        .map(|(p, text)| match (p, key) {
            (Part::Ref { id, attr }, Some(k)) if id == "each" && attr == "key" => k.to_string(),
            (Part::Lit(s), _) => s.replace("${", "$${"),
            _ => text.clone(),
        })
        .collect()
}

/// The instance's outputs, in the plan's scope (a problem is reported at the output, once for
/// every instance alike).
fn outputs_of(l: &mut Loader, inst: &Instance) -> Option<BTreeMap<String, String>> {
    let scope = inst.scope();
    let mut out = BTreeMap::new();
    for (k, v) in &inst.block.outputs {
        let at = Path::root()
            .key("blocks")
            .key(inst.block_name)
            .key("outputs")
            .key(k);
        match scope.rewrite(v) {
            Ok(t) => {
                out.insert(k.clone(), t);
            }
            Err(p) => p.report(l, &at),
        }
    }
    Some(out)
}

/// Rewrite one raw resource entry of a block into the plan's scope, in place; false when a
/// template cannot be (reported at `at`, the expanded resource's path).
fn rewrite_entry(l: &mut Loader, inst: &Instance, raw: &mut Value, at: &Path) -> bool {
    let scope = inst.scope();
    let mut ok = true;
    let Value::Mapping(m) = raw else {
        return true; // its shape is reported when it is built
    };
    for (k, v) in m.iter_mut() {
        let Some(k) = k.as_str() else { continue };
        let here = at.key(k);
        if k == "depends_on" {
            if let Value::Sequence(items) = v {
                for (i, item) in items.iter_mut().enumerate() {
                    let Value::String(d) = item else { continue };
                    if inst.block.has(d) {
                        *d = format!("{}.{d}", inst.name);
                    } else {
                        let p = scope.outside(d, d);
                        p.report(l, &here.index(i));
                        ok = false;
                    }
                }
            }
            continue;
        }
        ok &= rewrite_value(v, &here, &mut |s, path| match scope.rewrite(s) {
            Ok(t) => Some(t),
            Err(p) => {
                p.report(l, path);
                None
            }
        });
    }
    ok
}

/// Rewrite every template string under `v` with `f` (None: it could not be, reported).
pub(super) fn rewrite_value(
    v: &mut Value,
    at: &Path,
    f: &mut dyn FnMut(&str, &Path) -> Option<String>,
) -> bool {
    match v {
        Value::String(s) if super::has_template(s) => match f(s, at) {
            Some(t) => {
                *s = t;
                true
            }
            None => false,
        },
        Value::Sequence(items) => {
            let mut ok = true;
            for (i, item) in items.iter_mut().enumerate() {
                ok &= rewrite_value(item, &at.index(i), f);
            }
            ok
        }
        Value::Mapping(m) => {
            let mut ok = true;
            for (k, item) in m.iter_mut() {
                if let Some(k) = k.as_str() {
                    ok &= rewrite_value(item, &at.key(k), f);
                }
            }
            ok
        }
        Value::Tagged(t) => rewrite_value(&mut t.value, at, f),
        _ => true,
    }
}

mod scope;
use scope::{list, Scope};

#[cfg(test)]
mod tests;
