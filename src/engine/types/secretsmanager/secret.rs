//! `secretsmanager.secret`: a secret, its value, description, KMS key and tags.
//!
//! Found by name (DescribeSecret returns its tags). Names are unique, so a create retried after
//! a lost response gets ResourceExistsException and reads the secret instead; the value carries
//! a ClientRequestToken, so the SDK's own retry of CreateSecret or PutSecretValue is a no-op.
//!
//! Values never leave this module except toward Secrets Manager: the comparable attribute is a
//! keyed SHA-256 (HMAC with a key drawn at random once per process), so neither `Live`, nor a
//! log, nor an error holds the value or a hash anyone could test guesses against.
//!
//! Round trips: `read` is DescribeSecret ∥ GetSecretValue (1); `create` is CreateSecret with
//! the value (1, after GetRandomPassword for a generated one), returning what it made without
//! reading it back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use aws_lc_rs::{digest, hmac, rand};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use serde_json::{json, Value as Json};

use crate::engine::resource::{
    owned_id, owned_in_order, plan_tags, user_tags, Ctx, Desired, Error, Live, Resource, Result,
    TAG_PLAN,
};
use crate::engine::types::shared::exists_as_ours;
use crate::engine::types::shared::{all, converged, differing, Call};
use crate::engine::types::shared::{answered, gone_ok, NOT_FOUND};
use crate::hex::hex;
use crate::lint::{kinds, limits, names, Checker, Env, NameCheck, Rules};
use crate::plan::Unknown;
use crate::spec::types::Secret;
use crate::spec::Path as PropPath;

/// The value attribute of a generated secret, on both sides: generated never compared.
pub const GENERATED: &str = "(generated)";

/// The key Secrets Manager uses when none is named.
const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// A secret value; Debug never shows it.
struct Value(Vec<u8>);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// The value's fingerprint: HMAC-SHA256 under a per-process key. Comparable within one run
/// (desired and read compute it in the same process), meaningless outside it.
fn fingerprint(bytes: &[u8]) -> String {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::fill(&mut k).expect("the system random source works");
        hmac::Key::new(hmac::HMAC_SHA256, &k)
    });
    hex(hmac::sign(key, bytes).as_ref())
}

