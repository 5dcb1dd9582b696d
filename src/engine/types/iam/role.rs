//! `iam.role`: a role with its trust policy, inline policies and managed policy attachments.
//!
//! Found by name (GetRole returns its tags). IAM names are unique per account, so a create
//! retried after a lost response gets EntityAlreadyExists and reads the role instead. Every
//! role lives under the plan's IAM path (`plan_path`), which is how `find_owned` lists the
//! plan's roles alone, whatever else the account holds.
//!
//! Round trips: `read` is GetRole ∥ ListRolePolicies ∥ ListAttachedRolePolicies ∥ GetRolePolicy
//! of each policy the plan declares (1), and a GetRolePolicy of any other the listing shows
//! (one more, only then). `create` is CreateRole, then every PutRolePolicy and
//! AttachRolePolicy at once (2), and returns what it wrote without reading it back; `update`
//! makes its independent calls at once too.

use crate::aws::AwsError;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value as Json};

use super::*;
use crate::engine::resource::{
    owned_id, owned_in_order, plan_tags, retry_propagation, sorted, user_tags, Attrs, Ctx, Desired,
    Error, Live, Propagation, Resource, Result,
};
use crate::engine::types::shared::answered;
use crate::engine::types::shared::lookup_all;
use crate::engine::types::shared::{exists_as_ours, to_plan};
use crate::lint::{kinds, limits, names, Checker, Env, NameCheck, Rules};
use crate::plan::types::Role;
use crate::plan::Path as PropPath;
use crate::policy;

const PRINCIPAL: Propagation = Propagation {
    what: "the trusted principal",
    bound: Ctx::iam_propagation,
    pending: propagating,
};

fn trust_doc(p: &Role, cx: &Ctx) -> Json {
    cx.fill_account(policy::trust_document(&p.trust, &cx.part().def))
}

fn path_of(p: &Role, cx: &Ctx) -> String {
    path_in_plan(&cx.owner, p.path.as_deref())
}

fn tags(cx: &Ctx, p: &Role) -> Vec<Tag> {
    crate::engine::types::shared::sdk_tags!(cx, &p.tags, Tag)
}

/// A role not yet visible to the service that must trust or use it.
fn propagating(e: &Error) -> bool {
    e.aws().is_some_and(AwsError::is_iam_principal_not_visible)
}

/// The role by name; None when there is none.
async fn get_role(cx: &Ctx, name: &str) -> Result<Option<aws_sdk_iam::types::Role>> {
    let got = cx
        .call(
            "GetRole",
            cx.clients().iam.get_role().role_name(name).send(),
        )
        .await;
    match gone_ok(got, IAM_GONE)? {
        Some(out) => out
            .role
            .map(Some)
            .ok_or_else(|| Error::other("GetRole returned no role")),
        None => Ok(None),
    }
}

/// A role's inline policies, canonical, by name: ListRolePolicies ∥ GetRolePolicy of each of
/// `expected` (the names the plan declares), then GetRolePolicy of any other the listing shows.
/// One round trip while the role has the policies the plan names, two when it has others.
async fn inline_policies(
    cx: &Ctx,
    role: &str,
    expected: &[String],
) -> Result<serde_json::Map<String, Json>> {
    let iam = &cx.clients().iam;
    let get = |policy: String| async move {
        let got = cx
            .call(
                "GetRolePolicy",
                iam.get_role_policy()
                    .role_name(role)
                    .policy_name(&policy)
                    .send(),
            )
            .await;
        // Not there (never put, or deleted meanwhile).
        Ok(gone_ok(got, IAM_GONE)?
            .map(|doc| (policy, canonical(&decode_document(doc.policy_document())))))
    };
    let listed = cx.call(
        "ListRolePolicies",
        iam.list_role_policies().role_name(role).send(),
    );
    let (listed, early) = tokio::join!(listed, all(expected.iter().cloned().map(get)));
    let listed: BTreeSet<String> = listed?.policy_names().iter().cloned().collect();
    // A policy read by name is there, whether or not the listing (which may lag) shows it.
    let mut docs: serde_json::Map<String, Json> = early?.into_iter().flatten().collect();
    let others: Vec<String> = listed
        .into_iter()
        .filter(|n| !docs.contains_key(n))
        .collect();
    docs.extend(
        all(others.into_iter().map(get))
            .await?
            .into_iter()
            .flatten(),
    );
    Ok(docs)
}

