//! `kms.key`: a symmetric key with its key policy, description, tags and alias.
//!
//! Found by its alias (DescribeKey `alias/…`), owned when tagged. Keys have no unique name, so
//! CreateKey runs with the SDK's retries off and, after an uncertain outcome, a lookup by the
//! ownership tags comes before any new CreateKey. The same lookup starts every create: a run
//! killed between CreateKey and CreateAlias left a tagged key without its alias, which is reused
//! rather than joined by a second key.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use serde_json::{json, Value as Json};

use crate::engine::resource::{
    create_once, lookup_all, no_retry, one_per_id, owned_id, plan_tags, retry_propagation, user_tags, Ctx,
    Desired, Error, Live, Resource, Result,
};
use crate::engine::types::iam_role::canonical;
use crate::policy;
use crate::spec::types::KmsKey;

pub struct Type;

/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";

/// The pending window a key gets when the plan names none (and KMS's own default).
const DEFAULT_WINDOW: u32 = 7;

fn window(p: &KmsKey) -> u32 {
    p.deletion_window_days.unwrap_or(DEFAULT_WINDOW)
}

/// The key policy as sent: the document as generated (or written), not its canonical form,
/// which collapses one-element lists and so may turn `Statement` into a bare object; valid, but
/// not every consumer of the policy reads that form.
fn policy_text(p: &KmsKey, cx: &Ctx) -> String {
    cx.fill_account(policy::key_policy(p, &cx.part().def))
        .to_string()
}

/// The key policy as compared.
fn policy_doc(p: &KmsKey, cx: &Ctx) -> Json {
    canonical(&cx.fill_account(policy::key_policy(p, &cx.part().def)))
}

fn tags(cx: &Ctx, p: &KmsKey) -> Vec<Tag> {
    cx.tags(&p.tags)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}

fn not_found(e: &Error) -> bool {
    e.code() == Some("NotFoundException")
}

/// A principal in the policy that KMS cannot see yet (a role created seconds ago). A policy
/// malformed for any other reason fails at once instead of waiting out the bound.
fn propagating(e: &Error) -> bool {
    e.code() == Some("MalformedPolicyDocumentException")
        && e.aws()
            .is_some_and(|a| a.message.to_ascii_lowercase().contains("principal"))
}

/// A key that is going away counts as gone: it cannot be used, only cancelled.
fn pending(meta: &KeyMetadata) -> bool {
    matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    )
}

