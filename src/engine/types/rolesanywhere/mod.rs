//! `rolesanywhere.*`: trust anchors and profiles, and what both share: tags (Roles Anywhere
//! lists nothing by tag, so ownership is the tag index's answer while planning, and one
//! ListTagsForResource per item otherwise: at the service's one tagging request a second,
//! the index is what keeps a plan's cost flat), lookups, PEM form.

pub mod crl;
pub mod profile;
pub mod trust_anchor;

use super::shared::{all, answered, ours, Call};
pub use super::shared::{gone_ok, need, Named, NOT_FOUND};
use crate::engine::resource::create_once;

use std::collections::BTreeSet;
use std::future::Future;

use aws_smithy_types::DateTime;

use aws_sdk_rolesanywhere::types::Tag;
use serde_json::Value as Json;

use crate::engine::resource::{
    owned_id, owned_in_order, user_tags, Ctx, Desired, Error, Live, Result,
};
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
    let asked = cx.ext.get::<AskedTags>().map(|t| &t.0);
    crate::engine::scan::Memo::through(asked, arn, ask).await
}

/// For the exact searches a read phase leaves running (each recent resource asked for its
/// tags, at the service's one tagging request a second): the tags already asked, by ARN,
/// shared through the phase's scan (`Scan::slots`), so twenty profiles of a fleet ask the
/// same recent ones once, not twenty times.
#[derive(Default)]
pub struct AskedTags(pub crate::engine::scan::TagMemo);

/// The context of the exact search a read leaves running: it asks AWS, not the index (no
/// scan), and the tags it asks are shared with the other reads' searches of this phase.
pub fn exact_search(cx: &Ctx) -> Ctx {
    let mut exact = cx.clone();
    if let Some(scan) = exact.scan.take() {
        exact.ext.insert_shared(scan.slots.get::<AskedTags>());
    }
    exact
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
        let hit = |i: &T| name_arn(i).1.and_then(|arn| index.get(arn)).cloned();
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
        let Some(tags) = tags_of(cx, need(name_arn(&item).1, "ARN")?).await? else {
            continue;
        };
        if owns(cx, &tags) {
            return Ok(Some((item, tags, true)));
        }
        foreign.get_or_insert((item, tags, false));
    }
    // The others' tags at `LOOKUPS_AT_ONCE` at a time; the first of ours in listing
    // order, as asking one by one would find.
    let mut arns: Vec<(usize, String)> = vec![];
    for (i, item) in others.iter().enumerate() {
        arns.push((i, need(name_arn(item).1, "ARN")?.to_string()));
    }
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
    made: impl Fn(O, &[(String, String)]) -> Option<Result<Live>>,
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
            .map_err(|e| Error::caused(format!("the {op} lookup failed"), e))??;
        if let Some(live) = found.filter(|l| l.owned) {
            return Ok(Made::Found(live));
        }
    }
    let create = || async {
        let out = cx.call(op, send()).await?;
        answered(made(out, &sent), missing)?
    };
    create_once(cx, op, create, || ours(p, cx))
        .await
        .map(Made::New)
}

/// `Resource::READS_LAG` of every Roles Anywhere type: each is found through the tag index,
/// whose lag has its own search (`read_by_listing`), so the run need not read creates back.
pub const READS_LAG: bool = false;

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
            let changed = crate::engine::resource::changed_attrs(&R::desired(p, cx)?, &live);
            R::update(p, &live, &changed, cx).await
        }
    }
}