/// A role's attached managed policies, as the `managed_policy_arns` attribute (1 call).
async fn attached_policies(cx: &Ctx, role: &str) -> Result<Json> {
    let attached = cx
        .call(
            "ListAttachedRolePolicies",
            cx.clients()
                .iam
                .list_attached_role_policies()
                .role_name(role)
                .send(),
        )
        .await?;
    Ok(sorted(
        attached
            .attached_policies()
            .iter()
            .filter_map(|a| a.policy_arn().map(str::to_string)),
    ))
}

/// A role's policies, inline and attached, fetched at once (see `inline_policies`: `expected`
/// are the inline policy names to ask for at once); None when the role went away meanwhile.
async fn policies_of(
    cx: &Ctx,
    role: &str,
    expected: &[String],
) -> Result<Option<(serde_json::Map<String, Json>, Json)>> {
    let (inline, attached) = tokio::join!(
        inline_policies(cx, role, expected),
        attached_policies(cx, role)
    );
    match (gone_ok(inline, IAM_GONE)?, gone_ok(attached, IAM_GONE)?) {
        (Some(i), Some(a)) => Ok(Some((i, a))),
        _ => Ok(None),
    }
}

/// The outputs of a role.
fn outputs_of(role: &aws_sdk_iam::types::Role) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), role.arn().to_string());
    outputs.insert("name".into(), role.role_name().to_string());
    outputs.insert("id".into(), role.role_id().to_string());
    outputs
}

/// A role as GetRole returned it, with its inline and attached policies; `owned` as its tags
/// say.
fn live_of(
    role: &aws_sdk_iam::types::Role,
    policies: serde_json::Map<String, Json>,
    managed: Json,
    owned: bool,
) -> Live {
    let tags: Vec<(&str, &str)> = role.tags().iter().map(|t| (t.key(), t.value())).collect();
    let trust = role
        .assume_role_policy_document()
        .map(|d| canonical(&decode_document(d)))
        .unwrap_or(Json::Null);
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(role.role_name()));
    attrs.insert("path".into(), json!(role.path()));
    attrs.insert(
        "description".into(),
        json!(role.description().unwrap_or_default()),
    );
    attrs.insert("trust".into(), trust);
    attrs.insert("policies".into(), Json::Object(policies));
    attrs.insert("managed_policy_arns".into(), managed);
    attrs.insert(
        "max_session_duration".into(),
        json!(role.max_session_duration().unwrap_or(3600)),
    );
    attrs.insert("tags".into(), user_tags(tags.iter().copied()));
    Live::new(outputs_of(role), attrs, owned)
}

