//! The engine's subcommands: `plan`, `apply`, `destroy`, `unlock`. Each loads and checks the
//! plan, connects, and hands the engine's plan and events to the views.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::changes::{Action, AttrChange, Change, ChangeSet};
use crate::diag::{self, Finding};
use crate::engine::lease::Lease;
use crate::engine::resource::Options;
use crate::engine::run::{self, Choices, Engine, Planned, RunError, Setup};
use crate::engine::walk::Cancel;
use crate::lint;
use crate::lock::{Lock, Unlocked};
use crate::plan::{LoadOptions, Plan};
use crate::view;

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
            shell_quote(&self.plan_file.display().to_string()),
        ];
        for (k, v) in &self.cli_vars {
            words.push(format!("--var {}", shell_quote(&format!("{k}={v}"))));
        }
        if command != "unlock" && command != "lint" {
            for (k, v) in &self.profiles {
                words.push(format!("--profile {}", shell_quote(&format!("{k}={v}"))));
            }
        }
        if command != "lint" {
            if let Some(d) = &self.state_dir {
                words.push(format!(
                    "--state-dir {}",
                    shell_quote(&d.display().to_string())
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

/// A word as a POSIX shell reads it back: as is when it holds only safe characters, else in
/// single quotes.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What `apply` does: converge, or delete everything owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let (spec, findings) = lint::lint_loaded(&name, &text, vars, &base);
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

fn print(plan: &ChangeSet, format: PlanFormat) {
    let out = match format {
        PlanFormat::Text => view::text(
            plan,
            view::Style {
                color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            },
        ),
        PlanFormat::Markdown => view::markdown(plan),
        PlanFormat::Json => view::json(plan) + "\n",
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
}

fn run_error(e: RunError) -> ExitCode {
    fail(e)
}

/// `xpart plan`
pub fn plan(
    c: &Common,
    format: PlanFormat,
    detailed: bool,
    offline_against: Option<&Path>,
) -> ExitCode {
    let spec = match load_tuned(c) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let plan = if let Some(old) = offline_against {
        let old_line = Common {
            plan_file: old.to_path_buf(),
            ..c.clone()
        }
        .lint_line();
        let old_spec = match load(old, &c.vars, &old_line) {
            Ok(s) => s,
            Err(code) => return code,
        };
        offline(&old_spec, &spec)
    } else {
        let rt = runtime();
        let s = match setup(c, &spec) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let r = rt.block_on(async {
            let engine = Engine::connect(spec, s).await?;
            let cancel = Cancel::new();
            on_interrupt(cancel.clone());
            let planned = engine.plan(&cancel).await?;
            let guard = planned.prune_guard(engine.spec(), false);
            Ok::<_, RunError>((planned, guard))
        });
        match r {
            Ok((p, guard)) => {
                for u in &p.unowned {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: {u}; apply refuses it unless --adopt"
                    );
                }
                if let Some(guard) = guard {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: {guard}; apply refuses this unless --allow-prune"
                    );
                }
                p.plan
            }
            Err(e) => return run_error(e),
        }
    };
    print(&plan, format);
    if detailed && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
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

/// `xpart apply` and `xpart destroy`.
pub fn apply(c: &Common, yes: bool, mode: Mode) -> ExitCode {
    let spec = match load_tuned(c) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let destroy = mode == Mode::Destroy;
    let command = if destroy { "destroy" } else { "apply" };
    let dir = match state_dir(c, &spec) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let _lock = match Lock::acquire(&dir, &spec.name, &c.command_line("unlock"), command) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    connected(c, spec, |engine, cancel| async move {
        let lease = match take_lease(&engine, c, command).await {
            Ok(l) => l,
            Err(code) => return code,
        };
        let keeping = lease.as_ref().map(|l| l.keep(cancel.clone(), note_sink()));
        let code = apply_held(c, &engine, &cancel, yes, mode).await;
        if let Some(k) = keeping {
            k.abort();
        }
        if let Some(l) = lease {
            if let Err(e) = l.end().await {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: the lease was not given up: {e}"
                );
            }
        }
        code
    })
}

/// The lease's messages, as notes on stderr.
fn note_sink() -> std::sync::Arc<dyn Fn(String) + Send + Sync> {
    std::sync::Arc::new(|m: String| {
        let _ = writeln!(std::io::stderr(), "note: {m}");
    })
}

/// Take the plan's lease for `command` (see `engine::lease`), or say who holds it. A plan with
/// no partition has none. `XPART_LEASE_TTL_SECONDS` shortens its life below the plan's minimum:
/// for tests that kill a holder.
async fn take_lease(
    engine: &Engine,
    c: &Common,
    command: &str,
) -> Result<Option<std::sync::Arc<Lease>>, ExitCode> {
    let ttl = std::env::var("XPART_LEASE_TTL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(std::time::Duration::from_secs);
    let note = note_sink();
    let unlock = c.command_line("unlock");
    match engine.take_lease(command, ttl, &unlock, &*note).await {
        Ok(l) => Ok(l.map(std::sync::Arc::new)),
        Err(e) => Err(run_error(e)),
    }
}

/// What `apply` and `destroy` do once they hold the plan's lease: plan, show, confirm, run.
async fn apply_held(
    c: &Common,
    engine: &Engine,
    cancel: &Cancel,
    yes: bool,
    mode: Mode,
) -> ExitCode {
    let destroy = mode == Mode::Destroy;
    let command = if destroy { "destroy" } else { "apply" };
    let planned = if destroy {
        engine.plan_destroy(cancel).await
    } else {
        engine.plan(cancel).await
    };
    let planned: Planned = match planned {
        Ok(p) => p,
        Err(e) => return run_error(e),
    };
    if destroy && !planned.plan.has_changes() {
        let _ = writeln!(
            std::io::stdout(),
            "Nothing to destroy: no resource carries the ownership tags of plan `{}`.",
            planned.plan.plan
        );
    } else {
        print(&planned.plan, PlanFormat::Text);
    }
    for u in &planned.unowned {
        let _ = writeln!(std::io::stderr(), "note: {u}");
    }
    if let Some(guard) = planned.prune_guard(engine.spec(), destroy) {
        if !c.choices.allow_prune {
            return fail(format!(
                "{guard}. To delete them anyway: `{} --allow-prune`",
                c.command_line(command)
            ));
        }
    }
    if !destroy && !planned.unowned.is_empty() && !c.choices.adopt {
        return fail(format!(
            "refusing to take over resources this plan does not own; nothing was changed. \
             Rename them in the plan, delete them, or pass --adopt to take them over:\n  {}",
            planned.unowned.join("\n  ")
        ));
    }
    if !planned.plan.has_changes() {
        return ExitCode::SUCCESS;
    }
    if !yes {
        let q = if destroy {
            "Destroy these resources?"
        } else {
            "Apply these changes?"
        };
        match confirm(q) {
            Ok(true) => {}
            Ok(false) => return fail("cancelled; nothing was changed"),
            Err(code) => return code,
        }
    }
    let report = if destroy {
        engine.destroy(&planned, cancel).await
    } else {
        engine.apply(&planned, cancel).await
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return run_error(e),
    };
    let (summary, causes) = run::summary(&report);
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{command}: {summary}");
    if report.is_success() {
        return ExitCode::SUCCESS;
    }
    for cause in causes {
        let _ = writeln!(err, "error: {cause}");
    }
    if cancel.is_cancelled() {
        let _ = writeln!(
            err,
            "interrupted: run `{}` again to finish",
            c.command_line(command)
        );
    }
    ExitCode::FAILURE
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

/// `xpart unlock`: break a lock whose holder is gone; one whose holder is alive only with
/// `force`.
pub fn unlock(c: &Common, force: bool) -> ExitCode {
    let spec = match load(&c.plan_file, &c.vars, &c.lint_line()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let dir = match state_dir(c, &spec) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let local = unlock_local(c, &spec, &dir, force);
    if local != ExitCode::SUCCESS {
        return local;
    }
    // And the lease in the cloud, which runs on other machines hold.
    connected(c, spec, |engine, _| async move {
        unlock_lease(&engine, c, force).await
    })
}

/// Show the plan's lease, and with `force` break it whoever holds it.
async fn unlock_lease(engine: &Engine, c: &Common, force: bool) -> ExitCode {
    let Some(keeper) = engine.lease_keeper() else {
        return ExitCode::SUCCESS;
    };
    let plan = &engine.spec().name;
    let say = |msg: String| {
        let _ = writeln!(std::io::stderr(), "{msg}");
    };
    let seen = match keeper.read().await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match seen {
        None => {
            say(format!(
                "no run holds the lease of plan `{plan}` ({})",
                keeper.name()
            ));
            ExitCode::SUCCESS
        }
        Some(s) if s.record.released => {
            say(format!(
                "the lease of plan `{plan}` is free ({})",
                keeper.name()
            ));
            ExitCode::SUCCESS
        }
        Some(s) if !force => fail(format!(
            "plan `{plan}` is leased to {}, renewed {}s ago; nothing was broken. Wait for it to \
             finish, or break the lease with `{} --force` (a run still writing stops at its next \
             renewal)",
            s.record.holder,
            s.renewed_ago.as_secs(),
            c.command_line("unlock")
        )),
        Some(_) => match keeper.force_release().await {
            Ok(Some(r)) => {
                say(format!(
                    "broke the lease of plan `{plan}` held by {}",
                    r.holder
                ));
                ExitCode::SUCCESS
            }
            Ok(None) => {
                say(format!("the lease of plan `{plan}` was free already"));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

/// The local lock's part of `unlock`.
fn unlock_local(c: &Common, spec: &Plan, dir: &Path, force: bool) -> ExitCode {
    let say = |msg: String| {
        let _ = writeln!(std::io::stderr(), "{msg}");
    };
    match Lock::remove(dir, force) {
        Ok(Unlocked::Removed { holder: None }) => {
            say(format!("removed the stale lock of plan `{}`", spec.name));
            ExitCode::SUCCESS
        }
        Ok(Unlocked::Removed { holder: Some(h) }) => {
            say(format!(
                "broke the lock of plan `{}` held by {h}: that run may still be writing",
                spec.name
            ));
            ExitCode::SUCCESS
        }
        Ok(Unlocked::NotLocked) => {
            say(format!(
                "plan `{}` was not locked (no lock in {})",
                spec.name,
                dir.display()
            ));
            ExitCode::SUCCESS
        }
        Ok(Unlocked::Alive { holder }) => fail(format!(
            "plan `{}` is locked by a run that is still alive ({holder}); nothing was removed. \
             Wait for it to finish, stop it, or break the lock anyway with `{} --force`",
            spec.name,
            c.command_line("unlock")
        )),
        Err(e) => fail(format!("cannot remove the lock: {e}")),
    }
}

/// The diff between two plan files with no credentials: resources added, removed, or with
/// changed properties. Whether a change replaces the resource needs live state, so offline
/// changes show as `~` with the properties that differ.
pub fn offline(old: &Plan, new: &Plan) -> ChangeSet {
    let mut changes = vec![];
    let props = |s: &Plan, id: &str| -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(&s.resources[id].properties) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    };
    let sensitive = |k: &str, type_name: &str| {
        crate::plan::types::type_info(type_name).is_some_and(|t| t.sensitive.contains(&k))
    };
    let mut ids: Vec<&String> = new.order.iter().collect();
    ids.extend(
        old.order
            .iter()
            .filter(|id| !new.resources.contains_key(*id)),
    );
    for id in ids {
        let (o, n) = (old.resources.get(id), new.resources.get(id));
        let r = n.or(o).expect("id from one of the two");
        let (before, after) = (
            o.map(|_| props(old, id)).unwrap_or_default(),
            n.map(|_| props(new, id)).unwrap_or_default(),
        );
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        // Each property's change, and whether it differs: unless it is the same, or a document
        // that means the same (statements reordered, a string for a one-element list).
        let rows: Vec<(bool, AttrChange)> = keys
            .into_iter()
            .map(|k| {
                let (b, a) = (before.get(k), after.get(k));
                let change = AttrChange::new(k, b, a, sensitive(k, &r.type_name), false);
                let differs = match (b, a) {
                    // A sensitive document carries no diff: compare it here.
                    (Some(x), Some(y)) if crate::docdiff::applies(x, y) => match change.sensitive {
                        true => !crate::docdiff::changes(x, y).is_empty(),
                        false => !change.diff.is_empty(),
                    },
                    _ => b != a,
                };
                (differs, change)
            })
            .collect();
        let action = match (o, n) {
            (None, Some(_)) => Action::Create,
            (Some(_), None) => Action::Delete,
            (Some(a), Some(b)) if a.type_name != b.type_name || a.partition != b.partition => {
                Action::Replace
            }
            _ if !rows.iter().any(|(differs, _)| *differs) => Action::NoOp,
            _ => Action::Update,
        };
        let attrs = rows
            .into_iter()
            .filter(|(differs, _)| action != Action::Update || *differs)
            .filter(|_| action != Action::NoOp)
            .map(|(_, change)| change)
            .collect();
        changes.push(Change {
            id: id.clone(),
            type_name: r.type_name.clone(),
            partition: r.partition.clone(),
            action,
            attrs,
            reason: Some("offline: compared with the old plan file, not with live state".into())
                .filter(|_| action != Action::NoOp),
        });
    }
    run::plan_for(new, changes, |_| None)
}
