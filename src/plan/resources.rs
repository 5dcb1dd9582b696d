//! The plan's resources, one at a time as the document is read: id, type, partition,
//! templates (variables, facts, references) and typed properties. What needs every resource
//! (whether a referenced id exists, the referenced attribute) is checked once all are read.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::blocks::{self, Blocks};
use super::leaves::{has_template, map_strings, strings_where};
use super::loader::{nearest, path_error, Loader};
use super::partitions::Partitions;
use super::template::{Part, Template};
use super::vars::Vars;
use super::{static_value, types, EachResource, Path, ResourceDef, ResourceEntry, MAX_ID_LEN};
use crate::diag::Finding;

/// A reference to another resource, checked once every resource is read.
struct Reference {
    /// The resource that refers, and where.
    from: String,
    path: Path,
    text: String,
    rid: String,
    attr: String,
}

/// A `depends_on` entry, checked once every resource is read.
struct DependsOn {
    from: String,
    path: Path,
    rid: String,
}

/// The resources stage: builds each resource while its data is fresh and hands it to `each`.
pub(super) struct Stage {
    vars: Vars,
    parts: Partitions,
    resources: BTreeMap<String, ResourceDef>,
    /// What `each` reported of each built resource: kept only if the resource stays.
    local: BTreeMap<String, Vec<Finding>>,
    /// References to resources not read yet (or to none): checked at the end.
    refs: Vec<Reference>,
    depends: Vec<DependsOn>,
    /// Ids declared by resources that did not build (reported): referring to them is fine.
    failed: std::collections::HashSet<String>,
    /// Attribute findings of references checked as they were read, by the referenced id:
    /// kept only if that resource stays.
    attrs: Vec<(String, Finding)>,
    /// Entries that instantiate a block: expanded once every entry is read.
    uses: Vec<(String, Value)>,
    /// Resources that refer to one not read yet (perhaps an instance's output): built last.
    ahead: Vec<(String, ResourceEntry)>,
}

/// What the stage leaves: the resources that stay, and what `each` reported of them.
pub(super) struct Done {
    pub(super) vars: Vars,
    pub(super) parts: Partitions,
    pub(super) resources: BTreeMap<String, ResourceDef>,
    pub(super) local: Vec<Finding>,
}

impl Stage {
    pub(super) fn new(vars: Vars, parts: Partitions) -> Stage {
        Stage {
            vars,
            parts,
            resources: BTreeMap::new(),
            local: BTreeMap::new(),
            refs: vec![],
            depends: vec![],
            failed: Default::default(),
            attrs: vec![],
            uses: vec![],
            ahead: vec![],
        }
    }

    /// Read one resource; a problem is a finding and leaves it out of the spec.
    pub(super) fn one(&mut self, l: &mut Loader, id: String, raw: Value, each: &mut EachResource) {
        let at = Path::root().key("resources").key(&id);
        if check_id(l, &id, &at).is_none() {
            self.failed.insert(id);
            return;
        }
        if blocks::is_use(&raw) {
            self.uses.push((id, raw));
            return;
        }
        let Some(rs) = l.typed::<ResourceEntry>(raw, &at) else {
            self.failed.insert(id);
            return;
        };
        let mut ahead = vec![];
        let declared = |r: &str| self.declared(r);
        strings_where(
            &rs.properties,
            &at,
            &|s| blocks::refers_ahead(s, &declared),
            &mut ahead,
        );
        if !ahead.is_empty() {
            self.ahead.push((id, rs));
            return;
        }
        self.add(l, id, rs, each);
    }

    /// Build a resource read (`one`) or expanded, and hand it to `each`.
    fn add(&mut self, l: &mut Loader, id: String, rs: ResourceEntry, each: &mut EachResource) {
        match self.build(l, &id, rs) {
            Some(def) => {
                let found = each(&def, l.src, &self.parts.defs, &self.resources);
                if !found.is_empty() {
                    self.local.insert(id.clone(), found);
                }
                self.resources.insert(id, def);
            }
            None => {
                self.failed.insert(id);
            }
        }
    }

    fn build(&mut self, l: &mut Loader, id: &str, rs: ResourceEntry) -> Option<ResourceDef> {
        let at = Path::root().key("resources").key(id);
        let Some(info) = types::type_info(&rs.type_name) else {
            let names = || types::types().map(|t| t.name);
            let hint = match nearest(&rs.type_name, names()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("known types: {}", names().collect::<Vec<_>>().join(", ")),
            };
            l.push(
                Finding::error("XP006", format!("unknown resource type `{}`", rs.type_name))
                    .at(l.src.value_span(&at.key("type")))
                    .hint(hint),
            );
            return None;
        };
        let partition = self.partition(l, &rs, info, &at)?;
        let props_at = at.key("properties");
        let (mut deps, ok) = self.templates(l, id, &rs.properties, &props_at);
        for (i, d) in rs.depends_on.iter().enumerate() {
            deps.insert(d.clone());
            if !self.declared(d) {
                self.depends.push(DependsOn {
                    from: id.to_string(),
                    path: at.key("depends_on").index(i),
                    rid: d.clone(),
                });
            }
        }
        // Variables and the facts known without credentials, substituted as literal text.
        let mut props = rs.properties;
        let (vars, parts) = (&self.vars.values, &self.parts.defs);
        map_strings(&mut props, &mut |s| match Template::parse(s) {
            Ok(t) => t.render(&mut |p| static_value(p, vars, parts)),
            Err(_) => s.to_string(),
        });
        let props = match props {
            Value::Null => Value::Mapping(Default::default()),
            p => p,
        };
        let kind = match (info.parse)(props.clone()) {
            Ok(k) => Some(k),
            Err(e) => {
                let f = path_error(l.src, &props_at, e);
                l.push(f);
                None
            }
        };
        let kind = kind.filter(|_| ok)?;
        Some(ResourceDef {
            id: id.to_string(),
            type_name: info.name.to_string(),
            partition,
            kind,
            properties: props,
            deps,
            path: at,
        })
    }

