//! `rolesanywhere.profile`: the roles a Roles Anywhere session may assume, and what limits it.
//!
//! Found like a trust anchor (see `trust_anchor`): ListProfiles by name, then the tags tell
//! ours from a foreign same-named one. CreateProfile cannot be deduplicated either, so it runs
//! through `create_once` with that lookup. Lists are compared sorted and the session policy in
//! canonical form, so AWS's ordering and re-serialisation never show as changes.
//!
//! Round trips: `read` is ListProfiles (1, with the shared tag index; without it, then
//! ListTagsForResource: 2); `create` is one
//! CreateProfile, whose answer is the live profile; `update` returns what it set without
//! reading it back.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rolesanywhere::operation::create_profile::CreateProfileOutput;
use aws_sdk_rolesanywhere::types::{AttributeMapping, MappingRule, ProfileDetail};
use serde_json::{json, Value as Json};

use super::{
    create_tagged, delete_by_id, need, ra_tags, settle, switch, tags_attr, update_with, NOT_FOUND,
};
use crate::engine::resource::{plan_tags, sorted, Ctx, Desired, Error, Live, Resource, Result};
use crate::lint::{kinds, limits, names, one_document, Checker, Env, NameCheck, Rules};
use crate::plan::types::{CertificateField, Profile};
use crate::plan::Path as PropPath;
use crate::policy::canonical;

const DEFAULT_DURATION: u32 = 3600;

fn duration(p: &Profile) -> u32 {
    p.duration_seconds.unwrap_or(DEFAULT_DURATION)
}

/// The session policy as compared: canonical JSON, or null for none.
fn session_policy(p: &Profile, cx: &Ctx) -> Result<Json> {
    let Some(doc) = &p.session_policy else {
        return Ok(Json::Null);
    };
    let doc: Json = serde_json::to_value(doc)
        .map_err(|e| Error::caused("session_policy is not a JSON document", e))?;
    // A document written as a JSON string in the plan is the same document.
    let doc = match doc {
        Json::String(s) => serde_json::from_str(&s).unwrap_or(Json::String(s)),
        other => other,
    };
    Ok(canonical(&cx.fill_account(doc)))
}

/// The session policy as sent: None for none.
fn session_policy_text(p: &Profile, cx: &Ctx) -> Result<Option<String>> {
    Ok(match session_policy(p, cx)? {
        Json::Null => None,
        doc => Some(doc.to_string()),
    })
}

