//! The subcommands, one module each, over the library: what every engine command shares lives
//! here (loading and checking the plan, the state directory, connecting an engine with a
//! cancel that Ctrl-C sets); `cli` only parses and dispatches.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::diag::{self, Finding};
use crate::engine::resource::Options;
use crate::engine::run::{Choices, Engine, Planned, RunError, Setup};
use crate::engine::walk::Cancel;

use crate::plan::{LoadOptions, Plan};

pub mod apply;
pub mod doctor;
pub mod lint;
pub mod plan;
pub mod schema;
pub mod unlock;
pub mod verify;

pub use apply::apply;
pub use plan::{offline, plan};
pub use unlock::unlock;

/// What every engine command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// The subcommand (`plan`, `apply`, …), for hints that repeat the command line.
    pub command: &'static str,
    pub plan_file: PathBuf,
    /// `--var` flags as given, in order: hints repeat them.
    pub cli_vars: Vec<(String, String)>,
    pub vars: LoadOptions,
    /// `--profile NAME=PROFILE`
    pub profiles: BTreeMap<String, String>,
    pub state_dir: Option<PathBuf>,
    pub choices: Choices,
    pub force_delete_secrets: bool,
    /// `--tune PARTITION.SETTING=VALUE`: retry and timeout settings over the plan's.
    pub tune: Vec<(String, String)>,
}

impl Common {
    /// `xpart <command> <plan> --var … [--profile …] [--state-dir …]`: this run's target, as a
    /// command to paste. Variables from `XPART_VAR_*` stay in the environment, as they were.
    pub fn command_line(&self, command: &str) -> String {
        let mut words = vec![
            "xpart".to_string(),
            command.to_string(),
            crate::shell::quote(&self.plan_file.display().to_string()),
        ];
        for (k, v) in &self.cli_vars {
            words.push(format!(
                "--var {}",
                crate::shell::quote(&format!("{k}={v}"))
            ));
        }
        if command != "unlock" && command != "lint" {
            for (k, v) in &self.profiles {
                words.push(format!(
                    "--profile {}",
                    crate::shell::quote(&format!("{k}={v}"))
                ));
            }
        }
        if command != "lint" {
            if let Some(d) = &self.state_dir {
                words.push(format!(
                    "--state-dir {}",
                    crate::shell::quote(&d.display().to_string())
                ));
            }
        }
        words.join(" ")
    }

    /// `command_line` for `lint`: the plan and its variables.
    pub fn lint_line(&self) -> String {
        self.command_line("lint")
    }
}

/// `--format` of `lint` and `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// What `apply` does: converge, or delete everything owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Destroy,
}

/// `--format` of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {msg}");
    ExitCode::FAILURE
}

/// Read, load and lint a plan; on any error finding, print them and give up. `lint_line` is
/// the command that shows the same findings (`xpart lint <plan> --var …`).
fn load(path: &Path, vars: &LoadOptions, lint_line: &str) -> Result<Plan, ExitCode> {
    let name = path.display().to_string();
    let text = crate::input::read_text("plan file", path, crate::input::MAX_PLAN).map_err(fail)?;
    let base = base_of(path);
    let (spec, findings) = crate::lint::lint_loaded(&name, &text, vars, &base);
    let errors: Vec<Finding> = findings
        .into_iter()
        .filter(|f| f.severity == diag::Severity::Error)
        .collect();
    if !errors.is_empty() || spec.is_none() {
        let others = |file: &str| spec.as_ref().and_then(|s| s.source.text_of(file));
        let _ = write!(
            std::io::stderr(),
            "{}",
            diag::render_plain_files(&name, &text, &others, &errors)
        );
        return Err(fail(format!(
            "{name}: {} error(s); nothing was changed (details above, or run `{lint_line}`)",
            errors.len()
        )));
    }
    Ok(spec.expect("checked above"))
}

/// `load` plus the command line's `--tune` settings.
pub(crate) fn load_tuned(c: &Common) -> Result<Plan, ExitCode> {
    let mut spec = load(&c.plan_file, &c.vars, &c.lint_line())?;
    spec.tune(&c.tune).map_err(fail)?;
    Ok(spec)
}