/// The tail every Roles Anywhere update shares: the resource's own `settings` (its calls, one
/// after the other) and, alongside, its tags when they changed or it is being adopted; then
/// what `read` would return after it. `together` names attributes one call sets all at once:
/// when any of them changed, all of them are brought to the plan.
pub async fn update_with<R: Named>(
    p: &R,
    cx: &Ctx,
    live: &Live,
    changed: &BTreeSet<String>,
    together: &[&str],
    settings: impl std::future::Future<Output = Result<()>> + Send,
) -> Result<Live> {
    let want = R::desired(p, cx)?;
    let arn = live.output("arn")?;
    let mut jobs: Vec<Call<'_>> = vec![Box::pin(settings)];
    if changed.contains("tags") || !live.owned {
        jobs.push(Box::pin(retag(cx, arn, p.tags(), live.attrs.get("tags"))));
    }
    all(jobs).await?;
    let mut done = changed.clone();
    if together.iter().any(|a| changed.contains(*a)) {
        done.extend(together.iter().map(|a| a.to_string()));
    }
    Ok(updated(live, &want, &done, p.name()))
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

/// A PEM bundle as compared and sent: `\n` line ends, no surrounding blank space.
pub fn normalize_pem(pem: &str) -> String {
    pem.replace("\r\n", "\n").trim().to_string()
}

/// A Roles Anywhere type, as its listing shows it: what `read_by_listing` and
/// `owned_by_listing`, its `read` and `find_owned`, need of it. Roles Anywhere lists nothing
/// by tag: every item is listed, and ownership is the tag index's answer or each item's tags.
pub trait Listed: Named {
    /// What the listing returns (`TrustAnchorDetail`, …).
    type Item: Clone + Send + Sync + 'static;
    /// The listing's operation (`ListTrustAnchors`), which also keys the read phase's one
    /// listing of the type.
    const OP: &'static str;
    /// Every item, page by page.
    fn list(cx: &Ctx) -> impl Future<Output = Result<Vec<Self::Item>>> + Send;
    fn name_of(x: &Self::Item) -> Option<&str>;
    fn arn_of(x: &Self::Item) -> Option<&str>;
    fn created_of(x: &Self::Item) -> Option<&DateTime>;
    /// The item as `read` describes it, with its tags and whether it is ours.
    fn live(x: &Self::Item, tags: &[(String, String)], owned: bool) -> Result<Live>;
}

/// Every item of `T`: while planning, one listing serves every read of the type (at Roles
/// Anywhere's one request a second, twenty profiles listed twenty times would take twenty
/// seconds).
async fn list_once<T: Listed>(cx: &Ctx) -> Result<Vec<T::Item>> {
    match &cx.scan {
        Some(scan) => scan.listing(T::OP, || T::list(cx)).await,
        None => T::list(cx).await,
    }
}

/// An item's name and ARN, as `find` takes them.
fn name_arn<T: Listed>(x: &T::Item) -> (Option<&str>, Option<&str>) {
    (T::name_of(x), T::arn_of(x))
}

/// `read` of a `Listed` type: by name, then by tags (see `find`).
pub async fn read_by_listing<T: Listed>(p: &T, cx: &Ctx) -> Result<Option<Live>> {
    let all = list_once::<T>(cx).await?;
    let found = find(cx, p.name(), all.clone(), name_arn::<T>).await?;
    if found.is_none() && cx.scan.is_some() {
        search_index_lag::<T>(p.name(), cx, all);
    }
    found
        .map(|(x, tags, owned)| T::live(&x, &tags, owned))
        .transpose()
}

/// None of ours in the tag index, which may lag a create by seconds: the exact search (each
/// one's tags) runs on, stashed for the create that may follow, which must not make a second
/// one. Only what is new enough to be missing from the index is asked (the others' tags
/// would cost a call a second each for nothing): the newest first, at most
/// `INDEX_LAG_SEARCH` of them, so an account that made more in the window is searched no
/// further.
fn search_index_lag<T: Listed>(name: &str, cx: &Ctx, all: Vec<T::Item>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let recent = |x: &T::Item| {
        T::name_of(x) == Some(name)
            || T::created_of(x).is_none_or(|t| now - t.secs() < INDEX_LAG_BOUND.as_secs() as i64)
    };
    let mut all: Vec<T::Item> = all.into_iter().filter(|x| recent(x)).collect();
    all.sort_by_key(|x| std::cmp::Reverse(T::created_of(x).map(|t| t.secs())));
    all.truncate(INDEX_LAG_SEARCH);
    let (name, exact) = (name.to_string(), exact_search(cx));
    let lookup = tokio::spawn(async move {
        let found = find(&exact, &name, all, name_arn::<T>).await?;
        found
            .map(|(x, tags, owned)| T::live(&x, &tags, owned))
            .transpose()
    });
    cx.part().stash(&cx.id, lookup);
}

/// `find_owned` of a `Listed` type: every item tagged as the plan's (see `of_plan`).
pub async fn owned_by_listing<T: Listed>(cx: &Ctx) -> Result<Vec<(String, Live)>> {
    let mut all = vec![];
    for x in list_once::<T>(cx).await? {
        // The plan's own were just read by name.
        if T::name_of(&x).is_some_and(|n| cx.planned_name(n)) {
            continue;
        }
        all.push((need(T::arn_of(&x), "ARN")?.to_string(), x));
    }
    let mut found = vec![];
    for (id, x, tags) in of_plan(cx, all).await? {
        found.push((id, T::live(&x, &tags, true)?));
    }
    Ok(owned_in_order(found))
}

/// Declares a type `Listed`: `$T`'s item, its listing (`$list`, named `$op`), the item's
/// name and ARN fields, and how `read` describes it (`$live`). A declaration only: what is
/// done with it is `read_by_listing`/`owned_by_listing`.
macro_rules! listed {
    ($T:ty: $Item:ty, $list:ident $op:literal, name $name:ident, arn $arn:ident, live $live:path) => {
        impl $crate::engine::types::rolesanywhere::Listed for $T {
            type Item = $Item;
            const OP: &'static str = $op;
            async fn list(cx: &Ctx) -> Result<Vec<$Item>> {
                let pages = cx.clients().rolesanywhere.$list().into_paginator();
                let pages = pages.items().send();
                pages.try_collect().await.map_err(|e| cx.aws($op, e))
            }
            fn name_of(x: &$Item) -> Option<&str> {
                x.$name()
            }
            fn arn_of(x: &$Item) -> Option<&str> {
                x.$arn()
            }
            fn created_of(x: &$Item) -> Option<&aws_smithy_types::DateTime> {
                x.created_at()
            }
            fn live(x: &$Item, tags: &[(String, String)], owned: bool) -> Result<Live> {
                $live(x, tags, owned)
            }
        }
    };
}
pub(crate) use listed;
