//! `xpart apply` and `xpart destroy`: the local lock, then the plan's lease, then plan, show,
//! confirm and run.

use std::io::Write;
use std::process::ExitCode;

use super::plan::print;
use super::{
    confirm, connected, fail, load_tuned, note_sink, run_error, state_dir, Common, Mode, PlanFormat,
};
use crate::engine::lease::Lease;
use crate::engine::run::{self, Engine, Planned};
use crate::engine::walk::Cancel;
use crate::lock::Lock;

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
