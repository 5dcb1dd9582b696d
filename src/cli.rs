//! Command-line surface: argument definitions and the dispatch from subcommand to library call.
//!
//! Exit codes: 0 success (and "no changes"), 1 any error, usage errors included, 2 only from
//! `plan --detailed-exitcode` when there are changes. clap's own usage errors exit 2, which
//! `--detailed-exitcode` would read as "changes present": `main` maps them to 1.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{Format, PlanFormat};
use crate::plan::LoadOptions;

const EXIT_CODES: &str = "\
Exit codes:
  0  success; for `plan`, also \"no changes\"
  1  any error: a plan finding, a refused or failed change, a usage error
  2  changes present (only `plan --detailed-exitcode`)";

/// Provision cross-partition access between AWS commercial (aws) and AWS China (aws-cn)
/// from one declarative YAML plan.
#[derive(Debug, Parser)]
#[command(name = "xpart", version, about, long_about = None, after_help = EXIT_CODES)]
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
    #[command(after_help = EXIT_CODES)]
    Plan {
        #[command(flatten)]
        target: Target,
        /// Show same-named resources without this plan's tags as taken over (as `apply --adopt`).
        #[arg(long)]
        adopt: bool,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
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
        target: Target,
        #[command(flatten)]
        write: WriteArgs,
        /// Take over same-named resources that lack this plan's ownership tags.
        #[arg(long)]
        adopt: bool,
    },
    /// Delete everything the plan owns (resources carrying its ownership tags), dependents first.
    Destroy {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        write: WriteArgs,
        /// Delete secrets at once, without the plan's recovery window (for test teardown).
        #[arg(long)]
        force_delete_secrets: bool,
    },
    /// Prove the chain the plan built: CreateSession with its client certificate, the role's
    /// identity, its secrets (length and hash only), and that another CA is refused.
    Verify {
        #[command(flatten)]
        target: Target,
    },
    /// What stands between this machine and each partition of the plan, and in the bridge's
    /// way: endpoints (DNS, TCP, TLS, answer), proxy, clock skew, identity, latency; then each
    /// Roles Anywhere chain as it is live. Exit 0 only when every check passes.
    Doctor {
        /// The plan file (none with --workload).
        #[arg(required_unless_present = "workload")]
        plan: Option<PathBuf>,
        #[command(flatten)]
        reach: Reach,
        /// Check from the workload instead, from what the bootstrap left there: the helper,
        /// the certificate and key files, the other partition's Roles Anywhere endpoint, the
        /// instance role's access to the key secret, one real CreateSession.
        #[arg(long, conflicts_with = "plan")]
        workload: bool,
        /// With --workload: the AWS config file to read [default: AWS_CONFIG_FILE, else
        /// ~/.aws/config].
        #[arg(long, value_name = "PATH", requires = "workload")]
        aws_config: Option<PathBuf>,
        /// With --workload: only this profile of it [default: every profile that runs a Roles
        /// Anywhere helper].
        #[arg(long, value_name = "NAME", requires = "workload")]
        aws_profile: Option<String>,
        /// With --workload: the directory the bootstrap's paths are under (as its ROOT).
        #[arg(long, value_name = "DIR", requires = "workload", hide = true)]
        root: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The whole run's time budget, in seconds: it never takes longer.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(5..=3600))]
        budget: u64,
    },
    /// Break the plan's lock: refused while the run holding it is alive, unless --force.
    Unlock {
        /// The plan file whose lock to break.
        plan: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
        /// The state directory the locked run used (its --state-dir; default `.xpart`).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Break the lock even though its holder is alive (it may still be writing).
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of plan files (for editor completion).
    Schema {
        /// Print the schema of `xpart plan --format json` instead.
        #[arg(long)]
        output: bool,
    },
    /// Print a shell completion script: `xpart completions bash > /etc/bash_completion.d/xpart`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print IAM Roles Anywhere credentials for the AWS SDKs' `credential_process`
    /// (a drop-in for `aws_signing_helper credential-process`).
    CredentialProcess(Box<crate::credential_process::CredentialProcessCommand>),
}

