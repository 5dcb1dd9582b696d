//! What names mean inside a block, for one instance: a block's templates rewritten into the
//! plan's (inputs and `each.key` substituted, the instance's resources named by their ids), and
//! references to an instance's outputs replaced by what they stand for.

use super::*;

/// What names mean inside a block, for one instance.
pub(super) struct Scope<'a> {
    pub(super) name: &'a str,
    pub(super) key: Option<&'a str>,
    pub(super) block: &'a Block,
    /// None inside an input's default.
    pub(super) inputs: Option<&'a BTreeMap<String, String>>,
}

impl Instance<'_> {
    pub(super) fn scope(&self) -> Scope<'_> {
        Scope {
            name: &self.name,
            key: self.key.as_deref(),
            block: self.block,
            inputs: Some(&self.inputs),
        }
    }
}

impl Scope<'_> {
    /// A template of the block, as a template of the plan: inputs and `each.key` substituted,
    /// the instance's resources named by their ids, variables and facts as written. A string
    /// that is not a template stays as it is (building it reports that, in the block).
    pub(super) fn rewrite(&self, s: &str) -> Result<String, Problem> {
        let Ok(t) = Template::parse(s) else {
            return Ok(s.to_string());
        };
        let mut out = String::new();
        for (p, text) in &t.parts {
            match p {
                Part::Lit(s) => out.push_str(&s.replace("${", "$${")),
                Part::Var(_) | Part::Fact { .. } => out.push_str(&p_text(p)),
                Part::Ref { id, attr } if id == "input" => match self.inputs {
                    Some(inputs) => match inputs.get(attr) {
                        Some(v) => out.push_str(v),
                        None => {
                            let hint = match nearest(attr, self.block.inputs.keys().map(String::as_str)) {
                                Some(n) => format!("did you mean `{n}`?"),
                                None => "declare it under the block's `inputs:`".to_string(),
                            };
                            return Err(Problem::new(format!("the block has no input `{attr}`"), text, hint));
                        }
                    },
                    None => {
                        return Err(Problem::new(
                            "an input's default cannot use another input".into(),
                            text,
                            "use `${each.key}`, variables or partition facts, or give the value where the block is used",
                        ))
                    }
                },
                Part::Ref { id, attr } if id == "each" => match (attr.as_str(), self.key) {
                    ("key", Some(k)) => out.push_str(k),
                    ("key", None) => {
                        return Err(Problem::new(
                            format!("`{text}` in an instance without `for_each` (`{}`)", self.name),
                            text,
                            "instantiate the block with `for_each`, or pass the value as an input",
                        ))
                    }
                    _ => {
                        return Err(Problem::new(
                            format!("`{text}` is not known: `each` has only `key`"),
                            text,
                            "use `${each.key}`; give other values per key as inputs",
                        ))
                    }
                },
                Part::Ref { id, attr } if self.block.has(id) => {
                    out.push_str(&format!("${{{}.{id}.{attr}}}", self.name));
                }
                Part::Ref { id, .. } => return Err(self.outside(id, text)),
            }
        }
        Ok(out)
    }

    /// A name the block cannot see.
    pub(super) fn outside(&self, id: &str, text: &str) -> Problem {
        let hint = match nearest(id, self.block.resources.iter().map(|(r, _)| r.as_str())) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!(
                "a block sees its inputs, its own resources ({}), variables and partitions: pass `{id}`'s value in as an input (`${{input.NAME}}`)",
                list(self.block.resources.iter().map(|(r, _)| r))
            ),
        };
        Problem::new(
            format!("`{text}` names `{id}`, which is outside the block"),
            text,
            hint,
        )
    }
}

/// A variable or fact as written in canonical form.
fn p_text(p: &Part) -> String {
    Template {
        parts: vec![(p.clone(), String::new())],
    }
    .to_string()
}

pub(super) fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// How deep outputs may stand for other instances' outputs.
const MAX_OUTPUT_DEPTH: usize = 8;

impl Names {
    /// A plan string with every reference to an instance's output replaced by what it stands
    /// for; None when it names none.
    pub(in crate::plan) fn substitute(&self, s: &str) -> Result<Option<String>, Problem> {
        self.substitute_at(s, 0)
    }

    fn substitute_at(&self, s: &str, depth: usize) -> Result<Option<String>, Problem> {
        let Ok(t) = Template::parse(s) else {
            return Ok(None);
        };
        let mut changed = false;
        let mut out = String::new();
        for (p, text) in &t.parts {
            match p {
                Part::Ref { id, attr } => {
                    if let Some(outputs) = self.outputs.get(id) {
                        let Some(outputs) = outputs else {
                            return Err(Problem {
                                quiet: true,
                                ..Problem::new(String::new(), text, "")
                            });
                        };
                        let Some(v) = outputs.get(attr) else {
                            return Err(Problem::new(
                                format!("instance `{id}` has no output `{attr}`"),
                                text,
                                format!(
                                    "its outputs: {}; or an attribute of one of its resources, ${{{id}.ID.ATTR}}",
                                    list(outputs.keys())
                                ),
                            ));
                        };
                        if depth >= MAX_OUTPUT_DEPTH {
                            return Err(Problem::new(
                                format!(
                                    "`{text}` stands for outputs more than {MAX_OUTPUT_DEPTH} deep"
                                ),
                                text,
                                "outputs may refer to each other, but not in a cycle",
                            ));
                        }
                        let v = self.substitute_at(v, depth + 1)?.unwrap_or(v.clone());
                        out.push_str(&v);
                        changed = true;
                        continue;
                    }
                    if let Some(instances) = self.keyed.get(id) {
                        return Err(Problem::new(
                            format!("`{id}` has one instance per `for_each` key: `{text}` does not say which"),
                            text,
                            format!("name one: {}", instances.iter().take(3).map(|i| format!("${{{i}.{attr}}}")).collect::<Vec<_>>().join(", ")),
                        ));
                    }
                    let entry = id.split('.').next().unwrap_or_default();
                    let gone = |inst: &str| matches!(self.outputs.get(inst), Some(None));
                    if self.failed.contains(entry)
                        || id.rsplit_once('.').is_some_and(|(i, _)| gone(i))
                    {
                        return Err(Problem {
                            quiet: true,
                            ..Problem::new(String::new(), text, "")
                        });
                    }
                    out.push_str(&p_text(p));
                }
                Part::Lit(s) => out.push_str(&s.replace("${", "$${")),
                _ => out.push_str(&p_text(p)),
            }
        }
        Ok(changed.then_some(out))
    }
}
