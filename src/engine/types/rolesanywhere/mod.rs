//! `rolesanywhere.*`: trust anchors and profiles, and what both share: tags (Roles Anywhere
//! lists nothing by tag, so ownership is the tag index's answer while planning, and one
//! ListTagsForResource per item otherwise: at the service's one tagging request a second,
//! the index is what keeps a plan's cost flat), lookups, PEM form.

pub mod crl;
pub mod profile;
pub mod trust_anchor;

use super::shared::{all, answered, ours, Call};
pub use super::shared::{gone_ok, Named, NOT_FOUND};
use crate::engine::resource::create_once;

use std::collections::BTreeSet;

use aws_sdk_rolesanywhere::types::Tag;
use serde_json::Value as Json;

use crate::engine::resource::{owned_id, user_tags, Ctx, Desired, Error, Live, Result};
use crate::engine::types::shared::converged;
use crate::engine::types::shared::lookup_all;
use crate::plan::types::Tags;

/// Our tags and the plan's, as Roles Anywhere takes them.
pub fn ra_tags(cx: &Ctx, extra: &Tags) -> Vec<Tag> {
    crate::engine::types::shared::sdk_tags!(cx, extra, Tag)
}

/// A resource's tags as pairs; None when it is gone (deleted between list and lookup).
pub async fn tags_of(cx: &Ctx, arn: &str) -> Result<Option<Vec<(String, String)>>> {
    let ask = || async {
        let out = cx
            .call(
                "ListTagsForResource",
                cx.clients()
                    .rolesanywhere
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send(),
            )
            .await;
        Ok(gone_ok(out, NOT_FOUND)?.map(|o| {
            o.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        }))
    };
    crate::engine::scan::Memo::through(cx.ra_tags.as_deref(), arn, ask).await
}

/// Whether tags mark the resource as this one.
pub fn owns(cx: &Ctx, tags: &[(String, String)]) -> bool {
    cx.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The user's tags (without ours), as the `tags` attribute.
pub fn tags_attr(tags: &[(String, String)]) -> Json {
    user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Set the plan's tags (ours included: an adoption takes ownership here) and drop user tags the
/// plan no longer has. `live_tags` is the live `tags` attribute.
pub async fn retag(cx: &Ctx, arn: &str, extra: &Tags, live_tags: Option<&Json>) -> Result<()> {
    let ra = &cx.clients().rolesanywhere;
    cx.call(
        "TagResource",
        ra.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ra_tags(cx, extra)))
            .send(),
    )
    .await?;
    let stale = cx.stale_in(live_tags, extra);
    if !stale.is_empty() {
        cx.call(
            "UntagResource",
            ra.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(stale))
                .send(),
        )
        .await?;
    }
    Ok(())
}