/// The attribute mapping as compared: by field, its specifiers sorted; a field that maps
/// nothing left out.
fn mappings_live(m: &[AttributeMapping]) -> Json {
    let out: BTreeMap<&str, BTreeSet<String>> = CertificateField::ALL
        .iter()
        .map(|f| (f.as_str(), specifiers(m, *f)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    json!(out)
}

/// The specifiers a mapping maps of `field`.
fn specifiers(m: &[AttributeMapping], field: CertificateField) -> BTreeSet<String> {
    m.iter()
        .filter(|a| a.certificate_field().map(|f| f.as_str()) == Some(field.as_str()))
        .flat_map(|a| a.mapping_rules().iter().map(|r| r.specifier().to_string()))
        .collect()
}

/// The mapping the plan asks for: its own, or Roles Anywhere's default when it gives none.
fn mappings_desired(p: &Profile) -> BTreeMap<CertificateField, BTreeSet<String>> {
    let mut out: BTreeMap<CertificateField, BTreeSet<String>> = match &p.attribute_mappings {
        Some(m) => m
            .iter()
            .map(|(f, s)| (*f, s.iter().cloned().collect()))
            .collect(),
        None => CertificateField::ALL
            .iter()
            .map(|f| {
                (
                    *f,
                    f.default_specifiers()
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                )
            })
            .collect(),
    };
    out.retain(|_, v| !v.is_empty());
    out
}

fn mappings_attr(p: &Profile) -> Json {
    let want = mappings_desired(p);
    json!(want
        .iter()
        .map(|(f, s)| (f.as_str(), s))
        .collect::<BTreeMap<_, _>>())
}

/// Bring the profile's attribute mapping to the plan, field by field: PutAttributeMapping with
/// the plan's specifiers, then DeleteAttributeMapping of any other the answer still shows
/// (whether Put replaces a field's rules or adds to them, the field ends as planned); a field
/// the plan maps nothing from is deleted whole.
async fn map_attributes(p: &Profile, live: &Live, cx: &Ctx, id: &str) -> Result<()> {
    let ra = &cx.clients().rolesanywhere;
    let want = mappings_desired(p);
    let have = live.attrs.get("attribute_mappings");
    for field in CertificateField::ALL {
        let wanted: Vec<String> = want
            .get(&field)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let had: BTreeSet<String> = have
            .and_then(|h| h.get(field.as_str()))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if had.iter().eq(wanted.iter()) {
            continue;
        }
        let api_field = aws_sdk_rolesanywhere::types::CertificateField::from(field.as_str());
        // What to delete: the whole field when the plan maps nothing of it, else what the
        // answer to the Put still shows beyond the plan's.
        let mut extra = None;
        if !wanted.is_empty() {
            let rules = wanted
                .iter()
                .map(|s| MappingRule::builder().specifier(s).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::caused("mapping rule", e))?;
            let out = cx
                .call(
                    "PutAttributeMapping",
                    ra.put_attribute_mapping()
                        .profile_id(id)
                        .certificate_field(api_field.clone())
                        .set_mapping_rules(Some(rules))
                        .send(),
                )
                .await?;
            let now = out
                .profile
                .map(|pr| specifiers(pr.attribute_mappings(), field))
                .unwrap_or_default();
            let beyond: Vec<String> = now.into_iter().filter(|s| !wanted.contains(s)).collect();
            if beyond.is_empty() {
                continue;
            }
            extra = Some(beyond);
        }
        cx.call(
            "DeleteAttributeMapping",
            ra.delete_attribute_mapping()
                .profile_id(id)
                .certificate_field(api_field)
                .set_specifiers(extra)
                .send(),
        )
        .await?;
    }
    Ok(())
}

fn live_of(pr: &ProfileDetail, tags: &[(String, String)], owned: bool) -> Result<Live> {
    let name = need(pr.name(), "name")?;
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "arn".into(),
        need(pr.profile_arn(), "profileArn")?.to_string(),
    );
    outputs.insert("id".into(), need(pr.profile_id(), "profileId")?.to_string());
    outputs.insert("name".into(), name.to_string());
    let policy = pr
        .session_policy()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            canonical(&serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.to_string())))
        })
        .unwrap_or(Json::Null);
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("roles".into(), sorted(pr.role_arns().iter().cloned()));
    attrs.insert(
        "duration_seconds".into(),
        json!(pr
            .duration_seconds()
            .map_or(DEFAULT_DURATION as i64, i64::from)),
    );
    attrs.insert("enabled".into(), json!(pr.enabled().unwrap_or(false)));
    attrs.insert(
        "managed_policy_arns".into(),
        sorted(pr.managed_policy_arns().iter().cloned()),
    );
    attrs.insert("session_policy".into(), policy);
    attrs.insert(
        "accept_role_session_name".into(),
        json!(pr.accept_role_session_name().unwrap_or(false)),
    );
    attrs.insert(
        "attribute_mappings".into(),
        mappings_live(pr.attribute_mappings()),
    );
    attrs.insert("tags".into(), tags_attr(tags));
    Ok(Live::new(outputs, attrs, owned))
}

super::listed! {
    Profile: ProfileDetail, list_profiles "ListProfiles", name name, arn profile_arn, live live_of
}

/// Attributes UpdateProfile sets (all of them in one call).
const UPDATABLE: &[&str] = &[
    "name",
    "roles",
    "duration_seconds",
    "managed_policy_arns",
    "session_policy",
    "accept_role_session_name",
];