/// A ClientRequestToken (UUID-shaped, 36 characters) for this resource and value: the SDK
/// resends the same token when it retries, which Secrets Manager treats as the same request.
fn request_token(cx: &Ctx, fp: &str) -> String {
    let d = digest::digest(
        &digest::SHA256,
        format!("{}\0{}\0{}\0{fp}", cx.owner.name, cx.owner.lineage, cx.id).as_bytes(),
    );
    let h = hex(&d.as_ref()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn generated(p: &Secret) -> bool {
    p.value.generate.is_some()
}

/// The plan's value (None for a generated one), read from its source. Errors name the file
/// or variable, never the content.
fn load(p: &Secret, cx: &Ctx) -> Result<Option<Value>> {
    let v = &p.value;
    if v.sources() != 1 {
        return Err(Error::other(format!(
            "secret `{}`: value needs exactly one of env, file, files, generate, literal",
            p.name
        )));
    }
    if let Some(var) = &v.env {
        let val = std::env::var_os(var).ok_or_else(|| {
            Error::other(format!(
                "secret `{}`: environment variable `{var}` is not set",
                p.name
            ))
        })?;
        return Ok(Some(Value(val.into_encoded_bytes())));
    }
    if let Some(file) = &v.file {
        let path = cx.path(file);
        let bytes = crate::input::read("secret value file", &path, crate::input::MAX_SECRET)
            .map_err(|e| Error::other(format!("secret `{}`: {e}", p.name)))?;
        return Ok(Some(Value(bytes)));
    }
    if let Some(files) = &v.files {
        let mut bytes = vec![];
        for file in files {
            let path = cx.path(file);
            let limit = crate::input::MAX_SECRET;
            let read = crate::input::read("secret value file", &path, limit)
                .map_err(|e| Error::other(format!("secret `{}`: {e}", p.name)))?;
            bytes.extend(read);
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n'); // PEM blocks each on lines of their own
            }
        }
        if bytes.len() as u64 > crate::input::MAX_SECRET {
            return Err(Error::other(format!(
                "secret `{}`: its files hold more than {} bytes together",
                p.name,
                crate::input::MAX_SECRET
            )));
        }
        return Ok(Some(Value(bytes)));
    }
    if let Some(lit) = &v.literal {
        if !p.allow_literal {
            return Err(Error::other(format!(
                "secret `{}`: a literal value needs `allow_literal: true`",
                p.name
            )));
        }
        return Ok(Some(Value(lit.clone().into_bytes())));
    }
    Ok(None)
}

/// A value from a referenced resource not created yet (e.g. a certificate's key file).
fn value_unknown(p: &Secret) -> bool {
    let v = &p.value;
    [&v.env, &v.file, &v.literal]
        .iter()
        .any(|s| s.as_deref().is_some_and(Unknown::within))
        || v.files.iter().flatten().any(|f| Unknown::within(f))
}

/// A generated value: Secrets Manager's GetRandomPassword.
async fn generate(p: &Secret, cx: &Ctx) -> Result<Value> {
    let g = p.value.generate.as_ref().expect("generate is set");
    let out = cx
        .call(
            "GetRandomPassword",
            cx.clients()
                .secrets
                .get_random_password()
                .password_length(i64::from(g.length.unwrap_or(32)))
                .exclude_punctuation(g.exclude_punctuation)
                .send(),
        )
        .await?;
    out.random_password
        .map(|s| Value(s.into_bytes()))
        .ok_or_else(|| Error::other("GetRandomPassword returned no password"))
}

fn tags(cx: &Ctx, p: &Secret) -> Vec<Tag> {
    crate::engine::types::shared::sdk_tags!(cx, &p.tags, Tag, infallible)
}

/// Whether AWS's answer for the key (an id, an ARN or an alias, as it was given) names the
/// plan's key (normally a key ARN from `${key.arn}`).
fn same_key(want: &str, have: &str) -> bool {
    want == have
        || want.ends_with(&format!(":key/{have}"))
        || want.ends_with(&format!(":{have}"))
        || have.ends_with(&format!(":key/{want}"))
}

/// Secrets Manager's tags as (key, value) pairs.
fn pairs(tags: &[aws_sdk_secretsmanager::types::Tag]) -> Vec<(&str, &str)> {
    tags.iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect()
}

fn not_found(e: &Error) -> bool {
    e.code().is_some_and(|c| NOT_FOUND.contains(&c))
}

/// The recovery window a deleted secret gets when the plan names none (Secrets Manager's own
/// default).
const DEFAULT_WINDOW: u32 = 7;

/// What `read` (DescribeSecret) and `find_owned` (ListSecrets) see of a secret.
struct Seen<'a> {
    arn: &'a str,
    name: &'a str,
    description: &'a str,
    /// The `kms_key` attribute (`kms_key_attr`).
    kms_key: Json,
    tags: Vec<(&'a str, &'a str)>,
    scheduled: bool,
}

/// The `kms_key` attribute: the plan's spelling of the key when AWS names the same key (`want`,
/// None for a secret the plan no longer has), null for the service's default key.
fn kms_key_attr(want: Option<&str>, have: Option<&str>) -> Json {
    match (want, have) {
        (_, None) | (_, Some(DEFAULT_KEY)) => Json::Null,
        (Some(want), Some(have)) if same_key(want, have) => json!(want),
        (_, Some(have)) => json!(have),
    }
}

/// A secret's live state; `value` its fingerprint attribute, the rest what delete needs.
fn live_of(
    s: &Seen,
    value: Json,
    owned: bool,
    recovery_window_days: u32,
    force_delete: bool,
) -> Live {
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), s.arn.to_string());
    outputs.insert("name".into(), s.name.to_string());
    outputs.insert("id".into(), s.arn.to_string());
    let mut attrs = BTreeMap::new();
    attrs.insert("name".into(), json!(s.name));
    attrs.insert("description".into(), json!(s.description));
    attrs.insert("kms_key".into(), s.kms_key.clone());
    attrs.insert("tags".into(), user_tags(s.tags.iter().copied()));
    attrs.insert("value".into(), value);
    attrs.insert("scheduled_for_deletion".into(), json!(s.scheduled));
    Live {
        outputs,
        attrs,
        owned,
        // Delete gets no props: it needs the plan's recovery window and force setting.
        handle: json!({
            "arn": s.arn,
            "scheduled": s.scheduled,
            "recovery_window_days": recovery_window_days,
            "force_delete": force_delete,
        }),
    }
}

