//! A plan file's text and the source position of every node in it, by path.
//!
//! serde_yaml turns the text into data but keeps no positions, so this walks yaml-rust2's
//! event stream once and records, for each path (`resources.role.properties.name`), where
//! its key and its value start and end. Findings use it to say file:line:col.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::Span;

/// One step of a path into a plan document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a plan document, e.g. `resources.reader.properties.roles[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn root() -> Path {
        Path(vec![])
    }
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }
    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    pub fn parent(&self) -> Option<Path> {
        if self.0.is_empty() {
            None
        } else {
            Some(Path(self.0[..self.0.len() - 1].to_vec()))
        }
    }
    /// Parse the dotted form (`a.b[0].c`); keys with dots cannot be written this way.
    pub fn parse(s: &str) -> Path {
        let mut segs = vec![];
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let mut rest = part;
            if let Some(i) = rest.find('[') {
                segs.push(Seg::Key(rest[..i].to_string()));
                rest = &rest[i..];
                while let Some(end) = rest.find(']') {
                    if let Ok(n) = rest[1..end].parse() {
                        segs.push(Seg::Index(n));
                    }
                    rest = &rest[end + 1..];
                }
            } else {
                segs.push(Seg::Key(rest.to_string()));
            }
        }
        Path(segs)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            match s {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct NodePos {
    key: Option<Span>,
    value: Span,
}

/// The text of a plan file with its position index.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
    nodes: HashMap<Path, NodePos>,
}

enum Frame {
    Map {
        path: Path,
        key: Option<(String, Span)>,
    },
    Seq {
        path: Path,
        next: usize,
    },
}