#[derive(Debug, clap::Args)]
struct VarArgs {
    /// Set a plan variable (repeatable); XPART_VAR_<name> works too. The value is literal
    /// text: `${…}` in it is not a reference.
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

/// What every command working on live state takes: the plan, its inputs, where to reach AWS.
#[derive(Debug, clap::Args)]
struct Target {
    /// The plan file.
    plan: PathBuf,
    #[command(flatten)]
    reach: Reach,
}

/// How a command working on a plan reaches its partitions: the plan's inputs, profiles, state
/// directory and tuning.
#[derive(Debug, clap::Args)]
struct Reach {
    #[command(flatten)]
    vars: VarArgs,
    /// Use this AWS profile for a partition instead of the plan's (repeatable).
    #[arg(long = "profile", value_name = "PARTITION=PROFILE", value_parser = parse_var)]
    profiles: Vec<(String, String)>,
    /// Where local state lives (PKI files, the lock); default `.xpart` in the current directory.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Override a partition's retry or timeout setting (repeatable), e.g. `china.max_attempts=16`,
    /// `china.operation_ms=600000`; settings as in the plan's `retry:`, `timeouts:`, `concurrency`.
    #[arg(long, value_name = "PARTITION.SETTING=N", value_parser = parse_var)]
    tune: Vec<(String, String)>,
    /// Log every API call attempt, retries and waits too.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// What the commands that write take besides the target.
#[derive(Debug, clap::Args)]
struct WriteArgs {
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Resources worked on at once per partition, unless the plan sets `concurrency`.
    #[arg(long, default_value_t = crate::engine::walk::DEFAULT_LIMIT)]
    concurrency: usize,
    /// Delete resources this plan owns but no longer declares even when they outnumber the
    /// ones it declares (without it, such a run is refused: see "Plan identity" in the README).
    #[arg(long)]
    allow_prune: bool,
}

impl Target {
    fn common(&self, command: &'static str) -> crate::commands::Common {
        crate::commands::Common {
            command,
            plan_file: self.plan.clone(),
            cli_vars: self.reach.vars.vars.clone(),
            vars: self.reach.vars.options(),
            profiles: self.reach.profiles.iter().cloned().collect(),
            state_dir: self.reach.state_dir.clone(),
            choices: crate::engine::run::Choices {
                verbose: self.reach.verbose,
                ..Default::default()
            },
            tune: self.reach.tune.clone(),
            ..Default::default()
        }
    }
}

impl WriteArgs {
    /// `apply` or `destroy` (`mode`, named `command`) of `target` with these flags, and what
    /// `set` adds of the command's own.
    fn run(
        &self,
        target: &Target,
        command: &'static str,
        mode: crate::commands::Mode,
        set: impl FnOnce(&mut crate::commands::Common),
    ) -> ExitCode {
        let mut c = target.common(command);
        c.choices.concurrency = self.concurrency;
        c.choices.allow_prune = self.allow_prune;
        set(&mut c);
        crate::commands::apply(&c, self.yes, mode)
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and succeed; every other parse failure is a usage
            // error, exit 1 like any other error (2 means "changes present").
            let _ = e.print();
            return if e.exit_code() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match cli.command {
        Command::Lint {
            plans,
            vars,
            format,
        } => crate::commands::lint::run_lint(&plans, &vars.options(), format),
        Command::CredentialProcess(c) => crate::credential_process::run_command(&c),
        Command::Plan {
            target,
            adopt,
            format,
            detailed_exitcode,
            offline: _,
            against,
        } => {
            let mut c = target.common("plan");
            c.choices.adopt = adopt;
            crate::commands::plan(&c, format, detailed_exitcode, against.as_deref())
        }
        Command::Apply {
            target,
            write,
            adopt,
        } => write.run(&target, "apply", crate::commands::Mode::Apply, |c| {
            c.choices.adopt = adopt
        }),
        Command::Destroy {
            target,
            write,
            force_delete_secrets,
        } => write.run(&target, "destroy", crate::commands::Mode::Destroy, |c| {
            c.force_delete_secrets = force_delete_secrets
        }),
        Command::Verify { target } => crate::commands::verify::run(&target.common("verify")),
        Command::Doctor {
            plan,
            reach,
            workload,
            aws_config,
            aws_profile,
            root,
            format,
            budget,
        } => {
            let budget = std::time::Duration::from_secs(budget);
            match (plan, workload) {
                (Some(plan), false) => {
                    let target = Target { plan, reach };
                    crate::commands::doctor::run(&target.common("doctor"), format, budget)
                }
                _ => crate::commands::doctor::run_workload(
                    &aws_config.unwrap_or_else(crate::commands::doctor::default_config),
                    aws_profile.as_deref(),
                    &root.unwrap_or_else(|| PathBuf::from("/")),
                    format,
                    budget,
                ),
            }
        }
        Command::Unlock {
            plan,
            vars,
            state_dir,
            force,
        } => crate::commands::unlock(
            &crate::commands::Common {
                command: "unlock",
                plan_file: plan,
                cli_vars: vars.vars.clone(),
                vars: vars.options(),
                state_dir,
                ..Default::default()
            },
            force,
        ),
        Command::Schema { output } => crate::commands::schema::run(output),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "xpart", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}
