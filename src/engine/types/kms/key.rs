//! `kms.key`: a key (symmetric to encrypt, or asymmetric to sign) with its key policy,
//! description, tags and alias.
//!
//! Found by its alias (DescribeKey `alias/…`), owned when tagged. Keys have no unique name, so
//! CreateKey runs with the SDK's retries off and, after an uncertain outcome, a lookup by the
//! ownership tags comes before any new CreateKey. `read` does the same lookup when the alias
//! names no key: a run killed between CreateKey and CreateAlias left a tagged key without its
//! alias, which reads as this key with a null alias (the plan shows `~ alias`, and the update
//! adds it) rather than being joined by a second key.
//!
//! Round trips: `read` is DescribeKey, then ListResourceTags ∥ GetKeyPolicy (2); when the alias
//! names no key, ListKeys ∥ ListAliases and the tags of keys without an alias follow. `create`
//! is CreateKey, then CreateAlias (2), returning what it made without reading it back; the
//! alias (when nothing refers to it) and a generated policy (GetKeyPolicy, PutKeyPolicy) go on
//! alongside what follows. Nothing here needs the caller's account: ARNs come from KMS's
//! answers, and the account principal a generated policy names is the one KMS wrote in the
//! default policy of a key made without one (or in any key policy it holds), so the China
//! form is AWS's, not an assumption of xpart's.

use crate::aws::AwsError;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use serde_json::{json, Value as Json};

use super::policy::{key_policy, policy_doc, policy_text, put_policy, settle_policy, with_policy};
use crate::engine::resource::changed_attrs;
use crate::engine::resource::{
    create_once, owned_id, owned_in_order, plan_tags, retry_propagation, user_tags, Attrs, Ctx,
    Desired, Error, Live, Propagation, Resource, Result,
};
use crate::engine::scan::{key_ref, Memo};
use crate::engine::types::shared::lookup_all;
use crate::engine::types::shared::{all, converged, Call};
use crate::engine::types::shared::{answered, gone_ok, need};
use crate::lint::{kinds, limits, one_document, Checker, Env, NameCheck, Rules};
use crate::plan::types::KmsKey;
use crate::plan::Path as PropPath;

/// The pending window a key gets when the plan names none (and KMS's own default).
const DEFAULT_WINDOW: u32 = 7;

const NEW_KEY: Propagation = Propagation {
    what: "the new key",
    bound: Ctx::kms_propagation,
    pending: not_found,
};

fn window(p: &KmsKey) -> u32 {
    p.deletion_window_days.unwrap_or(DEFAULT_WINDOW)
}

fn tags(cx: &Ctx, p: &KmsKey) -> Vec<Tag> {
    crate::engine::types::shared::sdk_tags!(cx, &p.tags, Tag, tag_key, tag_value)
}

/// KMS's not-found code.
pub(super) const GONE: &[&str] = &["NotFoundException"];

fn not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| GONE.contains(&c))
}

/// A principal in the policy that KMS cannot see yet (a role created seconds ago). A policy
/// malformed for any other reason fails at once instead of waiting out the bound.
pub(super) fn propagating(e: &Error) -> bool {
    e.aws().is_some_and(AwsError::is_kms_principal_not_visible)
}

/// A key that is going away counts as gone: it cannot be used, only cancelled.
fn pending(meta: &KeyMetadata) -> bool {
    matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    )
}

/// The key `key` (id, ARN or alias) names; None when there is none. In a read phase, asked once
/// per key: a CA held by a key reads the key its `kms.key` described a moment before.
pub(crate) async fn describe(cx: &Ctx, key: &str) -> Result<Option<KeyMetadata>> {
    let ask = || async {
        let sent = cx.clients().kms.describe_key().key_id(key).send();
        Ok(gone_ok(cx.call("DescribeKey", sent).await, GONE)?.and_then(|o| o.key_metadata))
    };
    let Some(scan) = &cx.scan else {
        return ask().await;
    };
    let meta = scan.keys.get(key_ref(key), ask).await?;
    if let Some(m) = &meta {
        scan.keys.also(m.key_id(), meta.clone());
    }
    Ok(meta)
}

