//! `ec2.*`: the network and the workload's instance, and what every EC2 type shares: the
//! ownership-tag lookup, tags set at create, tag updates and the wait for dependants to go.
//!
//! EC2 names are not unique, so an EC2 resource is found only by its ownership tags
//! (`xpart:plan`, `xpart:lineage`, `xpart:id`), which TagSpecifications set in the create call itself: nothing
//! ever exists untagged.

pub mod instance;
pub mod internet_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;

pub use super::shared::{gone_ok, need, settle, together, Call, Named};

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value as Json;

use crate::engine::resource::{
    create_once, owned_id, owned_in_order, plan_tags, retry_propagation, until_seen_for, user_tags,
    Ctx, Desired, Live, Propagation, Result, TAG_LINEAGE, TAG_PLAN,
};
use crate::engine::types::shared::answered;
use crate::plan::types::Tags;

/// The tag holding a SHA-256 of an instance's user data: read compares it without another call
/// (DescribeInstanceAttribute), and it is not one of the user's tags.
pub const TAG_USER_DATA: &str = "xpart:user-data-sha256";

/// How long a delete waits for the resources that use the one being deleted to go (an instance
/// still terminating holds its subnet and security groups).
pub const DEPENDENCY_WAIT: Duration = Duration::from_secs(120);

/// Filters matching this resource's ownership tags.
pub fn owner_filters(cx: &Ctx) -> Vec<Filter> {
    cx.ownership_tags()
        .into_iter()
        .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
        .collect()
}

/// The filters matching every resource of this plan, whatever its id (`find_owned`).
pub fn plan_filters(cx: &Ctx) -> Vec<Filter> {
    [
        (TAG_PLAN, cx.owner.name.as_str()),
        (TAG_LINEAGE, cx.owner.lineage.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
    .collect()
}

/// `find_owned` of an EC2 type: the resources one Describe* by `plan_filter` listed, as `live`
/// (the type's `read`) describes them, with their `xpart:id`; all of them, duplicates too.
pub fn owned<T>(
    cx: &Ctx,
    found: &[T],
    tags: impl Fn(&T) -> &[Tag],
    live: impl Fn(&T) -> Result<Live>,
) -> Result<Vec<(String, Live)>> {
    let mut all = vec![];
    for x in found {
        if let Some(id) = owned_id(&cx.owner, pairs(tags(x))) {
            all.push((id, live(x)?));
        }
    }
    Ok(owned_in_order(all))
}

/// Every tag the resource carries: ownership, the plan's tags, and `Name`.
pub fn all_tags(cx: &Ctx, name: &str, user: &Tags) -> BTreeMap<String, String> {
    let mut t = cx.tags(user);
    t.insert("Name".into(), name.into());
    t
}

/// TagSpecifications for a create: the resource is tagged in the same call that makes it.
pub fn tag_spec(
    cx: &Ctx,
    kind: ResourceType,
    p: &impl Named,
    extra: &[(&str, &str)],
) -> TagSpecification {
    let mut tags = all_tags(cx, p.name(), p.tags());
    tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2_tags(&tags)))
        .build()
}

fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags as (key, value) pairs.
pub fn pairs(tags: &[Tag]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect()
}

/// The `Name` tag ("" when there is none).
pub fn name_tag(tags: &[Tag]) -> String {
    pairs(tags)
        .into_iter()
        .find(|(k, _)| *k == "Name")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// Tags other than ours, `Name` (its own attribute) and the user-data hash, as `user_tags`.
fn is_user_tag(k: &str) -> bool {
    k != "Name" && k != TAG_USER_DATA
}

pub fn live_tags(tags: &[Tag]) -> Json {
    user_tags(pairs(tags).into_iter().filter(|(k, _)| is_user_tag(k)))
}

/// The plan's tags as `live_tags` shows them.
pub fn want_tags(user: &Tags) -> Json {
    let mut t = plan_tags(user);
    if let Json::Object(m) = &mut t {
        m.retain(|k, _| is_user_tag(k));
    }
    t
}

/// `id`, `arn` (`arn:<partition>:ec2:<region>:<owner>:<kind>/<id>`) and `name`. `owner` is the
/// account EC2 names as the resource's owner (`OwnerId`), which is the caller's: reads need not
/// wait for the identity call, which the engine runs alongside them.
pub fn outputs(
    cx: &Ctx,
    kind: &str,
    id: &str,
    name: &str,
    owner: &str,
) -> BTreeMap<String, String> {
    let def = &cx.part().def;
    BTreeMap::from([
        ("id".to_string(), id.to_string()),
        (
            "arn".to_string(),
            def.partition
                .arn("ec2", &def.region, owner, &format!("{kind}/{id}")),
        ),
        ("name".to_string(), name.to_string()),
    ])
}

/// The account field of an ARN (`arn:<partition>:<service>:<region>:<account>:…`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The one resource the tags found. Two can only exist if something outside xpart copied the
/// tags (or a replacement was interrupted halfway); take the first by id, deterministically, and
/// say so rather than fail, so that destroy can still make progress one at a time.
pub fn pick<T>(cx: &Ctx, kind: &str, mut found: Vec<T>, id_of: impl Fn(&T) -> String) -> Option<T> {
    found.sort_by_key(|x| id_of(x));
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(&id_of).collect();
        cx.say(format!(
            "several {kind}s carry this resource's tags ({}); using {}",
            ids.join(", "),
            ids[0]
        ));
    }
    found.into_iter().next()
}

