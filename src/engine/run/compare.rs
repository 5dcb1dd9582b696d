//! One resource brought to the plan: the comparison of desired with live, and the calls it
//! makes (create, update, replace, delete).

use super::*;

pub(super) async fn with_type_delete(type_name: &str, live: &Live, cx: &Ctx) -> Result<(), Error> {
    with_type!(type_name, T => T::delete(live, cx).await, _ => Err(Error::other(format!("unknown type {type_name}"))))
}

/// Bring one resource to the plan, given what the read phase saw. Returns the action taken.
pub(super) async fn converge<T: Resource>(
    p: &T,
    cx: &Ctx,
    live: Option<&Live>,
    setup: &Setup,
    type_name: &str,
    partition: Option<String>,
) -> Result<(Action, Live), (Action, Error)> {
    let desired = T::desired(p, cx).map_err(|e| (Action::NoOp, e))?;
    let (action, _, _) = compare(&desired, live, setup.choices.adopt);
    let started = |action| {
        (setup.sink)(Event::Started {
            id: cx.id.clone(),
            type_name: type_name.to_string(),
            partition: partition.clone(),
            action,
        })
    };
    match (action, live) {
        (Action::NoOp, Some(l)) => Ok((Action::NoOp, l.clone())),
        (Action::Create, _) | (_, None) => {
            started(Action::Create);
            T::create(p, cx)
                .await
                .map(|l| (Action::Create, l))
                .map_err(|e| (Action::Create, e))
        }
        (Action::Replace, Some(l)) => {
            started(Action::Replace);
            T::delete(l, cx).await.map_err(|e| (Action::Replace, e))?;
            T::create(p, cx)
                .await
                .map(|l| (Action::Replace, l))
                .map_err(|e| (Action::Replace, e))
        }
        (_, Some(l)) => {
            if !l.owned && !setup.choices.adopt {
                return Err((Action::Update, Error::other("exists without this plan's ownership tags; run with --adopt to take it over")));
            }
            started(Action::Update);
            let changed = changed_attrs(&desired, l);
            T::update(p, l, &changed, cx)
                .await
                .map(|l| (Action::Update, l))
                .map_err(|e| (Action::Update, e))
        }
    }
}

/// Wait until a read shows `made`, the resource a create just answered (the same id when
/// both have one), for up to the read lag; an error if it never does.
pub(super) async fn confirm_seen<T: Resource>(p: T, cx: Ctx, made: Live) -> Result<(), Error> {
    let key = |l: &Live| {
        l.outputs
            .get("id")
            .or_else(|| l.outputs.get("arn"))
            .cloned()
    };
    let want = key(&made);
    let seen = until_seen(&cx, "the new resource", || async {
        Ok(T::read(&p, &cx)
            .await?
            .filter(|l| want.is_none() || key(l) == want))
    })
    .await?;
    match seen {
        Some(_) => Ok(()),
        None => Err(Error::other(format!(
            "created, but reads have not shown it for {} s: the next command may not find it \
             (run `xpart plan` in a few minutes, before anything else)",
            cx.read_lag().as_secs()
        ))),
    }
}

/// A deleted resource's attributes as `before`; the properties its type declares sensitive
/// (`Declared::SENSITIVE`) stay hidden, and of a type unknown here, every one: nothing is
/// shown that no type vouched for.
pub(super) fn delete_attrs(type_name: &str, l: &Live) -> Vec<AttrChange> {
    let sensitive = with_type!(type_name, T => Some(<T as Declared>::SENSITIVE), _ => None);
    deleted_attrs(sensitive, l)
}

/// `l`'s attributes as `before`, those named in `sensitive` hidden (all of them for None).
pub(super) fn deleted_attrs(sensitive: Option<&[&str]>, l: &Live) -> Vec<AttrChange> {
    let hidden = |k: &str| sensitive.is_none_or(|s| s.contains(&k));
    l.attrs
        .iter()
        .map(|(k, v)| AttrChange::new(k, Some(v), None, hidden(k), false))
        .collect()
}

/// The action for one resource and its attribute changes.
pub(super) fn compare(
    desired: &Desired,
    live: Option<&Live>,
    adopt: bool,
) -> (Action, Vec<AttrChange>, Option<String>) {
    let attr = |name: &String, before: Option<&Json>, after: Option<&Json>| {
        AttrChange::new(
            name,
            before,
            after,
            desired.sensitive.contains(name),
            desired.replace_on.contains(name),
        )
    };
    let Some(live) = live else {
        let attrs = desired
            .attrs
            .iter()
            .map(|(k, v)| attr(k, None, Some(v)))
            .collect();
        return (Action::Create, attrs, None);
    };
    let changed = changed_attrs(desired, live);
    let mut attrs: Vec<AttrChange> = changed
        .iter()
        .map(|k| {
            let mut a = attr(k, live.attrs.get(k), desired.attrs.get(k));
            if a.sensitive {
                // Both sides are hidden; mark the change so views still show a `~`.
                a.before = Some(Json::String(SENSITIVE.into()));
            }
            a
        })
        .collect();
    if !live.owned {
        let reason = if adopt {
            "adopt: add this plan's ownership tags"
        } else {
            "exists without this plan's ownership tags"
        };
        attrs.push(AttrChange::new(
            "ownership",
            Some(&Json::from("unowned")),
            Some(&Json::from("owned")),
            false,
            false,
        ));
        return (Action::Update, attrs, Some(reason.into()));
    }
    if changed.is_empty() {
        return (Action::NoOp, vec![], None);
    }
    if changed.iter().any(|k| desired.replace_on.contains(k)) {
        return (Action::Replace, attrs, None);
    }
    (Action::Update, attrs, None)
}

/// The checks that reads show what this run made (see `confirm_seen`), and the work creates
/// left running (`PartCtx::defer`), by resource id.
pub(super) type Confirming = Vec<(String, tokio::task::JoinHandle<Result<(), Error>>)>;

/// Whether reads of type `type_name` may miss a create for a while, so that a run confirms
/// each of its creates: the type's `Resource::READS_LAG`.
pub(super) fn reads_lag(type_name: &str) -> bool {
    with_type!(type_name, T => <T as Resource>::READS_LAG, _ => false)
}
