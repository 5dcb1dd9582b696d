//! `iam.role`: a role with its trust policy, inline policies and managed policy attachments.
//!
//! Found by name (GetRole returns its tags). IAM names are unique per account, so a create
//! retried after a lost response gets EntityAlreadyExists and reads the role instead.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value as Json};

use crate::engine::resource::{
    lookup_all, one_per_id, owned_id, plan_tags, retry_propagation, sorted, user_tags, Ctx, Desired, Error, Live,
    Resource, Result,
};
use crate::policy;
use crate::spec::types::Role;

pub struct Type;

/// IAM answers documents URL-encoded.
pub fn decode_document(s: &str) -> Json {
    let decoded = percent_decode(s);
    serde_json::from_str(&decoded).unwrap_or(Json::String(decoded))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document in a canonical form, so that AWS's re-serialisation (one-element lists
/// collapsed to a string, keys reordered) does not show as a change.
pub fn canonical(doc: &Json) -> Json {
    match doc {
        Json::Array(items) if items.len() == 1 => canonical(&items[0]),
        Json::Array(items) => {
            let mut v: Vec<Json> = items.iter().map(canonical).collect();
            if v.iter().all(Json::is_string) {
                v.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            Json::Array(v)
        }
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        other => other.clone(),
    }
}

fn trust_doc(p: &Role, cx: &Ctx) -> Json {
    cx.fill_account(policy::trust_document(&p.trust, &cx.part().def))
}

fn path_of(p: &Role) -> String {
    p.path.clone().unwrap_or_else(|| "/".into())
}

fn tags(cx: &Ctx, p: &Role) -> Vec<Tag> {
    cx.tags(&p.tags)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set"))
        .collect()
}

/// A role not yet visible to the service that must trust or use it.
fn propagating(e: &Error) -> bool {
    e.code() == Some("MalformedPolicyDocument")
        && e.aws().is_some_and(|a| a.message.contains("Invalid principal"))
}

/// A role as GetRole returned it, with its inline and attached policies (2 calls + 1 per
/// inline policy); `owned` as its tags say.
async fn live_of(cx: &Ctx, role: &aws_sdk_iam::types::Role, owned: bool) -> Result<Live> {
    let iam = &cx.clients().iam;
    let name = role.role_name();
    let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    let mut policies = serde_json::Map::new();
    let names = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| cx.aws("ListRolePolicies", e))?;
    for policy in names.policy_names() {
        let doc = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| cx.aws("GetRolePolicy", e))?;
        policies.insert(policy.clone(), canonical(&decode_document(doc.policy_document())));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| cx.aws("ListAttachedRolePolicies", e))?;
    let managed = sorted(attached.attached_policies().iter().filter_map(|a| a.policy_arn().map(str::to_string)));
    let trust = role
        .assume_role_policy_document()
        .map(|d| canonical(&decode_document(d)))
        .unwrap_or(Json::Null);
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), role.arn().to_string());
    outputs.insert("name".into(), role.role_name().to_string());
    outputs.insert("id".into(), role.role_id().to_string());
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(role.role_name()));
    attrs.insert("path".into(), json!(role.path()));
    attrs.insert("description".into(), json!(role.description().unwrap_or_default()));
    attrs.insert("trust".into(), trust);
    attrs.insert("policies".into(), Json::Object(policies));
    attrs.insert("managed_policy_arns".into(), managed);
    attrs.insert("max_session_duration".into(), json!(role.max_session_duration().unwrap_or(3600)));
    attrs.insert("tags".into(), user_tags(tags.iter().copied()));
    Ok(Live { outputs, attrs, owned, handle: Json::Null })
}

impl Resource for Type {
    type Props = Role;

    fn desired(p: &Role, cx: &Ctx) -> Result<Desired> {
        let def = &cx.part().def;
        let policies: serde_json::Map<String, Json> = p
            .policies
            .iter()
            .map(|(name, pol)| (name.clone(), canonical(&cx.fill_account(policy::inline_document(pol)))))
            .collect();
        Ok(Desired::default()
            .attr("name", p.name.as_str())
            .attr("path", path_of(p))
            .attr("description", p.description.clone().unwrap_or_default())
            .attr("trust", canonical(&cx.fill_account(policy::trust_document(&p.trust, def))))
            .attr("policies", Json::Object(policies))
            .attr("managed_policy_arns", sorted(p.managed_policy_arns.iter().cloned()))
            .attr("max_session_duration", p.max_session_duration.unwrap_or(3600))
            .attr("tags", plan_tags(&p.tags))
            .forces_replacement(&["name", "path"]))
    }