    /// The resource's partition: None (reported) when it cannot be placed; Some(None) for a
    /// local type.
    fn partition(
        &self,
        l: &mut Loader,
        rs: &ResourceEntry,
        info: &types::TypeInfo,
        at: &Path,
    ) -> Option<Option<String>> {
        match (&rs.partition, info.is_local()) {
            (Some(_), true) => {
                l.push(
                    Finding::error(
                        "XP015",
                        format!("`{}` is local and lives in no partition", info.name),
                    )
                    .at(l.src.key_span(&at.key("partition")))
                    .hint("remove `partition:`"),
                );
                Some(None)
            }
            (None, false) => {
                l.push(
                    Finding::error("XP015", format!("`{}` needs a partition", info.name))
                        .at(l.src.key_span(at))
                        .hint(format!(
                            "add `partition:` with one of: {}",
                            self.parts.names()
                        )),
                );
                None
            }
            (Some(p), false) if self.parts.reported(p) => None,
            (Some(p), false) if !self.parts.defs.contains_key(p) => {
                let hint = match nearest(p, self.parts.defs.keys().map(String::as_str)) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!("declared partitions: {}", self.parts.names()),
                };
                l.push(
                    Finding::error(
                        "XP014",
                        format!("partition `{p}` is not declared under `partitions`"),
                    )
                    .at(l.src.value_span(&at.key("partition")))
                    .hint(hint),
                );
                None
            }
            (p, _) => Some(p.clone()),
        }
    }

    /// Every template in the properties: variables and facts checked now, references recorded
    /// (as dependencies, and for the checks that need every resource). Whether all are sound.
    fn templates(
        &mut self,
        l: &mut Loader,
        id: &str,
        props: &Value,
        props_at: &Path,
    ) -> (BTreeSet<String>, bool) {
        let mut deps = BTreeSet::new();
        let mut leaves = vec![];
        strings_where(props, props_at, &has_template, &mut leaves);
        let mut ok = true;
        for (path, s) in &leaves {
            let t = match Template::parse(s) {
                Ok(t) => t,
                Err(e) => {
                    l.push(Finding::error("XP011", e.message).at(l.src.span_within(path, &e.text)).hint("references look like ${id.attr}, ${var.NAME} or ${partitions.NAME.ATTR}"));
                    ok = false;
                    continue;
                }
            };
            for (part, text) in &t.parts {
                match part {
                    Part::Var(v) if !self.vars.values.contains_key(v) && !self.vars.reported(v) => {
                        l.push(
                            Finding::error("XP010", format!("unknown variable `{v}`"))
                                .at(l.src.span_within(path, text))
                                .hint("declare it under `vars:`"),
                        );
                        ok = false;
                    }
                    Part::Fact { partition: p, .. }
                        if !self.parts.defs.contains_key(p) && !self.parts.reported(p) =>
                    {
                        l.push(
                            Finding::error(
                                "XP014",
                                format!("partition `{p}` is not declared under `partitions`"),
                            )
                            .at(l.src.span_within(path, text))
                            .hint(format!("declared partitions: {}", self.parts.names())),
                        );
                        ok = false;
                    }
                    Part::Ref { id: rid, .. } if rid == id => {
                        l.push(
                            Finding::error("XP013", format!("`{id}` refers to itself"))
                                .at(l.src.span_within(path, text))
                                .hint("a resource cannot depend on its own attributes"),
                        );
                        ok = false;
                    }
                    Part::Ref { id: rid, attr } => {
                        deps.insert(rid.clone());
                        // Most references point at a resource read before: checked now, while
                        // both are fresh. The others wait for the end.
                        if let Some(target) = self.resources.get(rid) {
                            if let Some(f) = attr_problem(l, target, attr, path, text) {
                                self.attrs.push((rid.clone(), f));
                            }
                        } else if !self.failed.contains(rid) {
                            self.refs.push(Reference {
                                from: id.to_string(),
                                path: path.clone(),
                                text: text.clone(),
                                rid: rid.clone(),
                                attr: attr.clone(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        (deps, ok)
    }

    /// The checks that need every resource: a reference or `depends_on` to no resource (the
    /// referring resource then leaves the spec, as any resource with a bad template does), and
    /// a reference to an attribute the referenced type does not have.
    /// Whether `id` is a resource of the plan read so far (built or not).
    fn declared(&self, id: &str) -> bool {
        self.resources.contains_key(id)
            || self.failed.contains(id)
            || id
                .split_once('.')
                .is_some_and(|(entry, _)| self.failed.contains(entry))
    }

    pub(super) fn finish(
        mut self,
        l: &mut Loader,
        blocks: Blocks,
        each: &mut EachResource,
    ) -> Done {
        let expanded = blocks::expand(l, blocks, std::mem::take(&mut self.uses));
        self.failed.extend(expanded.failed);
        self.failed.extend(expanded.failed_entries);
        let names = &expanded.names;
        for (id, mut raw) in expanded.resources {
            let at = Path::root().key("resources").key(&id);
            let rs = match substitute(l, names, &mut raw, &at) {
                true if id.len() > MAX_ID_LEN => {
                    l.push(
                        Finding::error("XP016", format!("resource id `{}…` is {} characters long", &id[..16], id.len()))
                            .at(l.src.key_span(&at))
                            .hint(format!("at most {MAX_ID_LEN}: shorten the entry, its `for_each` keys or the block's ids")),
                    );
                    None
                }
                true => l.typed::<ResourceEntry>(raw, &at),
                false => None,
            };
            match rs {
                Some(rs) => self.add(l, id, rs, each),
                None => {
                    self.failed.insert(id);
                }
            }
        }
        for (id, mut rs) in std::mem::take(&mut self.ahead) {
            let at = Path::root().key("resources").key(&id).key("properties");
            match substitute(l, names, &mut rs.properties, &at) {
                true => self.add(l, id, rs, each),
                false => {
                    self.failed.insert(id);
                }
            }
        }
        let mut dropped = BTreeSet::new();
        for r in &self.refs {
            if self.declared(&r.rid) {
                continue;
            }
            let ids = self
                .resources
                .keys()
                .chain(&self.failed)
                .map(String::as_str);
            let hint = match nearest(&r.rid, ids) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "reference a resource id declared under `resources`".to_string(),
            };
            l.push(
                Finding::error(
                    "XP011",
                    format!("`{}` refers to no resource `{}`", r.text, r.rid),
                )
                .at(l.src.span_within(&r.path, &r.text))
                .hint(hint),
            );
            dropped.insert(r.from.clone());
        }
        for d in &self.depends {
            if self.declared(&d.rid) {
                continue;
            }
            l.push(
                Finding::error("XP011", format!("depends_on names no resource `{}`", d.rid))
                    .at(l.src.value_span(&d.path))
                    .hint("list resource ids declared under `resources`"),
            );
            if let Some(r) = self.resources.get_mut(&d.from) {
                r.deps.remove(&d.rid);
            }
        }
        for id in &dropped {
            self.resources.remove(id);
            self.local.remove(id);
        }
        for r in &self.refs {
            if let Some(target) = self.resources.get(&r.rid) {
                if let Some(f) = attr_problem(l, target, &r.attr, &r.path, &r.text) {
                    l.push(f);
                }
            }
        }
        for (target, f) in std::mem::take(&mut self.attrs) {
            if self.resources.contains_key(&target) {
                l.push(f);
            }
        }
        Done {
            local: self.local.into_values().flatten().collect(),
            vars: self.vars,
            parts: self.parts,
            resources: self.resources,
        }
    }
}

/// Replace references to instances' outputs under `v` (at `at`); false when one names no
/// output (reported) or an instance that did not expand.
fn substitute(l: &mut Loader, names: &blocks::Names, v: &mut Value, at: &Path) -> bool {
    blocks::rewrite_value(v, at, &mut |s, path| match names.substitute(s) {
        Ok(t) => Some(t.unwrap_or_else(|| s.to_string())),
        Err(p) => {
            p.report(l, path);
            None
        }
    })
}

/// XP012: `target` has no attribute `attr`.
fn attr_problem(
    l: &Loader,
    target: &ResourceDef,
    attr: &str,
    path: &Path,
    text: &str,
) -> Option<Finding> {
    let info = types::type_info(&target.type_name).expect("a loaded resource's type");
    if info.attrs.contains(&attr) {
        return None;
    }
    let tn = info.name;
    let mut f = Finding::error("XP012", format!("`{tn}` has no attribute `{attr}`"))
        .at(l.src.span_within(path, text))
        .hint(format!("attributes of {tn}: {}", info.attrs.join(", ")));
    f.file = l.src.name.clone();
    Some(f)
}

/// The id is the value of the `xpart:id` tag and names the local PKI files.
pub(super) fn check_id(l: &mut Loader, id: &str, at: &Path) -> Option<()> {
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        l.push(
            Finding::error(
                "XP016",
                format!("resource id `{id}` may only use letters, digits, `_` and `-`"),
            )
            .at(l.src.key_span(at))
            .hint("rename it; ids appear in references as ${id.attr}"),
        );
        return None;
    }
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
            .at(l.src.key_span(at))
            .hint(format!(
                "at most {MAX_ID_LEN}: the id is a tag value and a file name"
            )),
        );
        return None;
    }
    Some(())
}
