//! A plan file's text and the source position of every node in it, by path.
//!
//! serde_yaml turns the text into data but keeps no positions, so this walks yaml-rust2's
//! event stream once and records, for each path (`resources.role.properties.name`), where
//! its key and its value start and end. Findings use it to say file:line:col.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::diag::{ExpandedFor, Finding, Span};

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

/// Where a node's key and value are, as byte ranges: line and column are worked out only for
/// the few nodes a finding points at (`Source::span`), which keeps indexing linear in the
/// file's size even when the whole plan is one line.
#[derive(Debug, Clone, Copy)]
struct NodePos {
    /// Byte offsets, as u32: a plan file is at most `input::MAX_PLAN` bytes, and a compact
    /// index is one that stays in cache. A node with no key has `key_end == 0`.
    key_start: u32,
    key_end: u32,
    start: u32,
    end: u32,
}

impl NodePos {
    fn new(key: Option<(usize, usize)>, value: (usize, usize)) -> NodePos {
        let c = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let (ks, ke) = key.unwrap_or((0, 0));
        NodePos {
            key_start: c(ks),
            key_end: c(ke),
            start: c(value.0),
            end: c(value.1),
        }
    }
    fn value(&self) -> (usize, usize) {
        (self.start as usize, self.end as usize)
    }
    fn key(&self) -> Option<(usize, usize)> {
        (self.key_end != 0).then_some((self.key_start as usize, self.key_end as usize))
    }
}

/// One step of a path as the index keeps it: mapping keys interned (plans repeat `type`,
/// `properties`, `name` thousands of times), so a node costs a few words, not a copy of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Key(u32),
    Index(u32),
}

/// The text of a plan file, with a position index made on the first position asked for: a
/// plan without findings never needs one, and that keeps its load one pass over the text.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
    index: std::sync::OnceLock<Index>,
    /// Where the document first nests flow collections deeper than `MAX_DEPTH`, if it does.
    too_deep: Option<usize>,
    /// Where the resources expanded from blocks are written (see `Origins`).
    origins: std::sync::OnceLock<Origins>,
}

/// What makes two findings about instances the same finding: code, message, file, place, hint
/// (the message and hint with the instance's name taken out).
type Alike<'f> = (
    &'static str,
    String,
    &'f str,
    (usize, usize),
    Option<String>,
);

/// Where the text of each resource expanded from a block is: the loader sets it once, before
/// the first such resource is built. Then a path of an expanded resource
/// (`resources.<entry>.<key>.<id>…`, a node the document does not have) is found at the block's
/// text (`blocks.<block>.resources.<id>…`), and its span says for which instance (`Span::via`):
/// every check places its findings by path, so each lands in the block, with no check knowing.
#[derive(Debug, Default)]
pub struct Origins {
    /// By expanded resource id: its instance (an index into `instances`) and its block's text.
    resources: HashMap<String, (u32, Path)>,
    instances: Vec<(String, Span)>,
    /// Blocks kept in files of their own: each file's text, and which block is in which
    /// (`blocks.<block>…` of the plan is then the file's root).
    files: Vec<Source>,
    in_file: HashMap<String, u32>,
}

impl Origins {
    /// Block `name` is written in `file` (its text, named as findings name it).
    pub fn block_file(&mut self, name: String, file: Source) {
        self.files.push(file);
        self.in_file.insert(name, self.files.len() as u32 - 1);
    }

    /// A new instance, named as findings name it, instantiated at `site` in the plan.
    pub fn instance(&mut self, name: String, site: Span) -> u32 {
        self.instances.push((name, site));
        self.instances.len() as u32 - 1
    }

    /// The expanded resource `id` of `instance`, written at `text` (a path in the plan).
    pub fn resource(&mut self, id: String, instance: u32, text: Path) {
        self.resources.insert(id, (instance, text));
    }
}

/// Every node's position: a tree of nodes, each found from its parent by one step, so memory
/// and time grow linearly with the file.
#[derive(Debug, Default)]
struct Index {
    /// Node 0 is the document's root (when there is one); `pos[i]` is node i's position.
    pos: Vec<NodePos>,
    children: HashMap<(u32, Step), u32>,
    keys: HashMap<String, u32>,
}

/// The deepest nesting of mappings and sequences a plan may have. Plans need a handful of
/// levels; the YAML parser behind serde_yaml takes time proportional to the depth for every
/// token, so a document thousands of levels deep would take minutes to refuse.
pub const MAX_DEPTH: usize = 64;

