//! `rolesanywhere.trust_anchor`: a Roles Anywhere trust anchor holding a CA certificate bundle.
//!
//! Names are not unique in Roles Anywhere and nothing lists by tag, so read lists the anchors
//! (ListTrustAnchors, every page) and takes which is ours from the tag index (GetResources,
//! shared by the plan's reads); without the index (the lookup before a create retried) it asks
//! for tags (ListTagsForResource): first of those with the plan's name, which is one call when
//! ours is there; only if none of them is ours, of the others, so that an anchor whose name the
//! plan changed is found (and renamed in place) instead of leaked. A same-named anchor without our tags is reported with `owned: false` and
//! never changed unless adopted. CreateTrustAnchor cannot be deduplicated by the API, so it
//! runs through `create_once` with the SDK's retries off and that same lookup before any retry.
//!
//! The certificate comes from `certificate_file`, or from the `pki.ca` whose id `ca` holds: its
//! `cert_pem` output, which the executor passes in `Ctx::refs` (see `pki::cert` for the
//! contract). PEM is compared trimmed, with `\n` line ends.
//!
//! Round trips: `read` is ListTrustAnchors (1, with the shared tag index; without it, then
//! ListTagsForResource: 2); `create` is one CreateTrustAnchor, whose answer is the live
//! anchor; `update` returns what it set without reading it back.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rolesanywhere::operation::create_trust_anchor::CreateTrustAnchorOutput;
use aws_sdk_rolesanywhere::types::{
    NotificationChannel, NotificationEvent, NotificationSetting, NotificationSettingDetail,
    NotificationSettingKey, Source, SourceData, TrustAnchorDetail, TrustAnchorType,
};
use serde_json::{json, Value as Json};

use super::*;
use crate::engine::resource::{plan_tags, Ctx, Desired, Error, Live, Resource, Result};
use crate::lint::{kinds, limits, names, Checker, Env, NameCheck, Rules};
use crate::plan::types::{Notification, TrustAnchor};
use crate::plan::Path as PropPath;
use crate::unknown::Unknown;

/// The certificate (a bundle, in the order of `cas`) the plan asks for, or `unknown::Unknown`
/// while a CA of it does not exist yet.
fn certificate(p: &TrustAnchor, cx: &Ctx) -> Result<String> {
    let cas = p.ca_refs();
    match (cas.is_empty(), &p.certificate_file) {
        (false, None) => {
            let pems: Option<Vec<String>> = cas
                .iter()
                .map(|ca| cx.dep_output(ca, "cert_pem").map(normalize_pem))
                .collect();
            Ok(pems.map_or_else(|| Unknown.into(), |p| p.join("\n")))
        }
        (true, Some(f)) if Unknown::within(f) => Ok(Unknown.into()),
        (true, Some(f)) => {
            let path = cx.path(f);
            std::fs::read_to_string(&path)
                .map(|pem| normalize_pem(&pem))
                .map_err(|e| Error::other(format!("certificate_file {}: {e}", path.display())))
        }
        _ => Err(Error::other(
            "a trust anchor takes exactly one of `ca`, `cas` and `certificate_file`",
        )),
    }
}

/// The certificate for a call that sends it: it must be known by then.
fn known_certificate(p: &TrustAnchor, cx: &Ctx) -> Result<String> {
    let pem = certificate(p, cx)?;
    if Unknown::is(&pem) {
        return Err(Error::other(format!(
            "the certificate of CA `{}` is not known: the CA must be created first and its \
             outputs passed to the trust anchor",
            p.ca_refs().join("`, `")
        )));
    }
    Ok(pem)
}

fn source(pem: &str) -> Source {
    Source::builder()
        .source_type(TrustAnchorType::CertificateBundle)
        .source_data(SourceData::X509CertificateData(format!("{pem}\n")))
        .build()
}