impl Resource for Profile {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = Some("name");
    type Handle = ();

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("roles", sorted(p.roles.iter().cloned()))
            .attr("duration_seconds", duration(p))
            .attr("enabled", p.enabled)
            .attr(
                "managed_policy_arns",
                sorted(p.managed_policy_arns.iter().cloned()),
            )
            .attr("session_policy", session_policy(p, cx)?)
            .attr("accept_role_session_name", p.accept_role_session_name)
            .attr("attribute_mappings", mappings_attr(p))
            .attr("tags", plan_tags(&p.tags)))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        super::read_by_listing(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let policy = session_policy_text(p, cx)?;
        let send = || {
            ra.create_profile()
                .name(&p.name)
                .set_role_arns(Some(p.roles.clone()))
                .duration_seconds(duration(p) as i32)
                .enabled(p.enabled)
                .set_managed_policy_arns(Some(p.managed_policy_arns.clone()))
                .set_session_policy(policy.clone())
                .accept_role_session_name(p.accept_role_session_name)
                .set_tags(Some(ra_tags(cx, &p.tags)))
                .customize()
                .config_override(crate::aws::once::rolesanywhere())
                .send()
        };
        let made = |o: CreateProfileOutput, sent: &[(String, String)]| {
            o.profile.map(|pr| live_of(&pr, sent, true))
        };
        let op = ("CreateProfile", "CreateProfile returned no profile");
        let made = create_tagged(p, cx, op, send, made).await?;
        let live = settle(p, cx, made).await?;
        // CreateProfile takes no attribute mapping: a plan's own is put after.
        let want = Self::desired(p, cx)?;
        if live.attrs.get("attribute_mappings") == want.attrs.get("attribute_mappings") {
            return Ok(live);
        }
        let changed = BTreeSet::from(["attribute_mappings".to_string()]);
        Self::update(p, &live, &changed, cx).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let id = live.output("id")?.to_string();
        let policy = session_policy_text(p, cx)?.unwrap_or_default();
        // The profile's own settings one after the other; its tags alongside.
        let settings = async {
            if UPDATABLE.iter().any(|a| changed.contains(*a)) {
                // UpdateProfile leaves out what it is not given, so removing the session policy
                // sends an empty one (as the Terraform provider does).
                ra.update_profile()
                    .profile_id(&id)
                    .name(&p.name)
                    .set_role_arns(Some(p.roles.clone()))
                    .duration_seconds(duration(p) as i32)
                    .set_managed_policy_arns(Some(p.managed_policy_arns.clone()))
                    .set_session_policy(
                        (changed.contains("session_policy") || !policy.is_empty())
                            .then_some(policy.clone()),
                    )
                    .accept_role_session_name(p.accept_role_session_name)
                    .send()
                    .await
                    .map_err(|e| cx.aws("UpdateProfile", e))?;
            }
            if changed.contains("enabled") {
                switch!(cx, p.enabled,
                    "EnableProfile" => ra.enable_profile().profile_id(&id),
                    "DisableProfile" => ra.disable_profile().profile_id(&id))?;
            }
            if changed.contains("attribute_mappings") {
                map_attributes(p, live, cx, &id).await?;
            }
            Ok(())
        };
        // UpdateProfile sets every one of its attributes to the plan's.
        update_with(p, cx, live, changed, UPDATABLE, settings).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        delete_by_id!(cx, live, "DeleteProfile", delete_profile, profile_id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        super::owned_by_listing::<Self>(cx).await
    }
}

impl Rules for Profile {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::profile_rules(cx, at, self);
        limits::check_tags(cx, at, &self.tags);
    }
    fn documents(&self, at: &PropPath) -> Vec<(PropPath, Json)> {
        one_document(at, "session_policy", self.session_policy.as_ref())
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::PROFILE_NAME))]
    }
}
