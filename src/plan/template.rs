//! `${…}` templates in plan strings: variables, partition facts and references to resources.
//!
//! `${var.NAME}`, `${partitions.NAME.ATTR}` (partition, account, region, dns_suffix) and
//! `${ID.ATTR}`; `$${` writes a literal `${`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Var(String),
    Fact { partition: String, attr: String },
    Ref { id: String, attr: String },
}

/// A parsed template; `text` of each non-literal part is its source form (`${…}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<(Part, String)>,
}

pub const FACT_ATTRS: &[&str] = &["partition", "account", "region", "dns_suffix"];

/// The most names a reference has: `${ENTRY.KEY.ID.ATTR}`, a block instance's resource.
const MAX_SEGMENTS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    /// The offending text, for locating it in the source.
    pub text: String,
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a rendering makes: a template again (escaped, unknown parts kept as written), or the
/// final text.
#[derive(Clone, Copy)]
enum Rendering<'a> {
    Template,
    Final { unknown: &'a str },
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, TemplateError> {
        let mut parts = vec![];
        let mut lit = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("$${") {
                lit.push_str("${");
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${") {
                let Some(end) = r.find('}') else {
                    return Err(TemplateError {
                        message: "unterminated `${`".into(),
                        text: rest.to_string(),
                    });
                };
                let expr = r[..end].trim();
                let text = format!("${{{}}}", &r[..end]);
                let segs: Vec<&str> = expr.split('.').collect();
                let part = match segs.as_slice() {
                    ["var", name] if ident_ok(name) => Part::Var(name.to_string()),
                    ["partitions", p, attr] if ident_ok(p) => {
                        if !FACT_ATTRS.contains(attr) {
                            return Err(TemplateError {
                                message: format!(
                                    "unknown partition fact `{attr}`; known: {}",
                                    FACT_ATTRS.join(", ")
                                ),
                                text,
                            });
                        }
                        Part::Fact { partition: p.to_string(), attr: attr.to_string() }
                    }
                    [id, attr] if ident_ok(id) && ident_ok(attr) => {
                        Part::Ref { id: id.to_string(), attr: attr.to_string() }
                    }
                    // A resource of a block's instance (`${ENTRY.KEY.ID.ATTR}`), or an
                    // instance's output (`${ENTRY.KEY.NAME}`): the id holds dots.
                    [first, .., attr]
                        if segs.len() <= MAX_SEGMENTS
                            && !matches!(*first, "var" | "partitions")
                            && segs.iter().all(|s| ident_ok(s)) =>
                    {
                        let id = segs[..segs.len() - 1].join(".");
                        Part::Ref { id, attr: attr.to_string() }
                    }
                    _ => {
                        return Err(TemplateError {
                            message: format!(
                                "`{text}` is not a reference: expected ${{var.NAME}}, ${{partitions.NAME.ATTR}} or ${{ID.ATTR}}"
                            ),
                            text,
                        })
                    }
                };
                if !lit.is_empty() {
                    parts.push((Part::Lit(std::mem::take(&mut lit)), String::new()));
                }
                parts.push((part, text));
                rest = &r[end + 1..];
            } else {
                lit.push('$');
                rest = &rest[1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push((Part::Lit(lit), String::new()));
        }
        Ok(Template { parts })
    }

    pub fn refs(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.parts.iter().filter_map(|(p, t)| match p {
            Part::Ref { id, attr } => Some((id.as_str(), attr.as_str(), t.as_str())),
            _ => None,
        })
    }

    /// Whether the template is exactly one reference, with nothing around it.
    pub fn single_ref(&self) -> Option<(&str, &str)> {
        match self.parts.as_slice() {
            [(Part::Ref { id, attr }, _)] => Some((id, attr)),
            _ => None,
        }
    }

    /// Substitute what `lookup` knows; unknown parts stay as written. The result is a template
    /// again: literal text, substituted values included, has its `${` escaped, so a value is
    /// always literal text and never becomes a reference when the result is parsed again
    /// (`--var 'x=${role.arn}'` is the text `${role.arn}`).
    pub fn render(&self, lookup: &mut dyn FnMut(&Part) -> Option<String>) -> String {
        self.substitute(lookup, Rendering::Template)
    }

    /// The final text: each part `lookup` knows substituted, literals as they read (`$${`
    /// unescaped), and `unknown` for a part it does not know. What the engine sends to AWS.
    pub fn fill(&self, lookup: &mut dyn FnMut(&Part) -> Option<String>, unknown: &str) -> String {
        self.substitute(lookup, Rendering::Final { unknown })
    }

    /// The one renderer behind `render` and `fill`.
    fn substitute(
        &self,
        lookup: &mut dyn FnMut(&Part) -> Option<String>,
        how: Rendering,
    ) -> String {
        let escape = |s: &str| match how {
            Rendering::Template => s.replace("${", "$${"),
            Rendering::Final { .. } => s.to_string(),
        };
        let mut out = String::new();
        for (p, text) in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(&escape(s)),
                other => match (lookup(other), how) {
                    (Some(v), _) => out.push_str(&escape(&v)),
                    (None, Rendering::Template) => out.push_str(text),
                    (None, Rendering::Final { unknown }) => out.push_str(unknown),
                },
            }
        }
        out
    }

    /// What is known of the text now: the literal parts (unescaped), and whether that is all
    /// of it (no part left for `lookup`-less rendering, such as a reference).
    pub fn known_text(&self) -> (String, bool) {
        let mut text = String::new();
        let mut complete = true;
        for (p, _) in &self.parts {
            match p {
                Part::Lit(s) => text.push_str(s),
                _ => complete = false,
            }
        }
        (text, complete)
    }

    /// Whether every part is a literal.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|(p, _)| matches!(p, Part::Lit(_)))
    }

    /// The literal value (with `$${` unescaped), if there are no references left.
    pub fn literal(&self) -> Option<String> {
        self.is_literal().then(|| {
            self.parts
                .iter()
                .map(|(p, _)| match p {
                    Part::Lit(s) => s.as_str(),
                    _ => "",
                })
                .collect()
        })
    }
}

