//! Findings about a plan (what, where, how to fix) and their text and JSON renderings.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

/// The longest message or hint a finding carries: they quote the plan (a key, a name), and a
/// plan can hold a line of megabytes.
pub const MAX_MESSAGE: usize = 400;
/// Bytes of a source line shown on either side of a finding's span.
const CONTEXT: usize = 80;
/// The longest span underlined.
const MAX_LABEL: usize = 160;
/// Findings rendered as text per file; the rest are counted (JSON has them all).
pub const MAX_RENDERED: usize = 100;

/// `" (U+0441 `с` at character 1 is not ASCII)"` for the first non-ASCII character of `s`,
/// or "": a look-alike letter is invisible in a message that only quotes the text.
pub fn non_ascii(s: &str) -> String {
    match s.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
        Some((i, c)) => format!(
            " (U+{:04X} `{c}` at character {} is not ASCII)",
            c as u32,
            i + 1
        ),
        None => String::new(),
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a plan file: byte range for the caret, 1-based line and column for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    #[serde(skip)]
    pub start: usize,
    #[serde(skip)]
    pub end: usize,
    pub line: usize,
    pub column: usize,
    /// For text expanded from a block: which instance it was expanded for (1-based, an index
    /// into the plan source's instances; 0 for text of the plan itself). The loader turns it
    /// into the finding's `expanded_for` (`Source::annotate`).
    #[serde(skip)]
    pub via: u32,
    /// For text of a block in a file of its own: that file (1-based, an index into the plan
    /// source's block files; 0 for the plan itself). `Source::annotate` names it.
    #[serde(skip)]
    pub file: u32,
}

/// The block instance a finding's text was expanded for, and where the plan asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpandedFor {
    /// The instance's name: `workloads.orders` (an entry and a `for_each` key), or the entry.
    pub instance: String,
    /// Where the plan instantiates it: the `for_each` key, or the entry.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// How many other instances have the same finding (reported once, for the first).
    #[serde(skip_serializing_if = "is_zero")]
    pub others: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl std::fmt::Display for ExpandedFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (i, file, l, c) = (&self.instance, &self.file, self.line, self.column);
        write!(f, "in instance {i} ({file}:{l}:{c})")?;
        match self.others {
            0 => Ok(()),
            1 => write!(f, " and 1 other instance"),
            n => write!(f, " and {n} other instances"),
        }
    }
}

/// One problem found in a plan. `code` is stable across releases; `hint` is one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub file: String,
    #[serde(flatten)]
    pub span: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Set when the finding is about a resource expanded from a block: the instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded_for: Option<ExpandedFor>,
    /// The source line holds a secret: renderings give its position but never print it.
    #[serde(skip)]
    pub conceal_source: bool,
}