impl Source {
    /// Index `text`. A YAML syntax error leaves the index partial; serde_yaml reports the error.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut src = Source {
            name: name.into(),
            text,
            line_starts,
            nodes: HashMap::new(),
        };
        src.index();
        src
    }

    fn offset_of(&self, m: &Marker) -> usize {
        // Marker lines are 1-based and columns 0-based, counted in characters.
        let line = m.line().max(1) - 1;
        let start = *self.line_starts.get(line).unwrap_or(&self.text.len());
        let line_text = &self.text[start..];
        start
            + line_text
                .char_indices()
                .nth(m.col())
                .map(|(i, _)| i)
                .unwrap_or(line_text.len())
    }

    /// The span of a byte range, with its 1-based line and column.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let start = start.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= start);
        let ls = self.line_starts[line - 1];
        let column = self.text[ls..start].chars().count() + 1;
        Span {
            start,
            end: end.max(start).min(self.text.len()),
            line,
            column,
        }
    }

    fn line_end(&self, offset: usize) -> usize {
        self.text[offset..]
            .find('\n')
            .map(|i| offset + i)
            .unwrap_or(self.text.len())
    }

    /// Where a scalar's source text ends: its closing quote, or its value on the line.
    fn scalar_end(&self, start: usize, value: &str, style: TScalarStyle) -> usize {
        let line_end = self.line_end(start);
        let rest = &self.text[start..line_end];
        match style {
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                let q = rest.chars().next().unwrap_or('"');
                let mut escaped = false;
                for (i, c) in rest.char_indices().skip(1) {
                    if c == q && !escaped {
                        return start + i + 1;
                    }
                    escaped = c == '\\' && !escaped && q == '"';
                }
                line_end
            }
            TScalarStyle::Plain if rest.starts_with(value) => start + value.len(),
            _ => start + rest.trim_end().len(),
        }
    }

    fn index(&mut self) {
        let mut parser = Parser::new_from_str(&self.text);
        let mut stack: Vec<Frame> = vec![];
        let mut doc_seen = false;
        while let Ok((ev, mark)) = parser.next_token() {
            let start = self.offset_of(&mark);
            let (span, opens) = match &ev {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    if doc_seen {
                        break; // only the first document is a plan
                    }
                    doc_seen = true;
                    continue;
                }
                Event::Scalar(v, style, _, _) => {
                    (self.span(start, self.scalar_end(start, v, *style)), None)
                }
                Event::MappingStart(..) => (self.span(start, self.line_end(start)), Some(true)),
                Event::SequenceStart(..) => (self.span(start, self.line_end(start)), Some(false)),
                Event::Alias(_) => (self.span(start, self.line_end(start)), None),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    continue;
                }
                _ => continue,
            };
            // Is this node a mapping key? Then remember it and wait for its value.
            if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                if key.is_none() {
                    let name = match &ev {
                        Event::Scalar(v, ..) => v.clone(),
                        _ => String::from("?"),
                    };
                    *key = Some((name, span));
                    if opens.is_some() {
                        // A complex key: skip it (plans never use them).
                        stack.push(Frame::Seq {
                            path: Path(vec![Seg::Key("?".into())]),
                            next: 0,
                        });
                    }
                    continue;
                }
            }
            let (path, key_span) = match stack.last_mut() {
                None => (Path::root(), None),
                Some(Frame::Map { path, key }) => {
                    let (k, ks) = key.take().expect("value follows its key");
                    (path.key(&k), Some(ks))
                }
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    (path.index(*next - 1), None)
                }
            };
            self.nodes.insert(
                path.clone(),
                NodePos {
                    key: key_span,
                    value: span,
                },
            );
            match opens {
                Some(true) => stack.push(Frame::Map { path, key: None }),
                Some(false) => stack.push(Frame::Seq { path, next: 0 }),
                None => {}
            }
        }
    }

    /// The span of the value at `path`, or of the nearest ancestor that has one.
    pub fn value_span(&self, path: &Path) -> Span {
        let mut p = Some(path.clone());
        while let Some(cur) = p {
            if let Some(n) = self.nodes.get(&cur) {
                return n.value;
            }
            p = cur.parent();
        }
        self.span(0, self.line_end(0))
    }

    /// The span of the key at `path` (the value's for sequence items), or of the nearest ancestor.
    pub fn key_span(&self, path: &Path) -> Span {
        match self.nodes.get(path) {
            Some(NodePos { key: Some(k), .. }) => *k,
            Some(n) => n.value,
            None => self.value_span(path),
        }
    }

    /// Whether the document has a node at `path`.
    pub fn has(&self, path: &Path) -> bool {
        self.nodes.contains_key(path)
    }

    /// The span of `needle` inside the scalar at `path` (e.g. one `${…}` of a longer string).
    pub fn span_within(&self, path: &Path, needle: &str) -> Span {
        let v = self.value_span(path);
        match self.text[v.start..v.end.max(v.start)].find(needle) {
            Some(i) => self.span(v.start + i, v.start + i + needle.len()),
            None => v,
        }
    }

    /// The text of the line a span starts on (for tests and messages).
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        &self.text[start..self.line_end(start)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nresources:\n  role:\n    type: iam.role\n    properties:\n      name: \"reader-${var.x}\"\n      roles: [a, 'b']\n      list:\n        - one\n        - two: 2\n";

    #[test]
    fn positions_of_keys_and_values() {
        let s = Source::new("p.yaml", DOC);
        let p = Path::parse("resources.role.type");
        let v = s.value_span(&p);
        assert_eq!((v.line, v.column), (4, 11));
        assert_eq!(&DOC[v.start..v.end], "iam.role");
        let k = s.key_span(&p);
        assert_eq!((k.line, k.column), (4, 5));
        let name = s.value_span(&Path::parse("resources.role.properties.name"));
        assert_eq!(&DOC[name.start..name.end], "\"reader-${var.x}\"");
        let b = s.value_span(&Path::parse("resources.role.properties.roles[1]"));
        assert_eq!(&DOC[b.start..b.end], "'b'");
        let two = s.key_span(&Path::parse("resources.role.properties.list[1].two"));
        assert_eq!((two.line, two.column), (10, 11));
        let within = s.span_within(&Path::parse("resources.role.properties.name"), "${var.x}");
        assert_eq!((within.line, within.column), (6, 21));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let s = Source::new("p.yaml", DOC);
        let v = s.value_span(&Path::parse("resources.role.properties.nope.deeper"));
        assert_eq!(v.line, 6, "the properties mapping starts at its first key");
    }

    #[test]
    fn path_round_trips_through_text() {
        let p = Path::parse("resources.a.properties.roles[0].x");
        assert_eq!(p.to_string(), "resources.a.properties.roles[0].x");
    }
}