fn base_of(path: &Path) -> PathBuf {
    path.parent()
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub(crate) fn setup(c: &Common, spec: &Plan) -> Result<Setup, ExitCode> {
    let tty = std::io::stderr().is_terminal();
    Ok(Setup {
        profiles: c.profiles.clone(),
        config_file: None,
        base: base_of(&c.plan_file),
        state_dir: state_dir(c, spec)?,
        options: Options {
            force_delete_secrets: c.force_delete_secrets,
            ..Options::default()
        },
        choices: c.choices.clone(),
        sink: crate::progress::sink(tty, c.choices.verbose),
    })
}

/// The plan's own directory under the state directory: `<--state-dir>/<plan identity>`.
/// Absolute, so that file outputs (certificate and key paths) mean the same to every
/// resource, whatever directory each resolves its own relative paths against.
///
/// The identity is checked by lint to be one plain file name; this checks it again where it
/// becomes a path, so no plan name can ever place a file outside the state directory.
pub(crate) fn state_dir(c: &Common, spec: &Plan) -> Result<PathBuf, ExitCode> {
    let name = &spec.identity.name;
    // One plain component: confined, and no separator that would make it several.
    if !crate::plan::confined(name) || name.contains(['/', '\\']) {
        return Err(fail(format!(
            "plan identity `{}` is not a plain file name, so it cannot name the plan's state \
             directory; nothing was changed",
            crate::diag::excerpt(name, 80)
        )));
    }
    let dir = c
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".xpart"))
        .join(name);
    Ok(match std::env::current_dir() {
        Ok(cwd) if dir.is_relative() => cwd.join(dir),
        _ => dir,
    })
}

/// Ctrl-C once: stop scheduling and let running calls finish; twice: abort.
fn on_interrupt(cancel: Cancel) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
            let _ = writeln!(
                std::io::stderr(),
                "interrupted: no new work starts; waiting for calls in flight (Ctrl-C again to abort)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = writeln!(std::io::stderr(), "aborted");
                std::process::exit(130);
            }
        }
    });
}

fn run_error(e: RunError) -> ExitCode {
    fail(e)
}

/// Ask on the terminal; without one, `--yes` is required.
fn confirm(question: &str) -> Result<bool, ExitCode> {
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            "not on a terminal, so there is nobody to confirm: pass --yes to go ahead",
        ));
    }
    let _ = write!(std::io::stderr(), "{question} Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(line.trim() == "yes")
}

/// The lease's messages, as notes on stderr.
fn note_sink() -> std::sync::Arc<dyn Fn(String) + Send + Sync> {
    std::sync::Arc::new(|m: String| {
        let _ = writeln!(std::io::stderr(), "note: {m}");
    })
}

/// Connect an engine for `spec` on a runtime of its own and run `body` with it and a cancel
/// that Ctrl-C sets.
fn connected<F, Fut>(c: &Common, spec: Plan, body: F) -> ExitCode
where
    F: FnOnce(Engine, Cancel) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let rt = runtime();
    let s = match setup(c, &spec) {
        Ok(s) => s,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let engine = match Engine::connect(spec, s).await {
            Ok(e) => e,
            Err(e) => return run_error(e),
        };
        let cancel = Cancel::new();
        on_interrupt(cancel.clone());
        body(engine, cancel).await
    })
}

/// Load, connect and read live state, then hand the engine to `f` (for `verify`).
pub fn with_engine<F, Fut>(c: &Common, f: F) -> ExitCode
where
    F: FnOnce(Engine, Planned, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let spec = match load_tuned(c) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let scratch = match state_dir(c, &spec) {
        Ok(d) => d.join("verify"),
        Err(code) => return code,
    };
    connected(c, spec, |engine, cancel| async move {
        let planned = match engine.plan(&cancel).await {
            Ok(p) => p,
            Err(e) => return run_error(e),
        };
        if planned.plan.has_changes() {
            let _ = writeln!(
                std::io::stderr(),
                "warning: live state differs from the plan (run `{}`); verifying what exists",
                c.command_line("plan")
            );
        }
        f(engine, planned, scratch).await
    })
}
