//! `ec2.vpc`, and what every `ec2.*` type shares: the ownership-tag lookup, tags set at create,
//! tag updates, "already gone" on delete and the wait for dependants to go.
//!
//! EC2 names are not unique, so an EC2 resource is found only by its ownership tags
//! (`xpart:plan`, `xpart:id`), which TagSpecifications set in the create call itself: nothing
//! ever exists untagged. CreateVpc cannot be deduplicated, so it runs with the SDK's retries off
//! under `create_once`, which looks the VPC up by those tags after an uncertain outcome.
//!
//! Creates and updates answer the `Live` that what they sent and what EC2 answered make
//! (`fresh`, `applied`), never a read-back: each read costs a round trip, and a China one is
//! 0.6 s. That `Live` is what `read` would describe right after (the tests compare the two).
//! Nothing waits for a new resource to show in Describe* by its tags either (that can lag a
//! create by seconds): this run never reads it again, and the next run's read is what finds
//! it; an uncertain create is looked up by `create_once` itself.
//! Reads take the account for ARNs from the objects EC2 returns (`OwnerId`), so they need no
//! identity call before them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VpcState};
use serde_json::{json, Value as Json};

use crate::engine::resource::{
    create_once, no_retry, owned_id, owned_in_order, plan_tags, retry_propagation, user_tags, Ctx,
    Desired, Error, Live, Resource, Result, TAG_LINEAGE, TAG_PLAN,
};
use crate::spec::types::{Tags, Vpc};

pub struct Type;

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
    live: impl Fn(&T) -> Live,
) -> Vec<(String, Live)> {
    let all = found
        .iter()
        .filter_map(|x| Some((owned_id(&cx.owner, pairs(tags(x)))?, live(x))))
        .collect();
    owned_in_order(all)
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
    name: &str,
    user: &Tags,
    extra: &[(&str, &str)],
) -> TagSpecification {
    let mut tags = all_tags(cx, name, user);
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

/// A config override turning the SDK's retries off, for creates that run under `create_once`.
pub fn once() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(no_retry())
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
pub async fn retag(cx: &Ctx, resource: &str, name: &str, user: &Tags, live: &Live) -> Result<()> {
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
        ec2.create_tags()
            .resources(resource)
            .set_tags(Some(ec2_tags(&all_tags(cx, name, user))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cx.aws("CreateTags", e))
    };
    let delete = async {
        if stale.is_empty() {
            return Ok(());
        }
        ec2.delete_tags()
            .resources(resource)
            .set_tags(Some(stale))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cx.aws("DeleteTags", e))
    };
    let (created, deleted) = tokio::join!(create, delete);
    created.and(deleted)
}