/// Ours among listed resources, with its tags and whether it is ours: same-named ones are
/// asked first (the usual case: one tag lookup); only when none is ours are the others asked,
/// since a resource whose name the plan changed still carries our tags and is renamed in place
/// rather than left behind. Without ours, a same-named foreign one is reported (not owned).
pub async fn find<T>(
    cx: &Ctx,
    name: &str,
    items: Vec<T>,
    name_arn: impl Fn(&T) -> (Option<&str>, Option<&str>),
) -> Result<Option<(T, Vec<(String, String)>, bool)>> {
    let (mut named, mut others): (Vec<T>, Vec<T>) =
        items.into_iter().partition(|i| name_arn(i).0 == Some(name));
    if let Some(scan) = &cx.scan {
        // While planning, the tag index says which is ours in one query, where asking each
        // resource for its tags costs a call each at Roles Anywhere's one tagging request a
        // second. A resource too new for the index is found by the exact search the create
        // runs (and one made twice is an orphan the next run deletes).
        let index: std::collections::BTreeMap<&str, Vec<(String, String)>> = scan
            .tagged(cx.clients(), &cx.owner)
            .await?
            .iter()
            .filter(|t| cx.owns(t.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
            .map(|t| {
                let tags = t.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                (t.arn.as_str(), tags)
            })
            .collect();
        let hit = |i: &T| index.get(name_arn(i).1.unwrap_or_default()).cloned();
        if let Some(at) = named.iter().position(|i| hit(i).is_some()) {
            let item = named.swap_remove(at);
            let tags = hit(&item).expect("found just now");
            return Ok(Some((item, tags, true)));
        }
        if let Some(at) = others.iter().position(|i| hit(i).is_some()) {
            let item = others.swap_remove(at);
            let tags = hit(&item).expect("found just now");
            return Ok(Some((item, tags, true)));
        }
        // None of ours in the index: the same-named are asked (one is foreign, or ours and
        // too new for the index), the others are not.
        others.clear();
    }
    let mut foreign = None;
    for item in named {
        let Some(tags) = tags_of(cx, name_arn(&item).1.unwrap_or_default()).await? else {
            continue;
        };
        if owns(cx, &tags) {
            return Ok(Some((item, tags, true)));
        }
        foreign.get_or_insert((item, tags, false));
    }
    // The others' tags at `LOOKUPS_AT_ONCE` at a time; the first of ours in listing
    // order, as asking one by one would find.
    let arns: Vec<(usize, String)> = others
        .iter()
        .enumerate()
        .map(|(i, item)| (i, name_arn(item).1.unwrap_or_default().to_string()))
        .collect();
    let ours = lookup_all(arns, |(i, arn)| {
        let cx = cx.clone();
        async move {
            Ok(tags_of(&cx, &arn)
                .await?
                .filter(|tags| owns(&cx, tags))
                .map(|tags| (i, tags)))
        }
    })
    .await?;
    if let Some((i, tags)) = ours.into_iter().min_by_key(|(i, _)| *i) {
        let item = others.into_iter().nth(i).expect("an index of the list");
        return Ok(Some((item, tags, true)));
    }
    Ok(foreign)
}

/// The attributes `update` brings to the plan (and, for an adoption, the tags), and the name
/// the plan gives: what `read` would return after it.
pub fn updated(live: &Live, want: &Desired, changed: &BTreeSet<String>, name: &str) -> Live {
    let mut now = converged(live, want, changed);
    now.outputs.insert("name".into(), name.to_string());
    now
}

/// For `find_owned`: the tags of every listed resource (by its ARN; Roles Anywhere lists
/// nothing by tag, so one ListTagsForResource each, `LOOKUPS_AT_ONCE` at a time), keeping
/// those of this plan with their `xpart:id`: for N anchors or profiles, N calls besides the
/// listing.
pub async fn of_plan<T: Send + 'static>(
    cx: &Ctx,
    items: Vec<(String, T)>,
) -> Result<Vec<(String, T, Vec<(String, String)>)>> {
    lookup_all(items, |(arn, item)| {
        let cx = cx.clone();
        async move {
            // Deleted since the listing: not there.
            let Some(tags) = tags_of(&cx, &arn).await? else {
                return Ok(None);
            };
            let id = owned_id(
                &cx.owner,
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            Ok(id.map(|id| (id, item, tags)))
        }
    })
    .await
}

/// Create under `create_once` (`send` turns the SDK's retries off; before a retry, only a
/// resource tagged as this one counts): `made` describes what the answer holds, with the tags
/// that were sent (the answer does not carry them); `missing` is the error when it holds
/// nothing.
pub async fn create_tagged<P, O, E, Fut>(
    p: &P,
    cx: &Ctx,
    (op, missing): (&str, &str),
    send: impl Fn() -> Fut,
    made: impl Fn(O, &[(String, String)]) -> Option<Live>,
) -> Result<Made>
where
    P: Named,
    Fut: std::future::Future<
        Output = std::result::Result<O, aws_sdk_rolesanywhere::error::SdkError<E>>,
    >,
    E: aws_sdk_rolesanywhere::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let sent: Vec<(String, String)> = cx.tags(p.tags()).into_iter().collect();
    // The exact search `read` left running (its tag index had none of ours): one it finds is
    // brought to the plan by the caller, not made again.
    if let Some(lookup) = cx.part().take_lookup(&cx.id) {
        let found = lookup
            .await
            .map_err(|e| Error::other(format!("the {op} lookup failed: {e}")))??;
        if let Some(live) = found.filter(|l| l.owned) {
            return Ok(Made::Found(live));
        }
    }
    let create = || async {
        let out = cx.call(op, send()).await?;
        answered(made(out, &sent), missing)
    };
    create_once(cx, op, create, || ours(p, cx))
        .await
        .map(Made::New)
}

/// How long the tag index may miss a resource after its creation, as far as xpart counts on:
/// AWS documents no bound; seconds are usual. Each resource younger than this costs the
/// search a tagging call, at Roles Anywhere's one a second. A resource older than this that the index does
/// not list as the plan's is taken not to be the plan's.
pub const INDEX_LAG_BOUND: std::time::Duration = std::time::Duration::from_secs(2 * 60);

/// How many of the resources younger than `INDEX_LAG_BOUND` the exact search asks at most.
pub const INDEX_LAG_SEARCH: usize = 5;

/// What `create_tagged` did: made the resource, or found it (made by an earlier run, not yet
/// in the tag index), for `settle` to bring to the plan.
pub enum Made {
    New(Live),
    Found(Live),
}

/// The resource `create_tagged` made, or the one it found, updated to the plan.
pub async fn settle<R: crate::engine::resource::Resource>(
    p: &R,
    cx: &Ctx,
    made: Made,
) -> Result<Live> {
    match made {
        Made::New(live) => Ok(live),
        Made::Found(live) => {
            let changed = crate::engine::types::shared::differing(&R::desired(p, cx)?, &live);
            R::update(p, &live, &changed, cx).await
        }
    }
}

/// A PEM bundle as compared and sent: `\n` line ends, no surrounding blank space.
/// Brings a live resource's own settings and its tags to the plan: `settings` (its own calls,
/// one after the other) and, alongside, the tags when they changed or it is being adopted.
pub async fn update_with(
    cx: &Ctx,
    live: &Live,
    changed: &BTreeSet<String>,
    tags: &Tags,
    settings: impl std::future::Future<Output = Result<()>> + Send,
) -> Result<()> {
    let arn = live.output("arn")?;
    let mut jobs: Vec<Call<'_>> = vec![Box::pin(settings)];
    if changed.contains("tags") || !live.owned {
        jobs.push(Box::pin(retag(cx, arn, tags, live.attrs.get("tags"))));
    }
    all(jobs).await.map(|_| ())
}

/// Enables or disables a resource (`$on`), with the call of each name.
macro_rules! switch {
    ($cx:expr, $on:expr, $enable:literal => $en:expr, $disable:literal => $dis:expr) => {
        if $on {
            $cx.call($enable, $en.send()).await.map(|_| ())
        } else {
            $cx.call($disable, $dis.send()).await.map(|_| ())
        }
    };
}
pub(crate) use switch;

/// Deletes the resource `live` describes with the client's `$call` (`$by` sets its id); gone
/// already counts as done.
macro_rules! delete_by_id {
    ($cx:expr, $live:expr, $op:literal, $call:ident, $by:ident) => {{
        let sent = $cx
            .clients()
            .rolesanywhere
            .$call()
            .$by($live.output("id")?)
            .send();
        $crate::engine::types::shared::gone_ok($cx.run($op, sent).await, NOT_FOUND).map(|_| ())
    }};
}
pub(crate) use delete_by_id;

pub fn normalize_pem(pem: &str) -> String {
    pem.replace("\r\n", "\n").trim().to_string()
}

/// `read` (by name, then by tags: see `find`) and `find_owned` (every one tagged as the plan's)
/// of a Roles Anywhere type: `$list` (`$op`) lists every item (`$Item`), every page; `$name`
/// and `$arn` read an item's name and ARN, `$live` describes it with its tags and whether it
/// is ours.
macro_rules! found_by_listing {
    ($list:ident, $op:literal, $Item:ty, $name:ident, $arn:ident, $live:path) => {
        async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
            let all = $crate::engine::types::rolesanywhere::list_all!(cx, $list, $op);
            let found = find(cx, &p.name, all.clone(), |x: &$Item| (x.$name(), x.$arn())).await?;
            if found.is_none() && cx.scan.is_some() {
                // None of ours in the tag index, which may lag a create by seconds: the exact
                // search (each one's tags) runs on for the create that may follow, which must
                // not make a second one.
                // Only what is new enough to be missing from the index is asked: the others'
                // tags would cost a call a second each for nothing.
                let recent = |x: &$Item| {
                    x.$name() == Some(p.name.as_str())
                        || x.created_at().is_none_or(|t| {
                            let age = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|now| now.as_secs() as i64 - t.secs())
                                .unwrap_or(0);
                            age < $crate::engine::types::rolesanywhere::INDEX_LAG_BOUND.as_secs()
                                as i64
                        })
                };
                // The newest first, and a bounded number of them: at one tagging call a second,
                // an account that made more in the window than this is searched no further.
                let mut all: Vec<$Item> = all.into_iter().filter(|x| recent(x)).collect();
                all.sort_by_key(|x| std::cmp::Reverse(x.created_at().map(|t| t.secs())));
                all.truncate($crate::engine::types::rolesanywhere::INDEX_LAG_SEARCH);
                let (name, mut exact) = (p.name.clone(), cx.clone());
                // Asks AWS, not the index; the tags it asks are shared with the other reads'
                // searches of this phase.
                exact.ra_tags = exact.scan.take().map(|s| s.ra_tags.clone());
                let lookup = tokio::spawn(async move {
                    let found = find(&exact, &name, all, |x: &$Item| (x.$name(), x.$arn()));
                    Ok(found.await?.map(|(x, tags, owned)| $live(&x, &tags, owned)))
                });
                cx.part().stash(&cx.id, lookup);
            }
            Ok(found.map(|(x, tags, owned)| $live(&x, &tags, owned)))
        }

        async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
            let all = $crate::engine::types::rolesanywhere::list_all!(cx, $list, $op)
                .into_iter()
                // The plan's own were just read by name.
                .filter(|x| !x.$name().is_some_and(|n| cx.skip_names.contains(n)))
                .map(|x| (x.$arn().unwrap_or_default().to_string(), x))
                .collect();
            let found = of_plan(cx, all)
                .await?
                .into_iter()
                .map(|(id, x, tags)| (id, $live(&x, &tags, true)));
            Ok(owned_in_order(found.collect()))
        }
    };
}
pub(crate) use found_by_listing;

/// Every item a Roles Anywhere listing (`$list`, `$op`) returns, page by page.
macro_rules! list_all {
    ($cx:expr, $list:ident, $op:literal) => {{
        let fetch = || async {
            let mut pages = $cx
                .clients()
                .rolesanywhere
                .$list()
                .into_paginator()
                .items()
                .send();
            let mut all = vec![];
            while let Some(x) = pages.next().await {
                all.push(x.map_err(|e| $cx.aws($op, e))?);
            }
            Ok::<_, $crate::engine::resource::Error>(all)
        };
        // While planning, one listing serves every read of the type (at Roles Anywhere's one
        // request a second, twenty profiles listed twenty times would take twenty seconds).
        match &$cx.scan {
            Some(scan) => scan.listing($op, fetch).await?,
            None => fetch().await?,
        }
    }};
}
pub(crate) use list_all;