impl Resource for Secret {
    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        let value = if generated(p) {
            json!(GENERATED)
        } else if value_unknown(p) {
            Json::from(Unknown)
        } else {
            let v = load(p, cx)?.expect("not generated");
            json!(fingerprint(&v.0))
        };
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("description", p.description.clone().unwrap_or_default())
            .attr("kms_key", json!(p.kms_key))
            .attr("tags", plan_tags(&p.tags))
            .attr("value", value)
            .attr("scheduled_for_deletion", false)
            .forces_replacement(&["name"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        let sm = &cx.clients().secrets;
        // The secret and its current value at once (a generated value is never compared).
        let value = async {
            if generated(p) {
                Ok(None)
            } else {
                current_fingerprint(cx, &p.name).await
            }
        };
        let (desc, value) = tokio::join!(sm.describe_secret().secret_id(&p.name).send(), value);
        let Some(desc) = gone_ok(desc.map_err(|e| cx.aws("DescribeSecret", e)), NOT_FOUND)? else {
            return Ok(None);
        };
        let arn = answered(desc.arn(), "DescribeSecret returned no ARN")?.to_string();
        let seen = Seen {
            arn: &arn,
            name: desc.name().unwrap_or(&p.name),
            description: desc.description().unwrap_or_default(),
            kms_key: kms_key_attr(p.kms_key.as_deref(), desc.kms_key_id()),
            tags: pairs(desc.tags()),
            // Scheduled for deletion, it can still be restored in place: report it, and the
            // difference in `scheduled_for_deletion` makes update restore it.
            scheduled: desc.deleted_date().is_some(),
        };
        let owned = cx.owns(seen.tags.iter().copied());
        let value = if generated(p) {
            json!(GENERATED)
        } else if seen.scheduled {
            // GetSecretValue refuses a secret marked for deletion: unknown until restored.
            Json::Null
        } else {
            value?.map(Json::from).unwrap_or(Json::Null)
        };
        Ok(Some(live_of(
            &seen,
            value,
            owned,
            p.recovery_window_days.unwrap_or(DEFAULT_WINDOW),
            p.force_delete,
        )))
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // One ListSecrets (a page per 100): it filters by tag and returns the tags, and leaves
        // out secrets scheduled for deletion. The filters match the key and the value each on
        // any tag, so the tags are checked here too.
        let mut pages = cx
            .clients()
            .secrets
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values(TAG_PLAN)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::TagValue)
                    .values(&cx.owner.name)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut found = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cx.aws("ListSecrets", e))?;
            for entry in page.secret_list() {
                let (Some(arn), Some(name)) = (entry.arn(), entry.name()) else {
                    continue;
                };
                let seen = Seen {
                    arn,
                    name,
                    description: entry.description().unwrap_or_default(),
                    kms_key: kms_key_attr(None, entry.kms_key_id()),
                    tags: pairs(entry.tags()),
                    scheduled: entry.deleted_date().is_some(),
                };
                let Some(id) = owned_id(&cx.owner, seen.tags.iter().copied()) else {
                    continue;
                };
                if seen.scheduled {
                    continue;
                }
                // The value is not read: deleting never shows it, and GetSecretValue would need
                // the secret's key, which may be going away too. The plan's recovery window and
                // force setting are unknown: the defaults (7 days; forced only if the run is).
                found.push((id, live_of(&seen, Json::Null, true, DEFAULT_WINDOW, false)));
            }
        }
        Ok(owned_in_order(found))
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let sm = &cx.clients().secrets;
        let want = Self::desired(p, cx)?;
        let value = match load(p, cx)? {
            Some(v) => v,
            None => generate(p, cx).await?,
        };
        let fp = fingerprint(&value.0);
        let token = request_token(cx, &fp);
        let mut req = sm
            .create_secret()
            .name(&p.name)
            .client_request_token(token)
            .set_tags(Some(tags(cx, p)))
            .set_description(p.description.clone())
            .set_kms_key_id(p.kms_key.clone());
        req = match std::str::from_utf8(&value.0) {
            Ok(s) => req.secret_string(s),
            Err(_) => req.secret_binary(Blob::new(value.0.clone())),
        };
        match req.send().await {
            // What CreateSecret made: the plan's secret as sent, its value current.
            Ok(out) => {
                let arn = answered(out.arn(), "CreateSecret returned no ARN")?;
                let tags = cx.tags(&p.tags);
                let seen = Seen {
                    arn,
                    name: out.name().unwrap_or(&p.name),
                    description: p.description.as_deref().unwrap_or_default(),
                    kms_key: kms_key_attr(p.kms_key.as_deref(), p.kms_key.as_deref()),
                    tags: tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                    scheduled: false,
                };
                let value = if generated(p) {
                    json!(GENERATED)
                } else {
                    json!(fp)
                };
                Ok(live_of(
                    &seen,
                    value,
                    true,
                    p.recovery_window_days.unwrap_or(DEFAULT_WINDOW),
                    p.force_delete,
                ))
            }
            // A retry of a create whose answer was lost, or a secret scheduled for deletion
            // since the plan was made: read it and check it is ours before going on.
            Err(e) => {
                let e = cx.aws("CreateSecret", e);
                let exists = e.code() == Some("ResourceExistsException")
                    || (e.code() == Some("InvalidRequestException")
                        && e.aws()
                            .is_some_and(|a| a.message.contains("scheduled for deletion")));
                if !exists {
                    return Err(e);
                }
                let live = exists_as_ours(p, cx, e, &format!("secret `{}`", p.name)).await?;
                let changed = differing(&want, &live);
                if changed.is_empty() {
                    return Ok(live);
                }
                Self::update(p, &live, &changed, cx).await
            }
        }
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let sm = &cx.clients().secrets;
        let want = Self::desired(p, cx)?;
        let arn = live
            .outputs
            .get("arn")
            .cloned()
            .unwrap_or_else(|| p.name.clone());
        let mut value_changed = changed.contains("value") && !generated(p);
        if live.attrs.get("scheduled_for_deletion") == Some(&json!(true)) {
            cx.call("RestoreSecret", sm.restore_secret().secret_id(&arn).send())
                .await?;
            // Its value was unreadable while scheduled; now it can be compared, so that an
            // unchanged value gets no new version.
            if value_changed {
                let value = load(p, cx)?.expect("not generated");
                value_changed = current_fingerprint(cx, &arn).await? != Some(fingerprint(&value.0));
            }
        }
        let settings = changed.contains("description") || changed.contains("kms_key");
        let retag = changed.contains("tags") || !live.owned;
        let stale = cx.stale_tags(live, &p.tags, retag);
        let update_settings = || async {
            let mut req = sm
                .update_secret()
                .secret_id(&arn)
                .description(p.description.clone().unwrap_or_default());
            if changed.contains("kms_key") {
                // No key in the plan: back to the service's default key.
                req = req.kms_key_id(p.kms_key.clone().unwrap_or_else(|| DEFAULT_KEY.into()));
            }
            req.send()
                .await
                .map(|_| ())
                .map_err(|e| cx.aws("UpdateSecret", e))
        };
        // A generated value is never replaced: both sides read `(generated)`.
        let put_new_value = || async {
            let value = load(p, cx)?.expect("not generated");
            put_value(cx, &arn, &value).await
        };
        // Each call sets a different part of the secret: all at but for a new value
        // under a new key, which waits for the key so that it is encrypted with it.
        let mut jobs: Vec<Call<'_>> = vec![];
        if settings && value_changed && changed.contains("kms_key") {
            jobs.push(Box::pin(async {
                update_settings().await?;
                put_new_value().await
            }));
        } else {
            if settings {
                jobs.push(Box::pin(update_settings()));
            }
            if value_changed {
                jobs.push(Box::pin(put_new_value()));
            }
        }
        crate::engine::types::shared::retag_jobs! {
            jobs, cx, retag, tags(cx, p), stale,
            "TagResource" => sm.tag_resource().secret_id(&arn),
            "UntagResource" => sm.untag_resource().secret_id(&arn)
        }
        all(jobs).await?;
        // The secret as `read` would now see it: what the plan says (the key as `read` spells
        // it), no longer scheduled for deletion.
        let mut now = converged(live, &want, changed);
        now.attrs.insert(
            "kms_key".into(),
            kms_key_attr(p.kms_key.as_deref(), p.kms_key.as_deref()),
        );
        now.attrs
            .insert("scheduled_for_deletion".into(), json!(false));
        now.handle = json!({
            "arn": arn,
            "scheduled": false,
            "recovery_window_days": p.recovery_window_days.unwrap_or(DEFAULT_WINDOW),
            "force_delete": p.force_delete,
        });
        Ok(now)
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        let sm = &cx.clients().secrets;
        let Some(arn) = live
            .handle
            .get("arn")
            .and_then(Json::as_str)
            .or(live.outputs.get("arn").map(String::as_str))
        else {
            return Err(Error::other("no ARN for this secret"));
        };
        let force = cx.opts.force_delete_secrets
            || live
                .handle
                .get("force_delete")
                .and_then(Json::as_bool)
                .unwrap_or(false);
        let scheduled = live
            .handle
            .get("scheduled")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        if scheduled && !force {
            return Ok(());
        }
        let mut req = sm.delete_secret().secret_id(arn);
        req = if force {
            req.force_delete_without_recovery(true)
        } else {
            let days = live
                .handle
                .get("recovery_window_days")
                .and_then(Json::as_i64)
                .unwrap_or(7);
            req.recovery_window_in_days(days)
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = cx.aws("DeleteSecret", e);
                // Gone, or already scheduled (a retry after a lost answer): done.
                let marked = e.code() == Some("InvalidRequestException")
                    && e.aws().is_some_and(|a| a.message.contains("marked"));
                if not_found(&e) || (!force && marked) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// The fingerprint of the current value; None when the secret has no current version.
async fn current_fingerprint(cx: &Ctx, arn: &str) -> Result<Option<String>> {
    // The stage named, though it is the default: what a reader of the secret gets.
    let got = cx
        .clients()
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage("AWSCURRENT")
        .send()
        .await;
    let got = gone_ok(got.map_err(|e| cx.aws("GetSecretValue", e)), NOT_FOUND)?;
    Ok(
        got.and_then(|out| match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => Some(fingerprint(s.as_bytes())),
            (None, Some(b)) => Some(fingerprint(b.as_ref())),
            _ => None,
        }),
    )
}