/// The events a trust anchor notifies of, by their plan name.
const EVENTS: [(&str, NotificationEvent); 2] = [
    (
        "ca_certificate_expiry",
        NotificationEvent::CaCertificateExpiry,
    ),
    (
        "end_entity_certificate_expiry",
        NotificationEvent::EndEntityCertificateExpiry,
    ),
];

/// Who configured a setting Roles Anywhere set itself (NotificationSettingDetail, API
/// reference: "for default settings … rolesanywhere.amazonaws.com"); the same in China, where
/// Roles Anywhere's own principal keeps the commercial form.
const DEFAULT_BY: &str = "rolesanywhere.amazonaws.com";

/// One event's setting as compared: `"default"` (Roles Anywhere's own, whatever its values),
/// or what was set, without a threshold when disabled (it has no effect then, and the service
/// may keep an old one).
fn setting_attr(enabled: bool, threshold: Option<i32>) -> Json {
    if enabled {
        json!({"enabled": true, "threshold_days": threshold})
    } else {
        json!({"enabled": false})
    }
}

fn notifications_live(details: &[NotificationSettingDetail]) -> Json {
    let mut out = serde_json::Map::new();
    for (name, event) in &EVENTS {
        let custom = details
            .iter()
            .find(|d| d.event() == event && d.configured_by() != Some(DEFAULT_BY));
        let v = custom.map_or(json!("default"), |d| {
            setting_attr(d.enabled(), d.threshold())
        });
        out.insert(name.to_string(), v);
    }
    Json::Object(out)
}

fn plan_notifications(
    p: &TrustAnchor,
) -> [(&'static str, NotificationEvent, Option<&Notification>); 2] {
    let n = &p.notifications;
    let set = [&n.ca_certificate_expiry, &n.end_entity_certificate_expiry];
    std::array::from_fn(|i| (EVENTS[i].0, EVENTS[i].1.clone(), set[i].as_ref()))
}

fn notifications_desired(p: &TrustAnchor) -> Json {
    let out = plan_notifications(p).map(|(name, _, n)| {
        let v = n.map_or(json!("default"), |n| {
            setting_attr(n.enabled, n.threshold_days.map(|d| d as i32))
        });
        (name.to_string(), v)
    });
    Json::Object(out.into_iter().collect())
}

/// The settings the plan customizes, as the API takes them.
fn custom_settings(p: &TrustAnchor) -> Result<Vec<NotificationSetting>> {
    plan_notifications(p)
        .into_iter()
        .filter_map(|(_, event, n)| Some((event, n?)))
        .map(|(event, n)| {
            NotificationSetting::builder()
                .event(event)
                .enabled(n.enabled)
                .set_threshold(n.threshold_days.map(|d| d as i32))
                .channel(NotificationChannel::All)
                .build()
                .map_err(|e| Error::caused("notification setting", e))
        })
        .collect()
}

fn live_of(ta: &TrustAnchorDetail, tags: &[(String, String)], owned: bool) -> Result<Live> {
    let name = need(ta.name(), "name")?;
    let pem = match ta.source().and_then(|s| s.source_data()) {
        Some(SourceData::X509CertificateData(pem)) => normalize_pem(pem),
        _ => String::new(),
    };
    let mut outputs = BTreeMap::new();
    let arn = need(ta.trust_anchor_arn(), "trustAnchorArn")?;
    outputs.insert("arn".into(), arn.to_string());
    let id = need(ta.trust_anchor_id(), "trustAnchorId")?;
    outputs.insert("id".into(), id.to_string());
    outputs.insert("name".into(), name.to_string());
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("certificate".into(), json!(pem));
    attrs.insert("enabled".into(), json!(ta.enabled().unwrap_or(false)));
    attrs.insert(
        "notifications".into(),
        notifications_live(ta.notification_settings()),
    );
    attrs.insert("tags".into(), tags_attr(tags));
    Ok(Live::new(outputs, attrs, owned))
}

super::listed! {
    TrustAnchor: TrustAnchorDetail, list_trust_anchors "ListTrustAnchors", name name, arn trust_anchor_arn, live live_of
}

impl Resource for TrustAnchor {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = Some("name");
    type Handle = ();

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("certificate", certificate(p, cx)?)
            .attr("enabled", p.enabled)
            .attr("notifications", notifications_desired(p))
            .attr("tags", plan_tags(&p.tags)))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        super::read_by_listing(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let pem = known_certificate(p, cx)?;
        let notifications = custom_settings(p)?;
        let send = || {
            ra.create_trust_anchor()
                .name(&p.name)
                .source(source(&pem))
                .enabled(p.enabled)
                .set_notification_settings(Some(notifications.clone()))
                .set_tags(Some(ra_tags(cx, &p.tags)))
                .customize()
                .config_override(crate::aws::once::rolesanywhere())
                .send()
        };
        let made = |o: CreateTrustAnchorOutput, sent: &[(String, String)]| {
            o.trust_anchor.map(|ta| live_of(&ta, sent, true))
        };
        let op = (
            "CreateTrustAnchor",
            "CreateTrustAnchor returned no trust anchor",
        );
        let made = create_tagged(p, cx, op, send, made).await?;
        settle(p, cx, made).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let id = live.output("id")?.to_string();
        let source_changed = changed.contains("certificate") || changed.contains("name");
        let pem = if source_changed {
            Some(known_certificate(p, cx)?)
        } else {
            None
        };
        // The anchor's own settings one after the other; its tags alongside.
        let settings = async {
            if let Some(pem) = &pem {
                cx.call(
                    "UpdateTrustAnchor",
                    ra.update_trust_anchor()
                        .trust_anchor_id(&id)
                        .name(&p.name)
                        .source(source(pem))
                        .send(),
                )
                .await?;
            }
            if changed.contains("enabled") {
                switch!(cx, p.enabled,
                    "EnableTrustAnchor" => ra.enable_trust_anchor().trust_anchor_id(&id),
                    "DisableTrustAnchor" => ra.disable_trust_anchor().trust_anchor_id(&id))?;
            }
            if changed.contains("notifications") {
                notify(p, live, cx, &id).await?;
            }
            Ok(())
        };
        update_with(p, cx, live, changed, &[], settings).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        delete_by_id!(
            cx,
            live,
            "DeleteTrustAnchor",
            delete_trust_anchor,
            trust_anchor_id
        )
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        super::owned_by_listing::<Self>(cx).await
    }
}