impl Resource for Role {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = Some("name");
    type Handle = ();

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        let def = &cx.part().def;
        let policies: serde_json::Map<String, Json> = p
            .policies
            .iter()
            .map(|(name, pol)| {
                (
                    name.clone(),
                    canonical(&cx.fill_account(policy::inline_document(pol))),
                )
            })
            .collect();
        Ok(desired_at::<Self>(&p.name, path_of(p, cx))
            .attr("description", p.description.clone().unwrap_or_default())
            .attr(
                "trust",
                canonical(&cx.fill_account(policy::trust_document(&p.trust, def))),
            )
            .attr("policies", Json::Object(policies))
            .attr(
                "managed_policy_arns",
                sorted(p.managed_policy_arns.iter().cloned()),
            )
            .attr(
                "max_session_duration",
                p.max_session_duration.unwrap_or(3600),
            )
            .attr("tags", plan_tags(&p.tags))
            .forces_replacement(&["name", "path"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        // The role and its policies at once; the policy calls fail alike when it is absent.
        let expected: Vec<String> = p.policies.keys().cloned().collect();
        let (role, policies) =
            tokio::join!(get_role(cx, &p.name), policies_of(cx, &p.name, &expected));
        let Some(role) = role? else { return Ok(None) };
        // Deleted between the calls: absent, as a read a moment later would say.
        let Some((inline, attached)) = policies? else {
            return Ok(None);
        };
        let owned = cx.owns(role.tags().iter().map(|t| (t.key(), t.value())));
        Ok(Some(live_of(&role, inline, attached, owned)))
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        // Sent as generated: the canonical form (one-element lists collapsed) is only for
        // comparing, and some parsers take `Statement` as a list only.
        let trust = trust_doc(p, cx).to_string();
        let created = retry_propagation(cx, &PRINCIPAL, || async {
            let mut req = iam
                .create_role()
                .role_name(&p.name)
                .path(path_of(p, cx))
                .assume_role_policy_document(&trust)
                .max_session_duration(p.max_session_duration.unwrap_or(3600) as i32)
                .set_tags(Some(tags(cx, p)));
            if let Some(d) = &p.description {
                req = req.description(d);
            }
            req.send().await.map_err(|e| cx.aws("CreateRole", e))
        })
        .await;
        let role = match created {
            Ok(out) => answered(out.role, "CreateRole returned no role")?,
            // A retry of a create whose answer was lost, or a run cut short after it: the role
            // is there, in a state this run does not know. Read it, check it is ours, and
            // bring it to the plan.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let live = exists_as_ours(p, cx, e, &format!("role `{}`", p.name)).await?;
                let changed: BTreeSet<String> = changed_attrs(&want, &live)
                    .into_iter()
                    .filter(|k| !want.replace_on.contains(k))
                    .collect();
                return to_plan(p, cx, live, changed).await;
            }
            Err(e) => return Err(e),
        };
        // What CreateRole made: the plan's role (as sent, tags included), no policies yet. The
        // update puts and attaches them all at once and says what the role is then.
        let mut attrs: Attrs = want.attrs.clone();
        attrs.insert("policies".into(), json!({}));
        attrs.insert("managed_policy_arns".into(), json!([]));
        let made = Live::new(outputs_of(&role), attrs, true);
        let changed = changed_attrs(&want, &made);
        to_plan(p, cx, made, changed).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        // What to send, worked out first; then every call at once (each sets a different part
        // of the role), and the role is what the plan says.
        let trust = changed
            .contains("trust")
            .then(|| trust_doc(p, cx).to_string());
        let settings = changed.contains("description") || changed.contains("max_session_duration");
        let (mut put, mut remove) = (vec![], vec![]);
        if changed.contains("policies") {
            let have = live
                .attrs
                .get("policies")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            let want_p = want.attrs["policies"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (name, doc) in &want_p {
                if have.get(name) != Some(doc) {
                    let raw = cx.fill_account(policy::inline_document(&p.policies[name]));
                    put.push((name.clone(), raw.to_string()));
                }
            }
            remove.extend(have.keys().filter(|n| !want_p.contains_key(*n)).cloned());
        }
        let (mut attach, mut detach) = (vec![], vec![]);
        if changed.contains("managed_policy_arns") {
            let have: BTreeSet<String> = string_set(live.attrs.get("managed_policy_arns"));
            let want_m: BTreeSet<String> = p.managed_policy_arns.iter().cloned().collect();
            attach.extend(want_m.difference(&have).cloned());
            detach.extend(have.difference(&want_m).cloned());
        }
        let retag = changed.contains("tags") || !live.owned;
        let stale = cx.stale_tags(live, &p.tags, retag);

        let mut jobs: Vec<Call<'_>> = vec![];
        if let Some(doc) = &trust {
            jobs.push(Box::pin(async move {
                retry_propagation(cx, &PRINCIPAL, || async {
                    cx.run(
                        "UpdateAssumeRolePolicy",
                        iam.update_assume_role_policy()
                            .role_name(&p.name)
                            .policy_document(doc)
                            .send(),
                    )
                    .await
                })
                .await
            }));
        }
        if settings {
            jobs.push(Box::pin(async move {
                cx.run(
                    "UpdateRole",
                    iam.update_role()
                        .role_name(&p.name)
                        .description(p.description.clone().unwrap_or_default())
                        .max_session_duration(p.max_session_duration.unwrap_or(3600) as i32)
                        .send(),
                )
                .await
            }));
        }
        for (name, doc) in &put {
            jobs.push(Box::pin(async move {
                cx.run(
                    "PutRolePolicy",
                    iam.put_role_policy()
                        .role_name(&p.name)
                        .policy_name(name)
                        .policy_document(doc)
                        .send(),
                )
                .await
            }));
        }
        for name in &remove {
            jobs.push(Box::pin(delete_inline(cx, &p.name, name)));
        }
        for arn in &attach {
            jobs.push(Box::pin(attach_policy(cx, &p.name, arn)));
        }
        for arn in &detach {
            jobs.push(Box::pin(detach_policy(cx, &p.name, arn)));
        }
        crate::engine::types::shared::retag_jobs! {
            jobs, cx, retag, tags(cx, p), stale,
            "TagRole" => iam.tag_role().role_name(&p.name),
            "UntagRole" => iam.untag_role().role_name(&p.name)
        }
        all(jobs).await?;
        Ok(converged(live, &want, changed))
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let name = live.output("name")?.to_string();
        let iam = &cx.clients().iam;
        // IAM refuses to delete a role that still has policies or instance profiles.
        let listed = iam
            .list_instance_profiles_for_role()
            .role_name(&name)
            .send();
        let Some(profiles) =
            unless_gone(cx, "ListInstanceProfilesForRole", IAM_GONE, listed).await?
        else {
            return Ok(());
        };
        for ip in profiles.instance_profiles() {
            remove_from_profile(cx, ip.instance_profile_name(), &name).await?;
        }
        let listed = iam.list_role_policies().role_name(&name).send();
        let inline = unless_gone(cx, "ListRolePolicies", IAM_GONE, listed).await?;
        for p in inline.iter().flat_map(|o| o.policy_names()) {
            delete_inline(cx, &name, p).await?;
        }
        let listed = iam.list_attached_role_policies().role_name(&name).send();
        let attached = unless_gone(cx, "ListAttachedRolePolicies", IAM_GONE, listed).await?;
        for a in attached.iter().flat_map(|o| o.attached_policies()) {
            if let Some(arn) = a.policy_arn() {
                detach_policy(cx, &name, arn).await?;
            }
        }
        let sent = iam.delete_role().role_name(&name).send();
        unless_gone(cx, "DeleteRole", IAM_GONE, sent)
            .await
            .map(|_| ())
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // IAM lists no roles by tag and ListRoles leaves tags out, but it filters by path: the
        // plan's path holds its roles and nothing else of the account, so this is one listing
        // (100 a page) whether the account holds ten roles or ten thousand. A listed role the
        // plan no longer has (or under another of its names) costs a GetRole for its tags
        // and, when they say it is ours, its policies.
        let iam = &cx.clients().iam;
        let mut pages = iam
            .list_roles()
            .path_prefix(plan_path(&cx.owner))
            .into_paginator()
            .items()
            .send();
        let mut names = vec![];
        while let Some(r) = pages.next().await {
            let r = r.map_err(|e| cx.aws("ListRoles", e))?;
            // The plan's own roles were just read by name.
            if !cx.planned_name(r.role_name()) {
                names.push(r.role_name().to_string());
            }
        }
        let found = lookup_all(names, |name| {
            let cx = cx.clone();
            async move {
                // Deleted since the listing: not there.
                let Some(role) = get_role(&cx, &name).await? else {
                    return Ok(None);
                };
                let Some(id) =
                    owned_id(&cx.owner, role.tags().iter().map(|t| (t.key(), t.value())))
                else {
                    return Ok(None);
                };
                let Some((inline, attached)) = policies_of(&cx, &name, &[]).await? else {
                    return Ok(None);
                };
                Ok(Some((id, live_of(&role, inline, attached, true))))
            }
        })
        .await?;
        Ok(owned_in_order(found))
    }
}

fn string_set(v: Option<&Json>) -> BTreeSet<String> {
    v.and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Rules for Role {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::role_rules(cx, at, self);
        limits::role_limits(cx, at, self);
    }
    fn documents(&self, at: &PropPath) -> Vec<(PropPath, Json)> {
        let mut docs = vec![];
        if let Some(d) = &self.trust.document {
            docs.push((at.key("trust").key("document"), policy::yaml_to_json(d)));
        }
        for (n, pol) in &self.policies {
            if let Some(d) = &pol.document {
                let doc_at = at.key("policies").key(n).key("document");
                docs.push((doc_at, policy::yaml_to_json(d)));
            }
        }
        docs
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::ROLE_NAME))]
    }
}