/// Where flow collections (`{…}`, `[…]`) first nest deeper than `max`, scanning the text once:
/// the YAML scanner serde_yaml uses takes time proportional to the flow depth for every token,
/// so this must be known before it runs. Brackets in comments, quoted scalars and block
/// scalars do not count; it is a guard, not a parser, and plans nest a few levels at most.
fn flow_too_deep(text: &str, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    // Inside a block scalar (`|`, `>`): lines indented more than this are its text.
    let mut block: Option<usize> = None;
    let mut line_start = true;
    let mut indent = 0usize;
    // The last character that was not a space: a quote opens a scalar only after these.
    let mut prev = b'\n';
    while i < b.len() {
        let c = b[i];
        if line_start {
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            indent = j - i;
            let blank = j >= b.len() || b[j] == b'\n';
            if let Some(level) = block {
                if blank || indent > level {
                    i = b[i..]
                        .iter()
                        .position(|&x| x == b'\n')
                        .map_or(b.len(), |n| i + n + 1);
                    continue;
                }
                block = None;
            }
            line_start = false;
            prev = b'\n';
            i = j;
            continue;
        }
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b'#' if prev == b'\n' || b[i - 1] == b' ' || b[i - 1] == b'\t' => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |n| i + n);
                continue;
            }
            b'"' | b'\'' if matches!(prev, b'\n' | b'[' | b'{' | b',' | b':' | b'-' | b'?') => {
                let q = c;
                i += 1;
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'|' | b'>' if matches!(prev, b':' | b'-') && depth == 0 => {
                // A block scalar header: the rest of the line is indicators or a comment.
                let rest = &b[i + 1..];
                let end = rest.iter().position(|&x| x == b'\n').unwrap_or(rest.len());
                let header = &rest[..end];
                let ok = header
                    .iter()
                    .take_while(|&&x| x != b'#')
                    .all(|&x| x == b' ' || x == b'+' || x == b'-' || x.is_ascii_digit());
                if ok {
                    block = Some(indent);
                }
            }
            _ => {}
        }
        if c != b' ' && c != b'\t' {
            prev = c;
        }
        i += 1;
    }
    None
}

/// Turns yaml-rust2's character offsets into byte offsets, walking forward from the last one
/// asked for: events come in document order, so the whole walk is one pass over the text.
struct CharCursor {
    chars: usize,
    bytes: usize,
}

impl CharCursor {
    fn byte_of(&mut self, text: &str, chars: usize) -> usize {
        if chars < self.chars {
            // A step back (an event placed before the one just read, such as a closing
            // bracket's mark after a scalar's end): walk back from here.
            let back = self.chars - chars;
            let before = &text[..self.bytes];
            let sub = if before.len() >= back && before[before.len() - back..].is_ascii() {
                back
            } else {
                before
                    .char_indices()
                    .rev()
                    .nth(back - 1)
                    .map(|(i, _)| before.len() - i)
                    .unwrap_or(before.len())
            };
            self.chars = chars;
            self.bytes -= sub;
            return self.bytes;
        }
        let rest = &text[self.bytes..];
        let step = chars - self.chars;
        let add = if rest.len() >= step && rest.is_char_boundary(step) && rest[..step].is_ascii() {
            step
        } else {
            rest.char_indices()
                .nth(step)
                .map(|(i, _)| i)
                .unwrap_or(rest.len())
        };
        self.chars = chars;
        self.bytes += add;
        self.bytes
    }
}

enum Frame {
    Map {
        node: u32,
        key: Option<(String, (usize, usize))>,
    },
    Seq {
        node: u32,
        next: u32,
    },
    /// A complex key (a mapping or sequence as a key): skipped, plans never use them.
    Skip,
}

