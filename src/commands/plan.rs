//! `xpart plan`: the change set from live state (or, `--against`, from another plan file with
//! no credentials), rendered as text, Markdown or JSON.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{load, load_tuned, on_interrupt, run_error, runtime, setup, Common, PlanFormat};
use crate::changes::{Action, AttrChange, Change, ChangeSet};
use crate::engine::run::{self, Engine, RunError};
use crate::engine::walk::Cancel;
use crate::plan::Plan;
use crate::view;

pub(super) fn print(plan: &ChangeSet, format: PlanFormat) {
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
