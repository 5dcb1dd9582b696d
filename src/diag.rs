//! Findings about a plan (what, where, how to fix) and their text and JSON renderings.

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

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
    /// The source line holds a secret: renderings give its position but never print it.
    #[serde(skip)]
    pub conceal_source: bool,
}

impl Finding {
    pub fn error(code: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: String::new(),
            span: Span::default(),
            hint: None,
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
        self.hint = Some(hint.into());
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

/// Render findings as rustc-style text: `error[XP020]: …`, `┌─ file:line:col`, the line, a caret.
pub fn render_text(
    out: &mut dyn termcolor::WriteColor,
    file: &str,
    source: &str,
    findings: &[Finding],
) -> std::io::Result<()> {
    let mut files = SimpleFiles::new();
    let id = files.add(file, source);
    let config = term::Config::default();
    for f in findings {
        let d = match f.severity {
            Severity::Error => Diagnostic::error(),
            Severity::Warning => Diagnostic::warning(),
        };
        let end = f
            .span
            .end
            .max(f.span.start + 1)
            .min(source.len().max(f.span.start));
        let mut d = d.with_code(f.code).with_message(&f.message);
        let mut notes = vec![];
        if f.conceal_source {
            notes.push(format!(
                "at {file}:{}:{} (the line is not shown: it holds a secret)",
                f.span.line, f.span.column
            ));
        } else {
            d = d.with_labels(vec![Label::primary(id, f.span.start..end)]);
        }
        if let Some(h) = &f.hint {
            notes.push(format!("help: {h}"));
        }
        d = d.with_notes(notes);
        term::emit(out, &config, &files, &d).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// The same, into a string without colour (for tests and non-terminal output).
pub fn render_plain(file: &str, source: &str, findings: &[Finding]) -> String {
    let mut buf = termcolor::NoColor::new(Vec::new());
    render_text(&mut buf, file, source, findings).expect("writing to memory");
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