/// Bring the tags to the plan: one CreateTags with the whole set (it overwrites values), and,
/// at the same time, a DeleteTags for the user tags the plan dropped (other keys than
/// CreateTags sets: the two calls do not race).
pub async fn retag(cx: &Ctx, resource: &str, p: &impl Named, live: &Live) -> Result<()> {
    let (name, user) = (p.name(), p.tags());
    let ec2 = &cx.clients().ec2;
    let stale: Vec<Tag> = live
        .attrs
        .get("tags")
        .and_then(Json::as_object)
        .map(|m| {
            m.keys()
                .filter(|k| !user.contains_key(*k))
                .map(|k| Tag::builder().key(k).build())
                .collect()
        })
        .unwrap_or_default();
    let create = async {
        cx.run(
            "CreateTags",
            ec2.create_tags()
                .resources(resource)
                .set_tags(Some(ec2_tags(&all_tags(cx, name, user))))
                .send(),
        )
        .await
    };
    let delete = async {
        if stale.is_empty() {
            return Ok(());
        }
        cx.run(
            "DeleteTags",
            ec2.delete_tags()
                .resources(resource)
                .set_tags(Some(stale))
                .send(),
        )
        .await
    };
    let (created, deleted) = tokio::join!(create, delete);
    created.and(deleted)
}

/// Retry `f` while EC2 says something still uses the resource (an instance terminating, an
/// address still mapped), up to `DEPENDENCY_WAIT`.
pub async fn retry_dependency<T, F, Fut>(cx: &Ctx, what: &str, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry_propagation(
        cx,
        &Propagation {
            what,
            bound: |_| DEPENDENCY_WAIT,
            pending: |e| e.code() == Some("DependencyViolation"),
        },
        f,
    )
    .await
}

/// A resource as `Describe*` lists it: its outputs (see `outputs`) from the id and owner EC2
/// answered (`id` with the field's name, for the error when it is missing), and its `attrs`.
pub fn described_live(
    cx: &Ctx,
    kind: &str,
    (id, field): (Option<&str>, &str),
    (name, owner): (&str, Option<&str>),
    attrs: BTreeMap<String, Json>,
) -> Result<Live> {
    let id = need(id, field)?;
    let owner = need(owner, "OwnerId")?;
    Ok(Live::new(outputs(cx, kind, id, name, owner), attrs, true))
}

/// A resource just created: exactly as asked for (no need to read back what one call set).
/// `owner`: the `OwnerId` of the create's answer.
pub fn fresh(cx: &Ctx, kind: &str, id: &str, name: &str, owner: &str, want: Desired) -> Live {
    Live::new(outputs(cx, kind, id, name, owner), want.attrs, true)
}

/// Sends the EC2 create request `$create` with the plan's tags for `$rt` set in the call itself
/// (nothing ever exists untagged) and the SDK's retries off: `create_once` decides on retries,
/// after it has looked the resource up by those tags.
macro_rules! send_once {
    ($cx:expr, $p:expr, $rt:expr, $create:expr) => {
        $create
            .tag_specifications(tag_spec($cx, $rt, $p, &[]))
            .customize()
            .config_override(crate::aws::once::ec2())
            .send()
    };
}
pub(crate) use send_once;