/// A key's tags as (key, value) pairs; None when the key is gone or not ours to read. In a
/// read phase, asked once per key.
pub(crate) async fn key_tags(cx: &Ctx, key_id: &str) -> Result<Option<Vec<(String, String)>>> {
    let memo = cx.scan.as_deref().map(|s| &s.key_tags);
    Memo::through(memo, key_ref(key_id), || list_tags(cx, key_id)).await
}

/// The tags of the key with this ARN as the read phase's tag query found them (it asks for the
/// plan's tags, so it is a key of this plan); None outside a read phase, or when the query has
/// no such key (too new for the index, or not the plan's).
pub(crate) async fn indexed_tags(cx: &Ctx, arn: &str) -> Result<Option<Vec<(String, String)>>> {
    let Some(scan) = &cx.scan else {
        return Ok(None);
    };
    Ok(scan
        .tagged(cx.clients(), &cx.owner)
        .await?
        .iter()
        .find(|t| t.arn == arn)
        .map(|t| t.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
}

async fn list_tags(cx: &Ctx, key_id: &str) -> Result<Option<Vec<(String, String)>>> {
    match cx
        .clients()
        .kms
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.tags()
                .iter()
                .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
                .collect(),
        )),
        Err(e) => {
            let e = cx.aws("ListResourceTags", e);
            // Keys of other services or accounts' grants may refuse us; they are not ours.
            if not_found(&e) || e.code() == Some("AccessDeniedException") {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

fn owns(cx: &Ctx, tags: &[(String, String)]) -> bool {
    cx.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Every alias of the account, by the key it names.
async fn aliases_by_key(cx: &Ctx) -> Result<BTreeMap<String, Vec<String>>> {
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = cx
        .clients()
        .kms
        .list_aliases()
        .into_paginator()
        .items()
        .send();
    while let Some(a) = pages.next().await {
        let a = a.map_err(|e| cx.aws("ListAliases", e))?;
        if let (Some(key), Some(name)) = (a.target_key_id(), a.alias_name()) {
            aliases
                .entry(key.to_string())
                .or_default()
                .push(name.to_string());
        }
    }
    Ok(aliases)
}

/// Every key id of the account.
async fn key_ids(cx: &Ctx) -> Result<Vec<String>> {
    let mut keys = vec![];
    let mut pages = cx.clients().kms.list_keys().into_paginator().items().send();
    while let Some(k) = pages.next().await {
        keys.extend(k.map_err(|e| cx.aws("ListKeys", e))?.key_id);
    }
    Ok(keys)
}

/// What `read` needs of a found key besides its metadata: its tags and policy, at once (one
/// round trip). None when it is gone, or its tags are not ours to read.
///
/// While planning, a key of this resource that the phase's tag query found takes its tags
/// from there, as Roles Anywhere's resources do: the query runs anyway, and it has every tag.
/// Its values may lag a change made seconds before (the index is eventually consistent),
/// which can show a tag change that is already made; ownership is not at stake, since only a
/// key tagged as this resource is taken from the index.
async fn tags_and_policy(
    cx: &Ctx,
    meta: &KeyMetadata,
) -> Result<Option<(Vec<(String, String)>, Json)>> {
    let key_id = meta.key_id();
    let tags = async {
        let indexed = indexed_tags(cx, need(meta.arn(), "its ARN")?).await?;
        match indexed.filter(|tags| owns(cx, tags)) {
            Some(tags) => Ok(Some(tags)),
            None => key_tags(cx, key_id).await,
        }
    };
    let (tags, policy) = tokio::join!(tags, key_policy(cx, key_id));
    Ok(tags?.zip(policy?))
}

/// A key found by its tags: its metadata, tags and policy.
type FoundKey = (KeyMetadata, Vec<(String, String)>, Json);

/// The key this resource owns that has no alias (or only its own): one created by a run whose
/// alias step was lost or killed, or, for a key the plan gives no alias, the key itself; with
/// its tags and policy. ListAliases ∥ ListKeys, then the tags of the keys without someone
/// else's alias (most keys of a real account have one, and cost nothing), then DescribeKey ∥
/// GetKeyPolicy of those tagged as this resource: keys pending deletion are passed over.
async fn find_unaliased(p: &KmsKey, cx: &Ctx) -> Result<Option<FoundKey>> {
    let lists = tokio::try_join!(aliases_by_key(cx), key_ids(cx))?;
    find_unaliased_in(p, cx, lists).await
}

/// `find_unaliased` with the account's aliases and keys already listed.
async fn find_unaliased_in(
    p: &KmsKey,
    cx: &Ctx,
    (aliased, keys): (BTreeMap<String, Vec<String>>, Vec<String>),
) -> Result<Option<FoundKey>> {
    let candidates: Vec<String> = keys
        .into_iter()
        .filter(|k| {
            !aliased
                .get(k)
                .is_some_and(|names| names.iter().any(|n| Some(n.as_str()) != p.alias.as_deref()))
        })
        .collect();
    let ours = lookup_all(candidates, |key_id| {
        let cx = cx.clone();
        async move {
            let tags = key_tags(&cx, &key_id).await?;
            Ok(tags.filter(|t| owns(&cx, t)).map(|t| (key_id, t)))
        }
    })
    .await?;
    usable(cx, ours).await
}

/// The first of `ours` (keys tagged as this resource, with their tags) that is not pending
/// deletion, with its metadata and policy: DescribeKey ∥ GetKeyPolicy of each.
async fn usable(
    cx: &Ctx,
    mut ours: Vec<(String, Vec<(String, String)>)>,
) -> Result<Option<FoundKey>> {
    // Usually none; several when earlier keys of this resource are pending deletion.
    ours.sort();
    let usable = all(ours.into_iter().map(|(key_id, tags)| async move {
        let (meta, policy) = tokio::join!(describe(cx, &key_id), key_policy(cx, &key_id));
        match meta? {
            // The policy of a key going away is of no interest (and may be refused).
            Some(meta) if !pending(&meta) => Ok(policy?.map(|policy| (meta, tags, policy))),
            _ => Ok(None),
        }
    }))
    .await?;
    Ok(usable.into_iter().flatten().next())
}

/// The key `alias` names, as `read` describes it: its tags and policy fetched, owned as its
/// tags say. None when it went away meanwhile.
async fn aliased_live(
    p: &KmsKey,
    cx: &Ctx,
    alias: &str,
    meta: &KeyMetadata,
) -> Result<Option<Live>> {
    let Some((tags, policy)) = tags_and_policy(cx, meta).await? else {
        return Ok(None);
    };
    let owned = owns(cx, &tags);
    live_from(meta, &tags, policy, Some(alias), window(p), owned).map(Some)
}

/// A key of this resource found without its alias (by `find_unaliased` or the tag query), as
/// `read` describes it: owned, alias null.
fn unaliased_live(p: &KmsKey, found: Option<FoundKey>) -> Result<Option<Live>> {
    match found {
        Some((meta, tags, policy)) => {
            live_from(&meta, &tags, policy, None, window(p), true).map(Some)
        }
        None => Ok(None),
    }
}

/// The ARN of `alias` in the key's partition, region and account: the key's ARN with
/// `key/<id>` replaced.
fn alias_arn(key_arn: &str, alias: &str) -> Result<String> {
    match key_arn.rsplit_once(':') {
        Some((prefix, _)) => Ok(format!("{prefix}:{alias}")),
        None => Err(Error::other(format!("not a key ARN: {key_arn}"))),
    }
}

/// A key's comparable attributes.
fn key_attrs(
    meta: &KeyMetadata,
    alias: Option<&str>,
    policy: Json,
    tags: &[(String, String)],
) -> Attrs {
    let description = meta.description().unwrap_or_default();
    let mut attrs = BTreeMap::new();
    attrs.insert(
        "usage".into(),
        json!(meta
            .key_usage()
            .map(|u| u.as_str())
            .unwrap_or("ENCRYPT_DECRYPT")),
    );
    attrs.insert(
        "key_spec".into(),
        json!(meta
            .key_spec()
            .map(|s| s.as_str())
            .unwrap_or("SYMMETRIC_DEFAULT")),
    );
    attrs.insert("alias".into(), json!(alias));
    attrs.insert("description".into(), json!(description));
    attrs.insert("policy".into(), policy);
    attrs.insert(
        "tags".into(),
        user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    attrs
}

/// A key's live state: its ARN and id, and `attrs` (whose `alias` it is known by: the plan's,
/// found, or null); `window` is the pending window its delete asks for.
fn key_live(arn: &str, key_id: &str, attrs: Attrs, window: u32, owned: bool) -> Result<Live> {
    let alias = attrs
        .get("alias")
        .and_then(Json::as_str)
        .map(str::to_string);
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), arn.to_string());
    outputs.insert("id".into(), key_id.to_string());
    if let Some(alias) = &alias {
        outputs.insert("alias_arn".into(), alias_arn(arn, alias)?);
        outputs.insert("alias".into(), alias.clone());
    }
    let handle = KeyHandle {
        key_id: key_id.to_string(),
        alias,
        deletion_window_days: window,
    };
    Ok(Live::new(outputs, attrs, owned).with_handle(&handle))
}

/// What a key's `Live` keeps for delete, which gets no properties: the key id, the alias it
/// is known by (removed with it), and the plan's pending window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyHandle {
    pub key_id: String,
    pub alias: Option<String>,
    pub deletion_window_days: u32,
}

/// A found key's live state from its metadata, tags and policy.
fn live_from(
    meta: &KeyMetadata,
    tags: &[(String, String)],
    policy: Json,
    alias: Option<&str>,
    window: u32,
    owned: bool,
) -> Result<Live> {
    let arn = answered(meta.arn(), "DescribeKey returned no ARN")?;
    let attrs = key_attrs(meta, alias, policy, tags);
    key_live(arn, meta.key_id(), attrs, window, owned)
}

/// Point `alias` at `key_id`. An alias already there is fine when it names this key, and is
/// moved when it names another key of ours (one pending deletion); never taken from a key this
/// plan does not own.
async fn set_alias(cx: &Ctx, alias: &str, key_id: &str) -> Result<()> {
    let kms = &cx.clients().kms;
    // A key seconds old may not be visible to the alias API yet.
    let created = retry_propagation(cx, &NEW_KEY, || async {
        cx.run(
            "CreateAlias",
            kms.create_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send(),
        )
        .await
    })
    .await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("AlreadyExistsException") => {
            let Some(target) = describe(cx, alias).await? else {
                return Err(e);
            };
            if target.key_id() == key_id {
                return Ok(());
            }
            let theirs = key_tags(cx, target.key_id()).await?.unwrap_or_default();
            if !owns(cx, &theirs) {
                return Err(Error::other(format!(
                    "alias `{alias}` already names key {}, which this plan does not own",
                    target.key_id()
                )));
            }
            cx.call(
                "UpdateAlias",
                kms.update_alias()
                    .alias_name(alias)
                    .target_key_id(key_id)
                    .send(),
            )
            .await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Resource for KmsKey {
    // Found through the tag index, whose lag has its own search (`find`).
    const READS_LAG: bool = false;
    const NAME_PROPERTY: Option<&'static str> = Some("alias");
    type Handle = KeyHandle;

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        // The alias changes in place: `read` finds a key by the plan's alias, so a live alias
        // differs only when it is null (a key left without it), which the update adds.
        let (usage, spec) = p.usage_and_spec();
        Ok(Desired::of::<Self>()
            .attr("alias", json!(p.alias))
            .attr("description", p.description.clone().unwrap_or_default())
            .attr("policy", policy_doc(p, cx))
            .attr("usage", usage)
            .attr("key_spec", spec)
            .attr("tags", plan_tags(&p.tags))
            // KMS cannot change what a key is for, nor its type.
            .forces_replacement(&["usage", "key_spec"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        let Some(alias) = &p.alias else {
            // No alias to find it by: the key of this resource, found by its tags.
            return unaliased_live(p, find_unaliased(p, cx).await?);
        };
        if let Some(scan) = &cx.scan {
            if let Some(meta) = describe(cx, alias).await?.filter(|m| !pending(m)) {
                return aliased_live(p, cx, alias, &meta).await;
            }
            // No key by the alias (every first apply). The exact search for a key of this
            // resource without it (a run killed between CreateKey and CreateAlias) costs a
            // listing of the account's keys: it runs on for the create that may follow, which
            // must not make a second key, while the plan takes the tag query's answer.
            let exact = {
                let (p, mut cx) = (p.clone(), cx.clone());
                cx.scan = None;
                tokio::spawn(async move { unaliased_live(&p, find_unaliased(&p, &cx).await?) })
            };
            cx.part().stash(&cx.id, exact);
            let ours: Vec<(String, Vec<(String, String)>)> = scan
                .tagged(cx.clients(), &cx.owner)
                .await?
                .iter()
                .filter(|t| t.type_name() == Some("kms.key"))
                .filter(|t| cx.owns(t.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
                .map(|t| {
                    let tags = t.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    (t.resource_id().to_string(), tags)
                })
                .collect();
            return unaliased_live(p, usable(cx, ours).await?);
        }
        // The listings for the aliasless lookup start with DescribeKey, so a missing alias
        // (every first apply) costs no extra round trip; when the alias answers, they are
        // dropped unfinished (reads only: nothing is left half-done).
        let describe = describe(cx, alias);
        let lists = async { tokio::try_join!(aliases_by_key(cx), key_ids(cx)) };
        tokio::pin!(describe, lists);
        let mut listed = None;
        let meta = loop {
            tokio::select! {
                m = &mut describe => break m?,
                l = &mut lists, if listed.is_none() => listed = Some(l),
            }
        };
        if let Some(meta) = meta.filter(|m| !pending(m)) {
            return aliased_live(p, cx, alias, &meta).await;
        }
        let lists = match listed {
            Some(l) => l?,
            None => lists.await?,
        };
        unaliased_live(p, find_unaliased_in(p, cx, lists).await?)
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let kms = &cx.clients().kms;
        let want = Self::desired(p, cx)?;
        // The exact search `read` left running: a key of this resource without its alias is
        // brought to the plan, not made again.
        if let Some(lookup) = cx.part().take_lookup(&cx.id) {
            let found = lookup
                .await
                .map_err(|e| Error::caused("the key lookup failed", e))??;
            if let Some(live) = found {
                let changed = changed_attrs(&want, &live);
                return Self::update(p, &live, &changed, cx).await;
            }
        }
        // A written policy is sent with CreateKey. A generated one names the account
        // principal, whose form in this partition is KMS's to say: the key is made without a
        // policy, so KMS gives it its default (the account principal, `kms:*`), and the plan's
        // policy, naming the principal as KMS wrote it, replaces that (`settle_policy`).
        let written = p.policy.is_some();
        let doc = policy_text(p, cx);
        let tags = tags(cx, p);
        // `read` found no key of this resource, with or without its alias: make one. Its
        // metadata, and whether this run knows it as made (not found after a lost answer).
        let create = || async {
            let made = with_policy(cx, &doc, || async {
                let (usage, spec) = p.usage_and_spec();
                let mut req = kms
                    .create_key()
                    .set_policy(written.then(|| doc.clone()))
                    .key_usage(usage.into())
                    .key_spec(spec.into())
                    .set_tags(Some(tags.clone()));
                if let Some(d) = &p.description {
                    req = req.description(d);
                }
                // Retries off: a lost answer is looked up by tags before another try.
                cx.call(
                    "CreateKey",
                    req.customize()
                        .config_override(crate::aws::once::kms())
                        .send(),
                )
                .await
            })
            .await?
            .key_metadata
            .ok_or_else(|| Error::other("CreateKey returned no key"))?;
            Ok((made, true))
        };
        let find = || async {
            Ok(find_unaliased(p, cx)
                .await?
                .map(|(meta, _, _)| (meta, false)))
        };
        let (meta, certain) = create_once(cx, "CreateKey", create, find).await?;
        if certain && !written {
            // The default policy gives the account what IAM policies allow, and the plan's
            // policy is that plus its grants: until it is put, the key allows less, never
            // more. What the plan makes next uses the key as this caller, whom IAM governs,
            // so it goes on meanwhile; the run awaits the policy before it ends. A run cut
            // short before leaves the default, which the next plan shows as `~ policy`.
            let (cx2, p2, key_id) = (cx.clone(), p.clone(), meta.key_id().to_string());
            let work = tokio::spawn(async move { settle_policy(&cx2, &p2, &key_id).await });
            cx.part().defer(&cx.id, work);
        }
        if let Some(alias) = &p.alias {
            // Nothing of the plan uses the alias itself (they use the key's ARN): it is made
            // alongside what follows, and the run awaits it before it ends. A run cut short
            // before it leaves a key without its alias, which the next read's exact search
            // finds and brings to the plan.
            let uses_alias = ["alias", "alias_arn"]
                .iter()
                .any(|a| cx.referenced.contains(*a));
            if certain && !uses_alias {
                let (cx2, alias, key_id) = (cx.clone(), alias.clone(), meta.key_id().to_string());
                let work = tokio::spawn(async move { set_alias(&cx2, &alias, &key_id).await });
                cx.part().defer(&cx.id, work);
            } else {
                set_alias(cx, alias, meta.key_id()).await?;
            }
        }
        if certain {
            // What CreateKey made, as sent; the alias now names it.
            let arn = answered(meta.arn(), "CreateKey returned no ARN")?;
            return key_live(arn, meta.key_id(), want.attrs, window(p), true);
        }
        // Found after an uncertain attempt: read it as it is and bring it to the plan.
        let live = answered(Self::read(p, cx).await?, "the key vanished after CreateKey")?;
        let changed = changed_attrs(&want, &live);
        if changed.is_empty() && live.owned {
            return Ok(live);
        }
        Self::update(p, &live, &changed, cx).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let kms = &cx.clients().kms;
        let want = Self::desired(p, cx)?;
        let key_id = live.handle::<KeyHandle>()?.key_id;
        let arn = live.output("arn")?.to_string();
        let policy = changed.contains("policy").then(|| policy_text(p, cx));
        let retag = changed.contains("tags") || !live.owned;
        let stale = cx.stale_tags(live, &p.tags, retag);
        let old_alias = live
            .attrs
            .get("alias")
            .and_then(Json::as_str)
            .filter(|a| Some(*a) != p.alias.as_deref());
        // Each call sets a different part of the key: all at once.
        let mut jobs: Vec<Call<'_>> = vec![];
        if let Some(doc) = &policy {
            jobs.push(Box::pin(put_policy(cx, &key_id, doc)));
        }
        if changed.contains("description") {
            jobs.push(Box::pin(async {
                cx.run(
                    "UpdateKeyDescription",
                    kms.update_key_description()
                        .key_id(&key_id)
                        .description(p.description.clone().unwrap_or_default())
                        .send(),
                )
                .await
            }));
        }
        crate::engine::types::shared::retag_jobs! {
            jobs, cx, retag, tags(cx, p), stale,
            "TagResource" => kms.tag_resource().key_id(&key_id),
            "UntagResource" => kms.untag_resource().key_id(&key_id)
        }
        if changed.contains("alias") {
            if let Some(alias) = &p.alias {
                jobs.push(Box::pin(set_alias(cx, alias, &key_id)));
            }
            if let Some(old) = old_alias {
                jobs.push(Box::pin(delete_alias(cx, old)));
            }
        }
        all(jobs).await?;
        let now = converged(live, &want, changed);
        key_live(&arn, &key_id, now.attrs, window(p), true)
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let kms = &cx.clients().kms;
        let KeyHandle {
            key_id,
            alias,
            deletion_window_days,
        } = live.handle::<KeyHandle>()?;
        if let Some(alias) = alias.or_else(|| live.outputs.get("alias").cloned()) {
            delete_alias(cx, &alias).await?;
        }
        let days = deletion_window_days as i32;
        match kms
            .schedule_key_deletion()
            .key_id(&key_id)
            .pending_window_in_days(days)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = cx.aws("ScheduleKeyDeletion", e);
                if not_found(&e) {
                    return Ok(());
                }
                // Already pending deletion (a retry after a lost answer): done.
                if e.code() == Some("KMSInvalidStateException") {
                    if let Some(meta) = describe(cx, &key_id).await? {
                        if !pending(&meta) {
                            return Err(e);
                        }
                    }
                    return Ok(());
                }
                Err(e)
            }
        }
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // KMS lists no keys by tag: ListAliases ∥ ListKeys (the alias a key's delete removes,
        // and which keys are AWS managed), then a ListResourceTags per key, `LOOKUPS_AT_ONCE`
        // at a time; a key of this plan then costs a DescribeKey ∥ GetKeyPolicy (pending
        // deletion is left out). For N keys that is N + N/100 + a few calls in 3 round trips
        // per plan, apply and destroy. A key the plan no longer has is deleted with the
        // default pending window.
        let (mut aliases, ids) = tokio::try_join!(aliases_by_key(cx), key_ids(cx))?;
        let mut keys = vec![];
        for key_id in ids {
            let mut names = aliases.remove(&key_id).unwrap_or_default();
            // AWS managed keys (alias/aws/…) are never a plan's.
            if names.iter().any(|n| n.starts_with("alias/aws/")) {
                continue;
            }
            // The plan's own keys were just read by their aliases.
            if names.iter().any(|n| cx.planned_name(n)) {
                continue;
            }
            names.sort();
            keys.push((key_id, names.into_iter().next()));
        }
        let found = lookup_all(keys, |(key_id, alias)| {
            let cx = cx.clone();
            async move {
                let Some(tags) = key_tags(&cx, &key_id).await? else {
                    return Ok(None);
                };
                let Some(id) = owned_id(
                    &cx.owner,
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ) else {
                    return Ok(None);
                };
                let (meta, policy) = tokio::join!(describe(&cx, &key_id), key_policy(&cx, &key_id));
                let meta = match meta? {
                    Some(meta) if !pending(&meta) => meta,
                    _ => return Ok(None),
                };
                let Some(policy) = policy? else {
                    return Ok(None);
                };
                let live = live_from(&meta, &tags, policy, alias.as_deref(), DEFAULT_WINDOW, true)?;
                Ok(Some((id, live)))
            }
        })
        .await?;
        Ok(owned_in_order(found))
    }
}

/// Delete an alias; one already gone is fine.
async fn delete_alias(cx: &Ctx, alias: &str) -> Result<()> {
    let sent = cx.clients().kms.delete_alias().alias_name(alias).send();
    gone_ok(cx.call("DeleteAlias", sent).await, GONE).map(|_| ())
}

impl Rules for KmsKey {
    fn check(&self, cx: &mut Checker, at: &PropPath, env: &Env) {
        kinds::key_rules(cx, at, self, env.part);
        limits::key_limits(cx, at, self);
    }
    fn documents(&self, at: &PropPath) -> Vec<(PropPath, Json)> {
        one_document(at, "policy", self.policy.as_ref())
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        self.alias
            .iter()
            .map(|a| (a.as_str(), NameCheck::Alias))
            .collect()
    }
}