async fn describe(cx: &Ctx, key: &str) -> Result<Option<KeyMetadata>> {
    match cx.clients().kms.describe_key().key_id(key).send().await {
        Ok(out) => Ok(out.key_metadata),
        Err(e) => {
            let e = cx.aws("DescribeKey", e);
            if not_found(&e) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// A key's tags as (key, value) pairs; None when the key is gone or not ours to read.
async fn key_tags(cx: &Ctx, key_id: &str) -> Result<Option<Vec<(String, String)>>> {
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

/// The key this resource owns that has no alias (or only its own): one created by a run whose
/// alias step was lost or killed. One ListAliases pass first, so that keys with someone
/// else's alias (most keys of a real account) cost no tag lookup.
async fn find_unaliased(p: &KmsKey, cx: &Ctx) -> Result<Option<KeyMetadata>> {
    let kms = &cx.clients().kms;
    let mut aliased: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let out = kms
            .list_aliases()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| cx.aws("ListAliases", e))?;
        for a in out.aliases() {
            if let (Some(key), Some(name)) = (a.target_key_id(), a.alias_name()) {
                aliased
                    .entry(key.to_string())
                    .or_default()
                    .push(name.to_string());
            }
        }
        match out.next_marker() {
            Some(m) if out.truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let mut marker: Option<String> = None;
    loop {
        let out = kms
            .list_keys()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| cx.aws("ListKeys", e))?;
        for k in out.keys() {
            let Some(key_id) = k.key_id() else { continue };
            let others = aliased
                .get(key_id)
                .is_some_and(|names| names.iter().any(|n| Some(n.as_str()) != p.alias.as_deref()));
            if others {
                continue;
            }
            let Some(t) = key_tags(cx, key_id).await? else {
                continue;
            };
            if !owns(cx, &t) {
                continue;
            }
            match describe(cx, key_id).await? {
                Some(meta) if !pending(&meta) => return Ok(Some(meta)),
                _ => continue,
            }
        }
        match out.next_marker() {
            Some(m) if out.truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(None)
}

/// The live state of a found key: its tags and policy (two calls).
async fn live_of(p: &KmsKey, cx: &Ctx, meta: KeyMetadata) -> Result<Option<Live>> {
    let Some(tags) = key_tags(cx, meta.key_id()).await? else {
        return Ok(None);
    };
    let owned = owns(cx, &tags);
    live_from(cx, &meta, &tags, p.alias.as_deref(), window(p), owned).await
}

/// A key's live state from its metadata and tags: its policy (one call). `alias` is the one it
/// is known by (the plan's, or found), `window` the pending window its delete asks for.
async fn live_from(
    cx: &Ctx,
    meta: &KeyMetadata,
    tags: &[(String, String)],
    alias: Option<&str>,
    window: u32,
    owned: bool,
) -> Result<Option<Live>> {
    let key_id = meta.key_id().to_string();
    let policy = match cx
        .clients()
        .kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name(POLICY_NAME)
        .send()
        .await
    {
        Ok(out) => out
            .policy()
            .map(|d| {
                canonical(&serde_json::from_str(d).unwrap_or_else(|_| Json::String(d.to_string())))
            })
            .unwrap_or(Json::Null),
        Err(e) => {
            let e = cx.aws("GetKeyPolicy", e);
            return if not_found(&e) { Ok(None) } else { Err(e) };
        }
    };
    let region = &cx.part().def.region;
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "arn".into(),
        meta.arn()
            .map(str::to_string)
            .unwrap_or_else(|| cx.arn("kms", region, &format!("key/{key_id}"))),
    );
    outputs.insert("id".into(), key_id.clone());
    if let Some(alias) = alias {
        outputs.insert("alias".into(), alias.to_string());
        outputs.insert("alias_arn".into(), cx.arn("kms", region, alias));
    }
    let mut attrs = BTreeMap::new();
    attrs.insert("alias".into(), json!(alias));
    attrs.insert(
        "description".into(),
        json!(meta.description().unwrap_or_default()),
    );
    attrs.insert("policy".into(), policy);
    attrs.insert(
        "tags".into(),
        user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    Ok(Some(Live {
        outputs,
        attrs,
        owned,
        // Delete gets no props: it needs the key id, the alias and the plan's pending window.
        handle: json!({"key_id": key_id, "alias": alias, "deletion_window_days": window}),
    }))
}

async fn put_policy(cx: &Ctx, key_id: &str, doc: &str) -> Result<()> {
    let kms = &cx.clients().kms;
    // Never with BypassPolicyLockoutSafetyCheck: KMS's own check is a last guard against a
    // policy that locks the account out of its key.
    retry_propagation(
        cx,
        "the key policy's principals",
        cx.kms_propagation(),
        propagating,
        || async {
            kms.put_key_policy()
                .key_id(key_id)
                .policy_name(POLICY_NAME)
                .policy(doc)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cx.aws("PutKeyPolicy", e))
        },
    )
    .await
}

/// Point `alias` at `key_id`. An alias already there is fine when it names this key, and is
/// moved when it names another key of ours (one pending deletion); never taken from a key this
/// plan does not own.
async fn set_alias(cx: &Ctx, alias: &str, key_id: &str) -> Result<()> {
    let kms = &cx.clients().kms;
    // A key seconds old may not be visible to the alias API yet.
    let created = retry_propagation(
        cx,
        "the new key",
        cx.kms_propagation(),
        not_found,
        || async {
            kms.create_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cx.aws("CreateAlias", e))
        },
    )
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
            kms.update_alias()
                .alias_name(alias)
                .target_key_id(key_id)
                .send()
                .await
                .map_err(|e| cx.aws("UpdateAlias", e))?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl Resource for Type {
    type Props = KmsKey;

    fn desired(p: &KmsKey, cx: &Ctx) -> Result<Desired> {
        Ok(Desired::default()
            .attr("alias", json!(p.alias))
            .attr("description", p.description.clone().unwrap_or_default())
            .attr("policy", policy_doc(p, cx))
            .attr("tags", plan_tags(&p.tags))
            // The alias is how the key is found: another alias is another key.
            .forces_replacement(&["alias"]))
    }

    async fn read(p: &KmsKey, cx: &Ctx) -> Result<Option<Live>> {
        let meta = match &p.alias {
            Some(alias) => describe(cx, alias).await?,
            // Without an alias the tags are all there is to find it by.
            None => find_unaliased(p, cx).await?,
        };
        match meta {
            Some(meta) if !pending(&meta) => live_of(p, cx, meta).await,
            _ => Ok(None),
        }
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // KMS lists no keys by tag: one ListAliases (the alias a key's delete removes, and which
        // keys are AWS managed), ListKeys, then a ListResourceTags per key, `LOOKUPS_AT_ONCE` at
        // a time; a key of this plan then costs a DescribeKey (pending deletion is left out) and
        // a GetKeyPolicy. For N keys that is N + N/100 + a few calls per plan, apply and
        // destroy. A key the plan no longer has is deleted with the default pending window.
        let kms = &cx.clients().kms;
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut pages = kms.list_aliases().into_paginator().items().send();
        while let Some(a) = pages.next().await {
            let a = a.map_err(|e| cx.aws("ListAliases", e))?;
            if let (Some(key), Some(name)) = (a.target_key_id(), a.alias_name()) {
                aliases.entry(key.to_string()).or_default().push(name.to_string());
            }
        }
        let mut keys = vec![];
        let mut pages = kms.list_keys().into_paginator().items().send();
        while let Some(k) = pages.next().await {
            let Some(key_id) = k.map_err(|e| cx.aws("ListKeys", e))?.key_id else { continue };
            let mut names = aliases.remove(&key_id).unwrap_or_default();
            // AWS managed keys (alias/aws/…) are never a plan's.
            if names.iter().any(|n| n.starts_with("alias/aws/")) {
                continue;
            }
            names.sort();
            keys.push((key_id, names.into_iter().next()));
        }
        let found = lookup_all(keys, |(key_id, alias)| {
            let cx = cx.clone();
            async move {
                let Some(tags) = key_tags(&cx, &key_id).await? else { return Ok(None) };
                let Some(id) = owned_id(&cx.plan, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) else {
                    return Ok(None);
                };
                let meta = match describe(&cx, &key_id).await? {
                    Some(meta) if !pending(&meta) => meta,
                    _ => return Ok(None),
                };
                let live = live_from(&cx, &meta, &tags, alias.as_deref(), DEFAULT_WINDOW, true).await?;
                Ok(live.map(|l| (id, l)))
            }
        })
        .await?;
        Ok(one_per_id(cx, "key", found))
    }

    async fn create(p: &KmsKey, cx: &Ctx) -> Result<Live> {
        let kms = &cx.clients().kms;
        let want = Self::desired(p, cx)?;
        let doc = policy_text(p, cx);
        let key_id = match find_unaliased(p, cx).await? {
            Some(meta) => {
                cx.say(format!(
                    "reusing key {} that an earlier run created without its alias",
                    meta.key_id()
                ));
                meta.key_id().to_string()
            }
            None => {
                let tags = tags(cx, p);
                let create = || async {
                    retry_propagation(
                        cx,
                        "the key policy's principals",
                        cx.kms_propagation(),
                        propagating,
                        || async {
                            let mut req =
                                kms.create_key().policy(&doc).set_tags(Some(tags.clone()));
                            if let Some(d) = &p.description {
                                req = req.description(d);
                            }
                            // Retries off: a lost answer is looked up by tags before another try.
                            req.customize()
                                .config_override(
                                    aws_sdk_kms::config::Builder::default()
                                        .retry_config(no_retry()),
                                )
                                .send()
                                .await
                                .map_err(|e| cx.aws("CreateKey", e))
                        },
                    )
                    .await?
                    .key_metadata
                    .map(|m| m.key_id)
                    .ok_or_else(|| Error::other("CreateKey returned no key"))
                };
                let find = || async { Ok(find_unaliased(p, cx).await?.map(|m| m.key_id)) };
                create_once(cx, "CreateKey", create, find).await?
            }
        };
        if let Some(alias) = &p.alias {
            set_alias(cx, alias, &key_id).await?;
        }
        let meta = describe(cx, &key_id)
            .await?
            .ok_or_else(|| Error::other("the key vanished after CreateKey"))?;
        let live = live_of(p, cx, meta)
            .await?
            .ok_or_else(|| Error::other("the key vanished after CreateKey"))?;
        // A reused key may carry an older description, policy or tags.
        let changed: BTreeSet<String> = want
            .attrs
            .iter()
            .filter(|(k, v)| live.attrs.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        if changed.is_empty() && live.owned {
            return Ok(live);
        }
        Self::update(p, &live, &changed, cx).await
    }

    async fn update(p: &KmsKey, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let kms = &cx.clients().kms;
        let key_id = key_id_of(live)?;
        if changed.contains("policy") {
            put_policy(cx, &key_id, &policy_text(p, cx)).await?;
        }
        if changed.contains("description") {
            kms.update_key_description()
                .key_id(&key_id)
                .description(p.description.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| cx.aws("UpdateKeyDescription", e))?;
        }
        if changed.contains("tags") || !live.owned {
            kms.tag_resource()
                .key_id(&key_id)
                .set_tags(Some(tags(cx, p)))
                .send()
                .await
                .map_err(|e| cx.aws("TagResource", e))?;
            let want = cx.tags(&p.tags);
            let stale: Vec<String> = live
                .attrs
                .get("tags")
                .and_then(Json::as_object)
                .map(|m| {
                    m.keys()
                        .filter(|k| !want.contains_key(*k))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !stale.is_empty() {
                kms.untag_resource()
                    .key_id(&key_id)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| cx.aws("UntagResource", e))?;
            }
        }
        let meta = describe(cx, &key_id)
            .await?
            .ok_or_else(|| Error::other("the key vanished during update"))?;
        live_of(p, cx, meta)
            .await?
            .ok_or_else(|| Error::other("the key vanished during update"))
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let kms = &cx.clients().kms;
        let key_id = key_id_of(live)?;
        let alias = live
            .handle
            .get("alias")
            .and_then(Json::as_str)
            .map(str::to_string);
        if let Some(alias) = alias.or_else(|| live.outputs.get("alias").cloned()) {
            match kms.delete_alias().alias_name(&alias).send().await {
                Ok(_) => {}
                Err(e) => {
                    let e = cx.aws("DeleteAlias", e);
                    if !not_found(&e) {
                        return Err(e);
                    }
                }
            }
        }
        let days = live
            .handle
            .get("deletion_window_days")
            .and_then(Json::as_u64)
            .unwrap_or(7) as i32;
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
}

fn key_id_of(live: &Live) -> Result<String> {
    live.handle
        .get("key_id")
        .and_then(Json::as_str)
        .map(str::to_string)
        .or_else(|| live.outputs.get("id").cloned())
        .ok_or_else(|| Error::other("no key id for this key"))
}
