//! `xpart unlock`: break the plan's local lock and its lease when their holder is gone (or, with
//! `--force`, alive).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{connected, fail, load, state_dir, Common};
use crate::engine::run::Engine;
use crate::lock::{Lock, Unlocked};
use crate::plan::Plan;

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
        Some(s) if !force && !crate::engine::lease::dead_here(&s.record.holder) => fail(format!(
            "plan `{plan}` is leased to {}, renewed {}s ago; nothing was broken. Wait for it to \
             finish, or break the lease with `{} --force` (a run still writing stops at its next \
             renewal)",
            s.record.holder,
            s.renewed_ago.as_secs(),
            c.command_line("unlock")
        )),
        // Broken by force, or at once when its holder is proven gone from this machine (as
        // apply would take it over).
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
