//! `xpart lint`: every plan file's findings, as text with the source line and a caret, or as
//! JSON; no credentials, no network.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

use super::Format;
use crate::diag::{self, Finding};
use crate::plan::LoadOptions;

pub fn run_lint(plans: &[PathBuf], opts: &LoadOptions, format: Format) -> ExitCode {
    let mut reports = vec![];
    for path in plans {
        let name = path.display().to_string();
        let findings = match crate::input::read_text("plan file", path, crate::input::MAX_PLAN) {
            Ok(text) => {
                let base = path.parent().map(PathBuf::from).unwrap_or_default();
                let (spec, f) = crate::lint::lint_loaded(&name, &text, opts, &base);
                if format == Format::Text {
                    print_text(&name, &text, spec.as_ref(), &f);
                }
                // Not freed: for a plan of tens of thousands of resources that is a tenth of
                // the run, spent on memory the process returns a moment later anyway.
                std::mem::forget(spec);
                f
            }
            Err(e) => {
                let f = Finding::error("XP000", e.to_string());
                if format == Format::Text {
                    eprintln!("error[XP000]: {e}");
                }
                vec![Finding {
                    file: name.clone(),
                    ..f
                }]
            }
        };
        reports.push((name, findings));
    }
    let errors: usize = reports.iter().map(|(_, f)| diag::counts(f).0).sum();
    let warnings: usize = reports.iter().map(|(_, f)| diag::counts(f).1).sum();
    if format == Format::Json {
        let files: Vec<_> = reports
            .iter()
            .map(|(file, f)| {
                let (e, w) = diag::counts(f);
                serde_json::json!({"file": file, "errors": e, "warnings": w, "findings": f})
            })
            .collect();
        let doc = serde_json::json!({"format_version": 1, "errors": errors, "warnings": warnings, "files": files});
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&doc).expect("findings are JSON")
        );
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_text(name: &str, text: &str, spec: Option<&crate::plan::Plan>, findings: &[Finding]) {
    let color = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    let mut out = StandardStream::stdout(color);
    // A closed pipe (`xpart lint … | head`) is not an error worth a panic.
    // A finding may be in a block's own file: rendered from that file's text.
    let others = |file: &str| spec.and_then(|s| s.source.text_of(file));
    let _ = diag::render_files(&mut out, name, text, &others, findings);
    let (e, w) = diag::counts(findings);
    let _ = writeln!(std::io::stdout(), "{}", diag::summary(name, e, w));
}