/// A call of an update, boxed so that a varying number of them can run together.
pub type Call<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Run `calls` at once (one round trip for all of them, not one each) and wait for every one:
/// none is cut off halfway because another failed. The first error, in `calls`' order, is the
/// result.
pub async fn together(calls: Vec<Call<'_>>) -> Result<()> {
    let mut running: Vec<Option<Call<'_>>> = calls.into_iter().map(Some).collect();
    let mut results: Vec<Option<Result<()>>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|task| {
        let mut pending = false;
        for (slot, result) in running.iter_mut().zip(results.iter_mut()) {
            if let Some(call) = slot {
                match call.as_mut().poll(task) {
                    Poll::Ready(r) => {
                        *result = Some(r);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// A delete (or detach) whose target is already gone has done its work: a retry after a lost
/// response, or someone was faster.
pub fn gone_ok<T>(r: Result<T>, codes: &[&str]) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| codes.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
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
        what,
        DEPENDENCY_WAIT,
        |e| e.code() == Some("DependencyViolation"),
        f,
    )
    .await
}

/// The names in `keys` whose desired and live values differ.
pub fn differing(want: &Desired, live: &Live, keys: &[&str]) -> BTreeSet<String> {
    keys.iter()
        .filter(|k| want.attrs.get(**k) != live.attrs.get(**k))
        .map(|k| k.to_string())
        .collect()
}

/// A resource just created: exactly as asked for (no need to read back what one call set).
/// `owner`: the `OwnerId` of the create's answer.
pub fn fresh(cx: &Ctx, kind: &str, id: &str, name: &str, owner: &str, want: Desired) -> Live {
    Live {
        outputs: outputs(cx, kind, id, name, owner),
        attrs: want.attrs,
        owned: true,
        handle: Json::Null,
    }
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

/// Whether an update must (re)write the tags: they differ, or the resource is being adopted.
pub fn needs_retag(live: &Live, changed: &BTreeSet<String>) -> bool {
    !live.owned || changed.contains("tags") || changed.contains("name")
}

fn live_of(cx: &Ctx, vpc: &aws_sdk_ec2::types::Vpc) -> Live {
    let tags = vpc.tags();
    let id = vpc.vpc_id().unwrap_or_default();
    let name = name_tag(tags);
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        (
            "cidr".to_string(),
            json!(vpc.cidr_block().unwrap_or_default()),
        ),
        ("tags".to_string(), live_tags(tags)),
    ]);
    let owner = vpc.owner_id().unwrap_or_default();
    Live {
        outputs: outputs(cx, "vpc", id, &name, owner),
        attrs,
        owned: true,
        handle: Json::Null,
    }
}

impl Resource for Type {
    type Props = Vpc;

    fn desired(p: &Vpc, _cx: &Ctx) -> Result<Desired> {
        Ok(Desired::default()
            .attr("name", p.name.as_str())
            .attr("cidr", p.cidr.as_str())
            .attr("tags", want_tags(&p.tags))
            .forces_replacement(&["cidr"]))
    }

    async fn read(_p: &Vpc, cx: &Ctx) -> Result<Option<Live>> {
        let out = cx
            .clients()
            .ec2
            .describe_vpcs()
            .set_filters(Some(owner_filters(cx)))
            .send()
            .await
            .map_err(|e| cx.aws("DescribeVpcs", e))?;
        let found: Vec<_> = out
            .vpcs()
            .iter()
            .filter(|v| v.state() != Some(&VpcState::Deleting))
            .cloned()
            .collect();
        Ok(pick(cx, "VPC", found, |v| {
            v.vpc_id().unwrap_or_default().to_string()
        })
        .map(|v| live_of(cx, &v)))
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        let mut pages = cx
            .clients()
            .ec2
            .describe_vpcs()
            .set_filters(Some(plan_filters(cx)))
            .into_paginator()
            .items()
            .send();
        let mut found = vec![];
        while let Some(v) = pages.next().await {
            let v = v.map_err(|e| cx.aws("DescribeVpcs", e))?;
            if v.state() != Some(&VpcState::Deleting) {
                found.push(v);
            }
        }
        Ok(owned(cx, &found, |v| v.tags(), |v| live_of(cx, v)))
    }

    async fn create(p: &Vpc, cx: &Ctx) -> Result<Live> {
        let ec2 = &cx.clients().ec2;
        create_once(
            cx,
            "CreateVpc",
            || async {
                let out = ec2
                    .create_vpc()
                    .cidr_block(&p.cidr)
                    .tag_specifications(tag_spec(cx, ResourceType::Vpc, &p.name, &p.tags, &[]))
                    .customize()
                    .config_override(once())
                    .send()
                    .await
                    .map_err(|e| cx.aws("CreateVpc", e))?;
                let vpc = out
                    .vpc()
                    .ok_or_else(|| Error::other("CreateVpc returned no VPC"))?;
                let id = vpc
                    .vpc_id()
                    .ok_or_else(|| Error::other("CreateVpc returned no VPC id"))?;
                Ok(fresh(
                    cx,
                    "vpc",
                    id,
                    &p.name,
                    vpc.owner_id().unwrap_or_default(),
                    Self::desired(p, cx)?,
                ))
            },
            || Self::read(p, cx),
        )
        .await
    }

    async fn update(p: &Vpc, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        // Only the tags change in place (the CIDR replaces the VPC).
        if needs_retag(live, changed) {
            retag(cx, &live.outputs["id"], &p.name, &p.tags, live).await?;
        }
        Ok(applied(live, &Self::desired(p, cx)?, changed))
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let id = live.outputs.get("id").cloned().unwrap_or_default();
        retry_dependency(
            cx,
            "the deletion of the VPC's subnets, gateways and groups",
            || async {
                gone_ok(
                    cx.clients()
                        .ec2
                        .delete_vpc()
                        .vpc_id(&id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| cx.aws("DeleteVpc", e)),
                    &["InvalidVpcID.NotFound"],
                )
            },
        )
        .await?;
        Ok(())
    }
}