impl Finding {
    pub fn error(code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            code,
            message: excerpt(&message.into(), MAX_MESSAGE),
            file: String::new(),
            span: Span::default(),
            hint: None,
            expanded_for: None,
            conceal_source: false,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Finding {
        self.span = span;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(excerpt(&hint.into(), MAX_MESSAGE));
        self
    }

    pub fn conceal_source(mut self) -> Finding {
        self.conceal_source = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The part of a source line a finding points at: up to `CONTEXT` bytes either side of its
/// span, so a plan written on one enormous line still gives a short message. codespan sees only
/// this window; line and column come from the finding (see `Excerpt`).
struct Excerpt<'a> {
    name: &'a str,
    text: String,
    /// The real line number, and the real column of the window's first character after a
    /// leading `…`.
    line: usize,
    first_col: usize,
    /// Bytes of the leading `…` (0 when the window starts the line).
    lead: usize,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'a> Excerpt<'a> {
    /// The window around `f`'s span and the span's range inside it.
    fn of(name: &'a str, source: &str, f: &Finding) -> (Excerpt<'a>, Range<usize>) {
        let start = floor_boundary(source, f.span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let end = f.span.end.max(start + 1).min(line_end);
        let end = floor_boundary(source, end.min(start + MAX_LABEL)).max(start);
        let win_start = floor_boundary(source, start.saturating_sub(CONTEXT).max(line_start));
        let win_end = floor_boundary(source, (end + CONTEXT).min(line_end));
        let lead = if win_start > line_start { "…" } else { "" };
        let tail = if win_end < line_end { "…" } else { "" };
        let text = format!("{lead}{}{tail}", &source[win_start..win_end]);
        let first_col = f
            .span
            .column
            .saturating_sub(source[win_start..start].chars().count())
            .max(1);
        let label = lead.len() + (start - win_start)..lead.len() + (end - win_start);
        (
            Excerpt {
                name,
                text,
                line: f.span.line.max(1),
                first_col,
                lead: lead.len(),
            },
            label,
        )
    }
}

impl<'a> Files<'a> for Excerpt<'_> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, _: ()) -> Result<&'a str, FilesError> {
        Ok(self.name)
    }
    fn source(&'a self, _: ()) -> Result<&'a str, FilesError> {
        Ok(&self.text)
    }
    fn line_index(&'a self, _: (), _: usize) -> Result<usize, FilesError> {
        Ok(0)
    }
    fn line_number(&'a self, _: (), _: usize) -> Result<usize, FilesError> {
        Ok(self.line)
    }
    fn column_number(&'a self, _: (), _: usize, byte: usize) -> Result<usize, FilesError> {
        let from = self.lead.min(byte);
        Ok(self.first_col + self.text[from..byte.min(self.text.len())].chars().count())
    }
    fn line_range(&'a self, _: (), _: usize) -> Result<Range<usize>, FilesError> {
        Ok(0..self.text.len())
    }
}

/// Render findings as rustc-style text: `error[XP020]: …`, `┌─ file:line:col`, the line, a caret.
/// At most `MAX_RENDERED` of them; a line is shown as an excerpt around the span.
pub fn render_text(
    out: &mut dyn termcolor::WriteColor,
    file: &str,
    source: &str,
    findings: &[Finding],
) -> std::io::Result<()> {
    render_files(out, file, source, &|_| None, findings)
}

/// `render_text` for a plan whose findings may be in other files too (its blocks' files):
/// `others` gives such a file's text by the name findings give it.
pub fn render_files<'t>(
    out: &mut dyn termcolor::WriteColor,
    file: &'t str,
    source: &'t str,
    others: &dyn Fn(&str) -> Option<&'t str>,
    findings: &[Finding],
) -> std::io::Result<()> {
    let config = term::Config::default();
    for f in findings.iter().take(MAX_RENDERED) {
        let d = match f.severity {
            Severity::Error => Diagnostic::error(),
            Severity::Warning => Diagnostic::warning(),
        };
        let (name, text) = match f.file.is_empty() || f.file == file {
            true => (file, Some(source)),
            false => (f.file.as_str(), others(&f.file)),
        };
        let (excerpt, label) = Excerpt::of(name, text.unwrap_or_default(), f);
        let mut d = d.with_code(f.code).with_message(&f.message);
        let mut notes = vec![];
        let (line, column) = (f.span.line, f.span.column);
        if f.conceal_source {
            notes.push(format!(
                "at {name}:{line}:{column} (the line is not shown: it holds a secret)"
            ));
        } else if text.is_none() {
            notes.push(format!("at {name}:{line}:{column}"));
        } else {
            d = d.with_labels(vec![Label::primary((), label)]);
        }
        if let Some(e) = &f.expanded_for {
            notes.push(format!("note: {e}"));
        }
        if let Some(h) = &f.hint {
            notes.push(format!("help: {h}"));
        }
        d = d.with_notes(notes);
        term::emit(out, &config, &excerpt, &d).map_err(std::io::Error::other)?;
    }
    if findings.len() > MAX_RENDERED {
        writeln!(
            out,
            "… and {} more finding(s) not shown (`--format json` lists them all)",
            findings.len() - MAX_RENDERED
        )?;
    }
    Ok(())
}

/// The same, into a string without colour (for tests and non-terminal output).
pub fn render_plain(file: &str, source: &str, findings: &[Finding]) -> String {
    render_plain_files(file, source, &|_| None, findings)
}

/// `render_plain` with the texts of other files findings may be in (see `render_files`).
pub fn render_plain_files<'t>(
    file: &'t str,
    source: &'t str,
    others: &dyn Fn(&str) -> Option<&'t str>,
    findings: &[Finding],
) -> String {
    let mut buf = termcolor::NoColor::new(Vec::new());
    render_files(&mut buf, file, source, others, findings).expect("writing to memory");
    let mut s = String::from_utf8(buf.into_inner()).expect("utf-8");
    let (e, w) = counts(findings);
    s.push_str(&summary(file, e, w));
    s.push('\n');
    s
}

pub fn counts(findings: &[Finding]) -> (usize, usize) {
    let e = findings.iter().filter(|f| f.is_error()).count();
    (e, findings.len() - e)
}

pub fn summary(file: &str, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    format!(
        "{file}: {}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
