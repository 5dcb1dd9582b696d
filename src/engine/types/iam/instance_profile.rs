//! `iam.instance_profile`: an instance profile holding one role.
//!
//! Found by name (GetInstanceProfile returns its tags and roles). IAM names are unique per
//! account, so a create retried after a lost response gets EntityAlreadyExists and reads the
//! profile instead. Every profile lives under the plan's IAM path (`plan_path`), which is how
//! `find_owned` lists the plan's alone. A role created seconds earlier may not be visible to the profile API yet:
//! adding it is retried on NoSuchEntity within the IAM propagation bound.
//!
//! Round trips: `read` is one GetInstanceProfile; `create` is CreateInstanceProfile, then
//! AddRoleToInstanceProfile (2), returning what it made without reading it back.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value as Json};

use super::{
    all, converged, desired_at, gone_ok, path_in_plan, plan_path, remove_from_profile, unless_gone,
    Call, IAM_GONE,
};
use crate::engine::resource::{
    owned_id, owned_in_order, plan_tags, retry_propagation, until_seen, user_tags, Ctx, Desired,
    Error, Live, Propagation, Resource, Result,
};
use crate::engine::types::shared::lookup_all;
use crate::engine::types::shared::{exists_as_ours, settle};
use crate::lint::{limits, names, Checker, Env, NameCheck, Rules};
use crate::plan::types::InstanceProfile;
use crate::plan::Path as PropPath;

const ROLE: Propagation = Propagation {
    what: "the role",
    bound: Ctx::iam_propagation,
    pending: |e| e.code() == Some("NoSuchEntity"),
};

fn path_of(p: &InstanceProfile, cx: &Ctx) -> String {
    path_in_plan(&cx.owner, p.path.as_deref())
}

fn tags(cx: &Ctx, p: &InstanceProfile) -> Vec<Tag> {
    crate::engine::types::shared::sdk_tags!(cx, &p.tags, Tag)
}

async fn add_role(cx: &Ctx, profile: &str, role: &str) -> Result<()> {
    let iam = &cx.clients().iam;
    let added = retry_propagation(cx, &ROLE, || async {
        cx.run(
            "AddRoleToInstanceProfile",
            iam.add_role_to_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send(),
        )
        .await
    })
    .await;
    match added {
        // A profile holds one role: LimitExceeded means it has one already. Fine when it is
        // this one (a retry after a lost answer); otherwise say which.
        Err(e) if e.code() == Some("LimitExceeded") => match current_role(cx, profile).await? {
            Some(r) if r == role => Ok(()),
            Some(r) => Err(Error::other(format!(
                "instance profile `{profile}` already holds role `{r}`, not `{role}`"
            ))),
            None => Err(e),
        },
        other => other,
    }
}

/// The role the profile holds. Asked when IAM has just said it holds one, of a profile that
/// may be seconds old: a read that does not find the profile yet is a read that lags, and it
/// looks again (`until_seen`).
async fn current_role(cx: &Ctx, profile: &str) -> Result<Option<String>> {
    let read = || async {
        let got = cx
            .clients()
            .iam
            .get_instance_profile()
            .instance_profile_name(profile)
            .send()
            .await
            .map_err(|e| cx.aws("GetInstanceProfile", e));
        match got {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
        }
    };
    let out = until_seen(cx, "the instance profile", read).await?;
    Ok(out
        .and_then(|o| o.instance_profile)
        .and_then(|ip| ip.roles.into_iter().next())
        .map(|r| r.role_name))
}

/// A profile as GetInstanceProfile returned it; `owned` as its tags say.
fn live_of(ip: &aws_sdk_iam::types::InstanceProfile, owned: bool) -> Live {
    let tags: Vec<(&str, &str)> = ip.tags().iter().map(|t| (t.key(), t.value())).collect();
    let role = ip.roles().first().map(|r| r.role_name().to_string());
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), ip.arn().to_string());
    outputs.insert("name".into(), ip.instance_profile_name().to_string());
    outputs.insert("id".into(), ip.instance_profile_id().to_string());
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(ip.instance_profile_name()));
    attrs.insert("path".into(), json!(ip.path()));
    attrs.insert("role".into(), json!(role));
    attrs.insert("tags".into(), user_tags(tags.iter().copied()));
    Live::new(outputs, attrs, owned)
}