/// Bring the anchor's notification settings to the plan: the customized events put, the
/// events the plan leaves to Roles Anywhere reset where they were customized.
async fn notify(p: &TrustAnchor, live: &Live, cx: &Ctx, id: &str) -> Result<()> {
    let ra = &cx.clients().rolesanywhere;
    let custom = custom_settings(p)?;
    if !custom.is_empty() {
        cx.call(
            "PutNotificationSettings",
            ra.put_notification_settings()
                .trust_anchor_id(id)
                .set_notification_settings(Some(custom))
                .send(),
        )
        .await?;
    }
    let have = live.attrs.get("notifications");
    let mut reset = vec![];
    for (name, event, n) in plan_notifications(p) {
        let customized = have.and_then(|h| h.get(name)) != Some(&json!("default"));
        if n.is_none() && customized {
            let key = NotificationSettingKey::builder()
                .event(event)
                .channel(NotificationChannel::All)
                .build()
                .map_err(|e| Error::caused("notification setting key", e))?;
            reset.push(key);
        }
    }
    if !reset.is_empty() {
        cx.call(
            "ResetNotificationSettings",
            ra.reset_notification_settings()
                .trust_anchor_id(id)
                .set_notification_setting_keys(Some(reset))
                .send(),
        )
        .await?;
    }
    Ok(())
}

impl Rules for TrustAnchor {
    fn check(&self, cx: &mut Checker, at: &PropPath, env: &Env) {
        kinds::anchor_rules(cx, at, self, env.base);
        limits::check_tags(cx, at, &self.tags);
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::TRUST_ANCHOR_NAME))]
    }
}
