//! Command-line surface: argument definitions and the dispatch from subcommand to library call.
//!
//! Exit codes: 0 success, 1 a finding or failure (the message says what and where),
//! 2 a usage error (from clap).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};

use crate::diag::{self, Finding};
use crate::lint;
use crate::spec::LoadOptions;

/// Provision cross-partition access between AWS commercial (aws) and AWS China (aws-cn)
/// from one declarative YAML plan.
#[derive(Debug, Parser)]
#[command(name = "xpart", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check plans statically: no network, no credentials.
    Lint {
        /// Plan files.
        #[arg(required = true)]
        plans: Vec<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of plan files (for editor completion).
    Schema,
    /// Print IAM Roles Anywhere credentials for the AWS SDKs' `credential_process`
    /// (a drop-in for `aws_signing_helper credential-process`).
    CredentialProcess(crate::credential_process::CredentialProcessArgs),
}

#[derive(Debug, clap::Args)]
struct VarArgs {
    /// Set a plan variable (repeatable); XPART_VAR_<name> works too.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

impl VarArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions::from_env(self.vars.iter().cloned().collect::<BTreeMap<_, _>>())
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint {
            plans,
            vars,
            format,
        } => run_lint(&plans, &vars.options(), format),
        Command::CredentialProcess(args) => crate::credential_process::run(&args),
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&crate::spec::schema::plan_schema())
                .expect("schema is JSON");
            let _ = writeln!(std::io::stdout(), "{schema}");
            ExitCode::SUCCESS
        }
    }
}

fn run_lint(plans: &[PathBuf], opts: &LoadOptions, format: Format) -> ExitCode {
    let mut reports = vec![];
    for path in plans {
        let name = path.display().to_string();
        let findings = match std::fs::read_to_string(path) {
            Ok(text) => {
                let base = path.parent().map(PathBuf::from).unwrap_or_default();
                let f = lint::lint_text(&name, &text, opts, &base);
                if format == Format::Text {
                    print_text(&name, &text, &f);
                }
                f
            }
            Err(e) => {
                let f = Finding::error("XP000", format!("cannot read {name}: {e}"));
                if format == Format::Text {
                    eprintln!("error[XP000]: cannot read {name}: {e}");
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

fn print_text(name: &str, text: &str, findings: &[Finding]) {
    let color = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    let mut out = StandardStream::stdout(color);
    // A closed pipe (`xpart lint … | head`) is not an error worth a panic.
    let _ = diag::render_text(&mut out, name, text, findings);
    let (e, w) = diag::counts(findings);
    let _ = writeln!(std::io::stdout(), "{}", diag::summary(name, e, w));
}