/// Make `value` the current version. A token already used for the same value (the value went
/// back to an earlier one in this run) makes Secrets Manager ignore the request, so move the
/// AWSCURRENT label onto that version when it did not get it.
async fn put_value(cx: &Ctx, arn: &str, value: &Value) -> Result<()> {
    let sm = &cx.clients().secrets;
    let token = request_token(cx, &fingerprint(&value.0));
    let req = sm
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(&token);
    let req = match std::str::from_utf8(&value.0) {
        Ok(s) => req.secret_string(s),
        Err(_) => req.secret_binary(Blob::new(value.0.clone())),
    };
    let out = req.send().await.map_err(|e| cx.aws("PutSecretValue", e))?;
    if out.version_stages().iter().any(|s| s == "AWSCURRENT") {
        return Ok(());
    }
    let desc = cx
        .call("DescribeSecret", sm.describe_secret().secret_id(arn).send())
        .await?;
    let current = desc.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
            .map(|(v, _)| v.clone())
    });
    if current.as_deref() == Some(token.as_str()) {
        return Ok(());
    }
    cx.call(
        "UpdateSecretVersionStage",
        sm.update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(&token)
            .set_remove_from_version_id(current)
            .send(),
    )
    .await?;
    Ok(())
}

impl Rules for Secret {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::secret_rules(cx, at, self);
        limits::secret_limits(cx, at, self);
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::SECRET_NAME))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_match_their_arns() {
        let arn = "arn:aws-cn:kms:cn-north-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(same_key(arn, arn));
        assert!(same_key(arn, "1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!same_key(arn, "ffff"));
        assert!(same_key("arn:aws:kms:us-west-2:1:alias/app", "alias/app"));
    }

    #[test]
    fn tokens_are_uuid_shaped_and_fingerprints_hide_values() {
        let fp = fingerprint(b"hunter2");
        assert_eq!(fp, fingerprint(b"hunter2"));
        assert_ne!(
            fp,
            hex(digest::digest(&digest::SHA256, b"hunter2").as_ref())
        );
        assert!(format!("{:?}", Value(b"hunter2".to_vec())) == "(sensitive)");
    }
}