/// Ends the EC2 resource `$id` with the client's `$call` (`$by` sets the id), as the `Ending`
/// `$end` says (see `end_with`).
macro_rules! end_by_id {
    ($cx:expr, $end:expr, $call:ident, $by:ident, $id:expr) => {
        $crate::engine::types::ec2::end_with($cx, $end, || {
            $cx.clients().ec2.$call().$by($id).send()
        })
        .await
    };
}
pub(crate) use end_by_id;

/// The id and owner account in a create's answer (None when either is missing) (`made` of `create_tagged`).
pub fn id_owner(id: Option<&str>, owner: Option<&str>) -> Option<(String, String)> {
    Some((id?.to_string(), owner?.to_string()))
}

/// A fresh ClientToken for one create (RunInstances, CreateRouteTable: see `instance`'s module
/// comment): 32 random bytes in hex, the 64 ASCII characters EC2 takes at most.
pub fn client_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| crate::engine::resource::Error::other("no random bytes for a ClientToken"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What an EC2 create needs besides its call: the operation, the resource's kind in ARNs, and
/// the attributes the call cannot set, which `settle` brings to the plan right after.
pub struct Creation {
    pub op: &'static str,
    pub kind: &'static str,
    pub later: &'static [&'static str],
    /// The call carries a ClientToken (drawn once per create, the same in every attempt), so
    /// EC2 itself answers a repeat with what the first attempt made: no lookup between tries.
    pub tokened: bool,
}

/// Create under `create_once` (`send` turns the SDK's retries off; before any retry the tags
/// look the resource up), describe what was made (`made`: its id and owner in the answer;
/// `start`: the `later` attributes as a new resource has them), then settle `later`.
pub async fn create_tagged<P, O, E, Fut>(
    p: &P,
    cx: &Ctx,
    c: &Creation,
    send: impl Fn() -> Fut,
    made: impl Fn(&O) -> Option<(String, String)>,
    start: impl Fn(&mut Live),
) -> Result<Live>
where
    P: Named,
    Fut: Future<Output = std::result::Result<O, aws_sdk_ec2::error::SdkError<E>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let want = P::desired(p, cx)?;
    let create = || async {
        let out = cx.call(c.op, send()).await?;
        let (id, owner) = answered(made(&out), &format!("{} returned no id or owner", c.op))?;
        let mut live = fresh(cx, c.kind, &id, p.name(), &owner, want.clone());
        start(&mut live);
        Ok(live)
    };
    // Patient: EC2's reads lag its creates. A tokened call needs no lookup at all.
    let find = || async {
        if c.tokened {
            return Ok(None);
        }
        until_seen_for(cx, c.op, cx.lookup_lag(), || P::read(p, cx)).await
    };
    let live = create_once(cx, c.op, create, find).await?;
    settle(p, live, &want, c.later, cx).await
}

/// One EC2 call that ends something (a delete, a detach): what it waits for while EC2 says
/// something still uses the resource, and the codes that mean it is gone already (done).
pub struct Ending {
    pub op: &'static str,
    pub waiting_for: &'static str,
    pub gone: &'static [&'static str],
}

/// Make the call `send` starts, as `end` says: retried while the resource is in use, a target
/// already gone counting as done.
pub async fn end_with<T, E, Fut>(cx: &Ctx, end: &Ending, send: impl Fn() -> Fut) -> Result<()>
where
    Fut: Future<Output = std::result::Result<T, aws_sdk_ec2::error::SdkError<E>>>,
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    retry_dependency(cx, end.waiting_for, || async {
        gone_ok(cx.run(end.op, send()).await, end.gone)
    })
    .await?;
    Ok(())
}

/// `live` once an update has brought `changed` to `want` (every call of it succeeded): what
/// `read` would now describe, without reading. The ownership tags are on it (an update retags
/// whatever it adopts) and the `name` output follows the `name` attribute.
pub fn applied(live: &Live, want: &Desired, changed: &BTreeSet<String>) -> Live {
    let mut out = live.clone();
    for k in changed {
        if let Some(v) = want.attrs.get(k) {
            out.attrs.insert(k.clone(), v.clone());
        }
    }
    if let Some(Json::String(name)) = out.attrs.get("name") {
        out.outputs.insert("name".into(), name.clone());
    }
    out.owned = true;
    out
}

/// The end of every EC2 update: `calls`, and the retag when the tags or the name changed (or
/// on an adoption), all at once; then what `read` would now describe.
pub async fn finish<'a, P: Named>(
    cx: &'a Ctx,
    p: &'a P,
    live: &'a Live,
    changed: &BTreeSet<String>,
    mut calls: Vec<Call<'a>>,
) -> Result<Live> {
    if needs_retag(live, changed) {
        calls.push(Box::pin(retag(cx, live.output("id")?, p, live)));
    }
    together(calls).await?;
    Ok(applied(live, &P::desired(p, cx)?, changed))
}

