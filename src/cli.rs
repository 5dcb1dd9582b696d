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
    /// Show what apply would change, from live state in both partitions (a dry run).
    Plan {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, value_enum, default_value_t = PlanFormatArg::Text)]
        format: PlanFormatArg,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Compare with another plan file instead of live state: no credentials needed.
        #[arg(long, requires = "against")]
        offline: bool,
        /// The old plan file for --offline.
        #[arg(long, value_name = "OLD_PLAN", requires = "offline")]
        against: Option<PathBuf>,
    },
    /// Converge live state in both partitions to the plan.
    Apply {
        #[command(flatten)]
        common: CommonArgs,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Delete everything the plan owns (resources carrying its ownership tags), dependents first.
    Destroy {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete secrets at once, without the plan's recovery window (for test teardown).
        #[arg(long)]
        force_delete_secrets: bool,
    },
    /// Prove the chain the plan built: CreateSession with its client certificate, the role's
    /// identity, its secrets (length and hash only), and that another CA is refused.
    Verify {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove a stale lock left where the kernel could not release it (e.g. NFS).
    Unlock {
        plan: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of plan files (for editor completion).
    Schema {
        /// Print the schema of `xpart plan --format json` instead.
        #[arg(long)]
        output: bool,
    },
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

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// The plan file.
    plan: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
    /// Use this AWS profile for a partition instead of the plan's (repeatable).
    #[arg(long = "profile", value_name = "PARTITION=PROFILE", value_parser = parse_var)]
    profiles: Vec<(String, String)>,
    /// Where local state lives (PKI files, the lock); default `.xpart` in the current directory.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Resources worked on at once per partition, unless the plan sets `concurrency`.
    #[arg(long, default_value_t = crate::engine::walk::DEFAULT_LIMIT)]
    concurrency: usize,
    /// Take over same-named resources that lack this plan's ownership tags.
    #[arg(long)]
    adopt: bool,
    /// Override a partition's retry or timeout setting (repeatable), e.g. `china.max_attempts=12`,
    /// `china.operation_ms=600000`; settings as in the plan's `retry:`, `timeouts:`, `concurrency`.
    #[arg(long, value_name = "PARTITION.SETTING=N", value_parser = parse_var)]
    tune: Vec<(String, String)>,
    /// Log retries and waits too.
    #[arg(long, short = 'v')]
    verbose: bool,
}

impl CommonArgs {
    fn common(&self) -> crate::commands::Common {
        crate::commands::Common {
            plan_file: self.plan.clone(),
            vars: self.vars.options(),
            profiles: self.profiles.iter().cloned().collect(),
            state_dir: self.state_dir.clone(),
            verbose: self.verbose,
            concurrency: self.concurrency,
            adopt: self.adopt,
            force_delete_secrets: false,
            tune: self.tune.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormatArg {
    Text,
    Markdown,
    Json,
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
        Command::Plan {
            common,
            format,
            detailed_exitcode,
            offline: _,
            against,
        } => {
            let format = match format {
                PlanFormatArg::Text => crate::commands::PlanFormat::Text,
                PlanFormatArg::Markdown => crate::commands::PlanFormat::Markdown,
                PlanFormatArg::Json => crate::commands::PlanFormat::Json,
            };
            crate::commands::plan(
                &common.common(),
                format,
                detailed_exitcode,
                against.as_deref(),
            )
        }
        Command::Apply { common, yes } => crate::commands::apply(&common.common(), yes, false),
        Command::Destroy {
            common,
            yes,
            force_delete_secrets,
        } => {
            let mut c = common.common();
            c.force_delete_secrets = force_delete_secrets;
            crate::commands::apply(&c, yes, true)
        }
        Command::Verify { common } => crate::verify::run(&common.common()),
        Command::Unlock {
            plan,
            vars,
            state_dir,
        } => crate::commands::unlock(&crate::commands::Common {
            plan_file: plan,
            vars: vars.options(),
            state_dir,
            ..Default::default()
        }),
        Command::Schema { output } => {
            let doc = if output {
                crate::plan::output_schema()
            } else {
                crate::spec::schema::plan_schema()
            };
            let schema = serde_json::to_string_pretty(&doc).expect("schema is JSON");
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