/// The canonical source form: literals escaped, references as `${id.attr}` without spaces.
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (p, _) in &self.parts {
            match p {
                Part::Lit(s) => f.write_str(&s.replace("${", "$${"))?,
                Part::Var(v) => write!(f, "${{var.{v}}}")?,
                Part::Fact { partition, attr } => write!(f, "${{partitions.{partition}.{attr}}}")?,
                Part::Ref { id, attr } => write!(f, "${{{id}.{attr}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_of_part() {
        let t = Template::parse("arn:${partitions.china.partition}:x:${var.suffix}/${role.arn}")
            .unwrap();
        let kinds: Vec<_> = t.parts.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Part::Lit("arn:".into()),
                Part::Fact {
                    partition: "china".into(),
                    attr: "partition".into()
                },
                Part::Lit(":x:".into()),
                Part::Var("suffix".into()),
                Part::Lit("/".into()),
                Part::Ref {
                    id: "role".into(),
                    attr: "arn".into()
                },
            ]
        );
        assert_eq!(t.single_ref(), None);
        assert_eq!(
            Template::parse("${role.arn}").unwrap().single_ref(),
            Some(("role", "arn"))
        );
    }

    #[test]
    fn ids_of_block_instances_hold_dots() {
        let t = Template::parse("${workloads.orders.role.arn}").unwrap();
        assert_eq!(t.single_ref(), Some(("workloads.orders.role", "arn")));
        assert_eq!(t.to_string(), "${workloads.orders.role.arn}");
        let out = Template::parse("${w.o.role_arn}").unwrap();
        assert_eq!(out.single_ref(), Some(("w.o", "role_arn")));
    }

    #[test]
    fn escapes_and_plain_dollars_are_literal() {
        let t = Template::parse("cost: $5, $${not.a.ref}").unwrap();
        assert_eq!(t.literal().as_deref(), Some("cost: $5, ${not.a.ref}"));
        assert_eq!(t.to_string(), "cost: $5, $${not.a.ref}");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(Template::parse("${role.arn").is_err());
        assert!(Template::parse("${a.b.c.d.e}").is_err());
        assert!(Template::parse("${var.a.b}").is_err());
        assert!(Template::parse("${a..b}").is_err());
        assert!(Template::parse("${partitions.china.nope}").is_err());
        assert!(Template::parse("${}").is_err());
    }

    #[test]
    fn substituted_values_stay_literal_when_parsed_again() {
        let t = Template::parse("desc ${var.d} and $${kept}").unwrap();
        let out = t.render(&mut |p| match p {
            Part::Var(_) => Some("${app.arn} $${x} ${x".into()),
            _ => None,
        });
        let again = Template::parse(&out).unwrap();
        assert_eq!(
            again.literal().as_deref(),
            Some("desc ${app.arn} $${x} ${x and ${kept}")
        );
        assert_eq!(again.refs().count(), 0);
    }

    #[test]
    fn display_is_canonical() {
        let t = Template::parse("a-${ var.x }-${partitions.c.region}-$${y}").unwrap();
        assert_eq!(t.to_string(), "a-${var.x}-${partitions.c.region}-$${y}");
    }

    #[test]
    fn fill_gives_the_final_text_and_marks_what_is_unknown() {
        let t = Template::parse("$${literal}-${var.a}-${x.arn}").unwrap();
        let out = t.fill(
            &mut |p| match p {
                Part::Var(v) if v == "a" => Some("${one}".into()),
                _ => None,
            },
            "?",
        );
        // Literals unescaped, values as they are, the unknown reference marked.
        assert_eq!(out, "${literal}-${one}-?");
    }

    #[test]
    fn render_substitutes_known_parts_only() {
        let t = Template::parse("${var.a}-${x.arn}").unwrap();
        let out = t.render(&mut |p| match p {
            Part::Var(v) if v == "a" => Some("one".into()),
            _ => None,
        });
        assert_eq!(out, "one-${x.arn}");
    }
}