impl Resource for InstanceProfile {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = Some("name");
    type Handle = ();

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        Ok(desired_at::<Self>(&p.name, path_of(p, cx))
            .attr("role", p.role.as_str())
            .attr("tags", plan_tags(&p.tags))
            .forces_replacement(&["name", "path"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        let ip = match cx
            .clients()
            .iam
            .get_instance_profile()
            .instance_profile_name(&p.name)
            .send()
            .await
        {
            Ok(out) => out
                .instance_profile
                .ok_or_else(|| Error::other("GetInstanceProfile returned no instance profile"))?,
            Err(e) => {
                let e = cx.aws("GetInstanceProfile", e);
                return if e.code() == Some("NoSuchEntity") {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let owned = cx.owns(ip.tags().iter().map(|t| (t.key(), t.value())));
        Ok(Some(live_of(&ip, owned)))
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        let created = cx
            .call(
                "CreateInstanceProfile",
                iam.create_instance_profile()
                    .instance_profile_name(&p.name)
                    .path(path_of(p, cx))
                    .set_tags(Some(tags(cx, p)))
                    .send(),
            )
            .await;
        let made = match created {
            // What CreateInstanceProfile made: the plan's profile (tags as sent), no role yet.
            Ok(out) => {
                let ip = out.instance_profile.ok_or_else(|| {
                    Error::other("CreateInstanceProfile returned no instance profile")
                })?;
                let mut made = live_of(&ip, true);
                made.attrs.insert("tags".into(), plan_tags(&p.tags));
                made.attrs.insert("role".into(), Json::Null);
                made
            }
            // A retry of a create whose answer was lost, or a run cut short after it: read it
            // and check it is ours before going on.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                exists_as_ours(p, cx, e, &format!("instance profile `{}`", p.name)).await?
            }
            Err(e) => return Err(e),
        };
        settle(p, made, &want, &["role", "tags"], cx).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let iam = &cx.clients().iam;
        let want = Self::desired(p, cx)?;
        let retag = changed.contains("tags") || !live.owned;
        let stale = cx.stale_tags(live, &p.tags, retag);
        // The role swap (one after the other: a profile holds one role) and the tags at once.
        let mut jobs: Vec<Call<'_>> = vec![];
        if changed.contains("role") {
            jobs.push(Box::pin(async move {
                if let Some(old) = live.attrs.get("role").and_then(Json::as_str) {
                    remove_from_profile(cx, &p.name, old).await?;
                }
                add_role(cx, &p.name, &p.role).await
            }));
        }
        crate::engine::types::shared::retag_jobs! {
            jobs, cx, retag, tags(cx, p), stale,
            "TagInstanceProfile" => iam.tag_instance_profile().instance_profile_name(&p.name),
            "UntagInstanceProfile" => iam.untag_instance_profile().instance_profile_name(&p.name)
        }
        all(jobs).await?;
        Ok(converged(live, &want, changed))
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let name = live.output("name")?.to_string();
        let iam = &cx.clients().iam;
        // IAM refuses to delete a profile that still holds a role; read the roles afresh, as
        // the one in `live` may have been swapped since.
        let got = iam
            .get_instance_profile()
            .instance_profile_name(&name)
            .send();
        let Some(out) = unless_gone(cx, "GetInstanceProfile", IAM_GONE, got).await? else {
            return Ok(());
        };
        for role in out.instance_profile.map(|ip| ip.roles).unwrap_or_default() {
            remove_from_profile(cx, &name, &role.role_name).await?;
        }
        let sent = iam
            .delete_instance_profile()
            .instance_profile_name(&name)
            .send();
        unless_gone(cx, "DeleteInstanceProfile", IAM_GONE, sent)
            .await
            .map(|_| ())
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // IAM lists no profiles by tag, and ListInstanceProfiles leaves tags out, but it filters
        // by path: the plan's path holds its profiles alone, so this is one listing (100 a
        // page) whatever the account holds. A listed profile the plan no longer has costs a
        // GetInstanceProfile (its tags and roles: all `read` needs).
        let mut pages = cx
            .clients()
            .iam
            .list_instance_profiles()
            .path_prefix(plan_path(&cx.owner))
            .into_paginator()
            .items()
            .send();
        let mut names = vec![];
        while let Some(ip) = pages.next().await {
            let name = ip
                .map_err(|e| cx.aws("ListInstanceProfiles", e))?
                .instance_profile_name()
                .to_string();
            // The plan's own profiles were just read by name.
            if !cx.planned_name(&name) {
                names.push(name);
            }
        }
        let found = lookup_all(names, |name| {
            let cx = cx.clone();
            async move {
                let got = cx
                    .call(
                        "GetInstanceProfile",
                        cx.clients()
                            .iam
                            .get_instance_profile()
                            .instance_profile_name(&name)
                            .send(),
                    )
                    .await;
                // Deleted since the listing: not there.
                let Some(ip) = gone_ok(got, IAM_GONE)?.and_then(|o| o.instance_profile) else {
                    return Ok(None);
                };
                let id = owned_id(&cx.owner, ip.tags().iter().map(|t| (t.key(), t.value())));
                Ok(id.map(|id| (id, live_of(&ip, true))))
            }
        })
        .await?;
        Ok(owned_in_order(found))
    }
}

impl Rules for InstanceProfile {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        names::check_name(
            cx,
            &at.key("name"),
            &self.name,
            &names::INSTANCE_PROFILE_NAME,
        );
        if let Some(p) = &self.path {
            limits::check_iam_path(cx, &at.key("path"), p);
        }
        limits::check_tags(cx, at, &self.tags);
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::INSTANCE_PROFILE_NAME))]
    }
}