    async fn read(p: &Role, cx: &Ctx) -> Result<Option<Live>> {
        let iam = &cx.clients().iam;
        let role = match iam.get_role().role_name(&p.name).send().await {
            Ok(out) => out.role.ok_or_else(|| Error::other("GetRole returned no role"))?,
            Err(e) => {
                let e = cx.aws("GetRole", e);
                if e.code() == Some("NoSuchEntity") {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        let owned = cx.owns(role.tags().iter().map(|t| (t.key(), t.value())));
        live_of(cx, &role, owned).await.map(Some)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // IAM lists no roles by tag, and ListRoles leaves tags out: every role of the account
        // costs a GetRole (its tags, and all `read` needs of it), `LOOKUPS_AT_ONCE` at a time,
        // and each role of this plan then its policies as `read` (2 calls + 1 per inline
        // policy). For N roles that is N + N/100 + a few calls per plan, apply and destroy.
        let iam = &cx.clients().iam;
        let mut pages = iam.list_roles().into_paginator().items().send();
        let mut names = vec![];
        while let Some(r) = pages.next().await {
            let r = r.map_err(|e| cx.aws("ListRoles", e))?;
            // Service-linked roles: AWS's, never a plan's (their path cannot be created).
            if !r.path().starts_with("/aws-service-role/") {
                names.push(r.role_name().to_string());
            }
        }
        let found = lookup_all(names, |name| {
            let cx = cx.clone();
            async move {
                let got = cx.clients().iam.get_role().role_name(&name).send().await.map_err(|e| cx.aws("GetRole", e));
                // Deleted since the listing: not there.
                let Some(role) = gone_ok(got)?.and_then(|o| o.role) else { return Ok(None) };
                let Some(id) = owned_id(&cx.plan, role.tags().iter().map(|t| (t.key(), t.value()))) else {
                    return Ok(None);
                };
                Ok(gone_ok(live_of(&cx, &role, true).await)?.map(|l| (id, l)))
            }
        })
        .await?;
        Ok(one_per_id(cx, "role", found))
    }

    async fn create(p: &Role, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        // Sent as generated: the canonical form (one-element lists collapsed) is only for
        // comparing, and some parsers take `Statement` as a list only.
        let trust = trust_doc(p, cx).to_string();
        let created = retry_propagation(cx, "the trusted principal", cx.iam_propagation(), propagating, || async {
            let mut req = iam
                .create_role()
                .role_name(&p.name)
                .path(path_of(p))
                .assume_role_policy_document(&trust)
                .max_session_duration(p.max_session_duration.unwrap_or(3600) as i32)
                .set_tags(Some(tags(cx, p)));
            if let Some(d) = &p.description {
                req = req.description(d);
            }
            req.send().await.map_err(|e| cx.aws("CreateRole", e))
        })
        .await;
        match created {
            Ok(_) => {}
            // A retry of a create whose answer was lost: the role is there. Read it and
            // check it is ours before going on.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let live = Self::read(p, cx).await?.ok_or(e)?;
                if !live.owned {
                    return Err(Error::other(format!(
                        "role `{}` exists and is not owned by this plan",
                        p.name
                    )));
                }
            }
            Err(e) => return Err(e),
        }
        let live = Self::read(p, cx).await?.ok_or_else(|| Error::other("the role vanished after CreateRole"))?;
        let changed: BTreeSet<String> = ["policies", "managed_policy_arns"]
            .into_iter()
            .filter(|k| live.attrs.get(*k) != want.attrs.get(*k))
            .map(String::from)
            .collect();
        if changed.is_empty() {
            return Ok(live);
        }
        Self::update(p, &live, &changed, cx).await
    }

    async fn update(p: &Role, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        if changed.contains("trust") {
            let doc = trust_doc(p, cx).to_string();
            retry_propagation(cx, "the trusted principal", cx.iam_propagation(), propagating, || async {
                iam.update_assume_role_policy()
                    .role_name(&p.name)
                    .policy_document(&doc)
                    .send()
                    .await
                    .map_err(|e| cx.aws("UpdateAssumeRolePolicy", e))
            })
            .await?;
        }
        if changed.contains("description") || changed.contains("max_session_duration") {
            iam.update_role()
                .role_name(&p.name)
                .description(p.description.clone().unwrap_or_default())
                .max_session_duration(p.max_session_duration.unwrap_or(3600) as i32)
                .send()
                .await
                .map_err(|e| cx.aws("UpdateRole", e))?;
        }
        if changed.contains("policies") {
            let have = live.attrs.get("policies").and_then(Json::as_object).cloned().unwrap_or_default();
            let want_p = want.attrs["policies"].as_object().cloned().unwrap_or_default();
            for (name, doc) in &want_p {
                if have.get(name) != Some(doc) {
                    let raw = cx.fill_account(policy::inline_document(&p.policies[name]));
                    iam.put_role_policy()
                        .role_name(&p.name)
                        .policy_name(name)
                        .policy_document(raw.to_string())
                        .send()
                        .await
                        .map_err(|e| cx.aws("PutRolePolicy", e))?;
                }
            }
            for name in have.keys().filter(|n| !want_p.contains_key(*n)) {
                delete_inline(cx, &p.name, name).await?;
            }
        }
        if changed.contains("managed_policy_arns") {
            let have: BTreeSet<String> = string_set(live.attrs.get("managed_policy_arns"));
            let want_m: BTreeSet<String> = p.managed_policy_arns.iter().cloned().collect();
            for arn in want_m.difference(&have) {
                iam.attach_role_policy()
                    .role_name(&p.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| cx.aws("AttachRolePolicy", e))?;
            }
            for arn in have.difference(&want_m) {
                detach(cx, &p.name, arn).await?;
            }
        }
        if changed.contains("tags") || !live.owned {
            let want_tags = cx.tags(&p.tags);
            iam.tag_role()
                .role_name(&p.name)
                .set_tags(Some(tags(cx, p)))
                .send()
                .await
                .map_err(|e| cx.aws("TagRole", e))?;
            let stale: Vec<String> = live
                .attrs
                .get("tags")
                .and_then(Json::as_object)
                .map(|m| m.keys().filter(|k| !want_tags.contains_key(*k)).cloned().collect())
                .unwrap_or_default();
            if !stale.is_empty() {
                iam.untag_role()
                    .role_name(&p.name)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| cx.aws("UntagRole", e))?;
            }
        }
        Self::read(p, cx).await?.ok_or_else(|| Error::other("the role vanished during update"))
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let iam = &cx.clients().iam;
        let name = live.outputs.get("name").cloned().unwrap_or_default();
        // IAM refuses to delete a role that still has policies or instance profiles.
        let profiles = match iam.list_instance_profiles_for_role().role_name(&name).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = cx.aws("ListInstanceProfilesForRole", e);
                return if e.code() == Some("NoSuchEntity") { Ok(()) } else { Err(e) };
            }
        };
        for ip in profiles.instance_profiles() {
            gone_ok(
                iam.remove_role_from_instance_profile()
                    .instance_profile_name(ip.instance_profile_name())
                    .role_name(&name)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| cx.aws("RemoveRoleFromInstanceProfile", e)),
            )?;
        }
        let inline = iam
            .list_role_policies()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| cx.aws("ListRolePolicies", e));
        for p in gone_ok(inline)?.map(|o| o.policy_names().to_vec()).unwrap_or_default() {
            delete_inline(cx, &name, &p).await?;
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| cx.aws("ListAttachedRolePolicies", e));
        for a in gone_ok(attached)?.map(|o| o.attached_policies().to_vec()).unwrap_or_default() {
            if let Some(arn) = a.policy_arn() {
                detach(cx, &name, arn).await?;
            }
        }
        gone_ok(
            iam.delete_role()
                .role_name(&name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cx.aws("DeleteRole", e)),
        )?;
        Ok(())
    }
}

fn string_set(v: Option<&Json>) -> BTreeSet<String> {
    v.and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// NoSuchEntity on a delete means the work is done (a retry after a lost response).
pub fn gone_ok<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn delete_inline(cx: &Ctx, role: &str, name: &str) -> Result<()> {
    gone_ok(
        cx.clients()
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cx.aws("DeleteRolePolicy", e)),
    )
    .map(|_| ())
}

async fn detach(cx: &Ctx, role: &str, arn: &str) -> Result<()> {
    gone_ok(
        cx.clients()
            .iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cx.aws("DetachRolePolicy", e)),
    )
    .map(|_| ())
}