impl Source {
    /// The text, where its lines start, and the flow-depth guard; positions are indexed on
    /// the first one asked for (a YAML syntax error leaves that index partial).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            name: name.into(),
            too_deep: flow_too_deep(&text, MAX_DEPTH),
            text,
            line_starts,
            index: std::sync::OnceLock::new(),
            origins: std::sync::OnceLock::new(),
        }
    }

    /// Record where expanded resources are written; only the first call counts (the loader
    /// makes one, with every instance of the plan).
    pub fn set_origins(&self, origins: Origins) {
        let _ = self.origins.set(origins);
    }

    /// Where the text at `path` really is, when it is not in this document: an expanded
    /// resource's in its block, a block's in its own file. The source that holds it, the path
    /// there, and the span's `via` and `file`.
    fn route(&self, path: &Path) -> Option<(&Source, Path, u32, u32)> {
        let origins = self.origins.get()?;
        let [Seg::Key(top), Seg::Key(name), rest @ ..] = path.0.as_slice() else {
            return None;
        };
        let (via, real) = match top.as_str() {
            "resources" => {
                let (instance, text) = origins.resources.get(name)?;
                let mut real = text.clone();
                real.0.extend(rest.iter().cloned());
                (instance + 1, real)
            }
            "blocks" => (0, path.clone()),
            _ => return None,
        };
        // `blocks.<block>…`: in the plan, or at the root of the block's own file.
        let block = match real.0.get(1) {
            Some(Seg::Key(b)) => b,
            _ => return None,
        };
        match origins.in_file.get(block) {
            Some(&f) => {
                let inner = Path(real.0[2..].to_vec());
                Some((&origins.files[f as usize], inner, via, f + 1))
            }
            None if via != 0 => Some((self, real, via, 0)),
            None => None,
        }
    }

    /// The text of `file` when it is the plan or one of its block files (for rendering).
    pub fn text_of(&self, file: &str) -> Option<&str> {
        if file == self.name {
            return Some(&self.text);
        }
        let origins = self.origins.get()?;
        origins
            .files
            .iter()
            .find(|f| f.name == file)
            .map(|f| f.text.as_str())
    }

    /// Findings about expanded resources name their instance (`Finding::expanded_for`), and a
    /// finding every instance has alike (one written in the block, whatever the inputs) is
    /// reported once, for the first, counting the others.
    pub fn annotate(&self, findings: &mut Vec<Finding>) {
        let Some(origins) = self.origins.get() else {
            return;
        };
        for f in findings.iter_mut() {
            if let Some(file) = origins.files.get((f.span.file as usize).wrapping_sub(1)) {
                f.file = file.name.clone();
            }
            if f.span.via == 0 || f.expanded_for.is_some() {
                continue;
            }
            let Some((name, site)) = origins.instances.get(f.span.via as usize - 1) else {
                continue;
            };
            f.expanded_for = Some(ExpandedFor {
                instance: name.clone(),
                file: self.name.clone(),
                line: site.line,
                column: site.column,
                others: 0,
            });
        }
        let mut first: HashMap<Alike, usize> = HashMap::new();
        let mut keep = vec![true; findings.len()];
        let mut add = vec![0; findings.len()];
        for (i, f) in findings.iter().enumerate() {
            let Some(e) = &f.expanded_for else { continue };
            // A message that names its instance (`in resources.w.orders.role`) is alike too.
            let alike = |s: &str| s.replace(&e.instance, "\0");
            let key = (
                f.code,
                alike(&f.message),
                f.file.as_str(),
                (f.span.start, f.span.end),
                f.hint.as_deref().map(alike),
            );
            match first.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    keep[i] = false;
                    add[*o.get()] += 1 + e.others;
                }
            }
        }
        let mut i = 0;
        findings.retain_mut(|f| {
            if let Some(e) = &mut f.expanded_for {
                e.others += add[i];
            }
            i += 1;
            keep[i - 1]
        });
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(self))
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
            via: 0,
            file: 0,
        }
    }

    /// Where the line holding `offset` ends (its newline, or the end of the text).
    fn line_end(&self, offset: usize) -> usize {
        let next = self.line_starts.partition_point(|&s| s <= offset);
        match self.line_starts.get(next) {
            Some(&start) => start - 1,
            None => self.text.len(),
        }
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
}