/// `Resource::READS_LAG` of every EC2 type: EC2 is "eventually consistent", a new resource's
/// "ID might not have propagated throughout the system" (Eventual consistency in the Amazon
/// EC2 API), so a run reads each of its creates back before it ends.
pub const READS_LAG: bool = true;

/// Whether an update must (re)write the tags: they differ, or the resource is being adopted.
pub fn needs_retag(live: &Live, changed: &BTreeSet<String>) -> bool {
    !live.owned || changed.contains("tags") || changed.contains("name")
}

/// An EC2 type found by its ownership tags in one `Describe*` (every page): what
/// `read_by_tags` and `owned_by_tags`, its `read` and `find_owned`, need of it.
pub trait Described: Named {
    /// What the `Describe*` call lists (`aws_sdk_ec2::types::Vpc`, …).
    type Item: Send + Sync;
    /// The resource in messages ("VPC").
    const NOUN: &'static str;
    /// Every item `Describe*` finds with `filters`, page by page.
    fn describe(
        cx: &Ctx,
        filters: Vec<Filter>,
    ) -> impl Future<Output = Result<Vec<Self::Item>>> + Send;
    /// The item's id (`VpcId`, …).
    fn id_of(x: &Self::Item) -> Option<&str>;
    fn tags_of(x: &Self::Item) -> &[Tag];
    /// Whether the item is on its way out (a deleting state), which counts as not there.
    fn going(_x: &Self::Item) -> bool {
        false
    }
    /// The item as `read` describes it, with the resource's properties in `read` (none in
    /// `find_owned`).
    fn live(p: Option<&Self>, cx: &Ctx, x: &Self::Item) -> Result<Live>;
}

/// Declares a type `Described`: `$T`'s item, noun, `Describe*` call (`$call`, named `$op`),
/// the item's id (`$id`) and how `read` describes it (`$live`), and with `going` which items
/// count as gone. A declaration only: what is done with it is `read_by_tags`/`owned_by_tags`.
macro_rules! described {
    ($T:ty: $Item:ty, $noun:literal, $call:ident $op:literal, id $id:ident, live $live:path
     $(, going $going:expr)?) => {
        impl $crate::engine::types::ec2::Described for $T {
            type Item = $Item;
            const NOUN: &'static str = $noun;
            async fn describe(
                cx: &Ctx,
                filters: Vec<aws_sdk_ec2::types::Filter>,
            ) -> Result<Vec<$Item>> {
                let pages = cx.clients().ec2.$call().set_filters(Some(filters));
                let pages = pages.into_paginator().items().send();
                pages.try_collect().await.map_err(|e| cx.aws($op, e))
            }
            fn id_of(x: &$Item) -> Option<&str> {
                x.$id()
            }
            fn tags_of(x: &$Item) -> &[aws_sdk_ec2::types::Tag] {
                x.tags()
            }
            $(fn going(x: &$Item) -> bool {
                ($going)(x)
            })?
            fn live(p: Option<&Self>, cx: &Ctx, x: &$Item) -> Result<Live> {
                $live(p, cx, x)
            }
        }
    };
}
pub(crate) use described;

/// `read` of a `Described` type: the one resource with this resource's ownership tags (see
/// `pick` when there are several).
pub async fn read_by_tags<T: Described>(p: &T, cx: &Ctx) -> Result<Option<Live>> {
    let mut found = vec![];
    for x in T::describe(cx, owner_filters(cx)).await? {
        if !T::going(&x) {
            found.push((need(T::id_of(&x), "id")?.to_string(), x));
        }
    }
    let one = pick(cx, T::NOUN, found, |(id, _)| id.clone());
    one.map(|(_, x)| T::live(Some(p), cx, &x)).transpose()
}

/// `find_owned` of a `Described` type: every resource with the plan's tags.
pub async fn owned_by_tags<T: Described>(cx: &Ctx) -> Result<Vec<(String, Live)>> {
    let found: Vec<T::Item> = T::describe(cx, plan_filters(cx))
        .await?
        .into_iter()
        .filter(|x| !T::going(x))
        .collect();
    owned(cx, &found, T::tags_of, |x| T::live(None, cx, x))
}