impl Index {
    fn build(src: &Source) -> Index {
        let mut ix = Index::default();
        let mut links: Vec<Option<(u32, Step)>> = vec![];
        let mut parser = Parser::new_from_str(&src.text);
        let mut stack: Vec<Frame> = vec![];
        let mut doc_seen = false;
        let mut cursor = CharCursor { chars: 0, bytes: 0 };
        while let Ok((ev, mark)) = parser.next_token() {
            let start = cursor.byte_of(&src.text, mark.index());
            let (span, opens) = match &ev {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    if doc_seen {
                        break; // only the first document is a plan
                    }
                    doc_seen = true;
                    continue;
                }
                Event::Scalar(v, style, _, _) => ((start, src.scalar_end(start, v, *style)), None),
                Event::MappingStart(..) => ((start, src.line_end(start)), Some(true)),
                Event::SequenceStart(..) => ((start, src.line_end(start)), Some(false)),
                Event::Alias(_) => ((start, src.line_end(start)), None),
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
                        stack.push(Frame::Skip);
                    }
                    continue;
                }
            }
            let (parent, step, key_span) = match stack.last_mut() {
                None => (None, None, None),
                Some(Frame::Map { node, key }) => {
                    let (k, ks) = key.take().expect("value follows its key");
                    let n = ix.keys.len() as u32;
                    let k = *ix.keys.entry(k).or_insert(n);
                    (Some(*node), Some(Step::Key(k)), Some(ks))
                }
                Some(Frame::Seq { node, next }) => {
                    *next += 1;
                    (Some(*node), Some(Step::Index(*next - 1)), None)
                }
                Some(Frame::Skip) => {
                    if opens.is_some() {
                        stack.push(Frame::Skip);
                    }
                    continue;
                }
            };
            // Only the first document is indexed, so there is one root.
            if parent.is_none() && !ix.pos.is_empty() {
                break;
            }
            let node = ix.pos.len() as u32;
            ix.pos.push(NodePos::new(key_span, span));
            links.push(parent.zip(step));
            match opens {
                Some(true) => stack.push(Frame::Map { node, key: None }),
                Some(false) => stack.push(Frame::Seq { node, next: 0 }),
                None => {}
            }
        }
        ix.children = links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some(((*l)?, i as u32)))
            .collect();
        ix
    }
}

impl Source {
    /// Where the document first nests flow collections deeper than `MAX_DEPTH`, if it does.
    pub fn too_deep(&self) -> Option<Span> {
        self.too_deep.map(|at| self.span(at, at + 1))
    }

    /// The node at `path`, or the nearest ancestor that has one (and whether it is `path`'s own).
    fn find(&self, path: &Path) -> Option<(&NodePos, bool)> {
        let ix = self.index();
        let mut cur = 0u32;
        if ix.pos.is_empty() {
            return None;
        }
        for seg in &path.0 {
            let step = match seg {
                Seg::Key(k) => ix.keys.get(k.as_str()).map(|k| Step::Key(*k)),
                Seg::Index(i) => u32::try_from(*i).ok().map(Step::Index),
            };
            match step.and_then(|s| ix.children.get(&(cur, s))) {
                Some(next) => cur = *next,
                None => return Some((&ix.pos[cur as usize], false)),
            }
        }
        Some((&ix.pos[cur as usize], true))
    }

    /// Where `path` stands when `route` sends it to another document: the span `at` finds
    /// there, marked as reached through it. None for a path of this document's own.
    fn routed(&self, path: &Path, at: impl FnOnce(&Source, &Path) -> Span) -> Option<Span> {
        let (src, real, via, file) = self.route(path)?;
        Some(Span {
            via,
            file,
            ..at(src, &real)
        })
    }

    /// The span of the value at `path`, or of the nearest ancestor that has one.
    pub fn value_span(&self, path: &Path) -> Span {
        if let Some(span) = self.routed(path, |src, real| src.value_span(real)) {
            return span;
        }
        match self.find(path) {
            Some((n, _)) => {
                let (s, e) = n.value();
                self.span(s, e)
            }
            None => self.span(0, self.line_end(0)),
        }
    }

    /// The span of the key at `path` (the value's for sequence items), or of the nearest ancestor.
    pub fn key_span(&self, path: &Path) -> Span {
        if let Some(span) = self.routed(path, |src, real| src.key_span(real)) {
            return span;
        }
        match self.find(path) {
            Some((n, true)) => {
                let (s, e) = n.key().unwrap_or(n.value());
                self.span(s, e)
            }
            Some((n, false)) => {
                let (s, e) = n.value();
                self.span(s, e)
            }
            None => self.span(0, self.line_end(0)),
        }
    }

    /// The span of `needle` inside the scalar at `path` (e.g. one `${…}` of a longer string).
    pub fn span_within(&self, path: &Path, needle: &str) -> Span {
        if let Some(span) = self.routed(path, |src, real| src.span_within(real, needle)) {
            return span;
        }
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
