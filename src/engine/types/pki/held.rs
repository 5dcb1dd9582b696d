//! `pki.ca` with `kms_key`: a root CA whose key is an asymmetric KMS key (`usage: sign`). The
//! key never leaves KMS; the certificate is signed through KMS `Sign`.
//!
//! Where the certificate is kept: nowhere whole. Its terms are facts any machine with read
//! access can get (subject and validity from the plan; `notBefore` the key's CreationDate, the
//! serial a digest of the key's ARN, the public key from GetPublicKey), so only its signature
//! must be kept, and it is kept on the key itself, as tags `xpart:ca-signature-<n>` (a tag
//! value holds 256 characters: an RSA-4096 signature in base64 takes three). `read` rebuilds
//! the certificate and checks the signature with the key's public half: a tag someone edited
//! gives no certificate (the plan shows the CA to be signed again), never another one. Reading
//! needs kms:DescribeKey, kms:GetPublicKey and kms:ListResourceTags, not kms:Sign, so a
//! pull-request job can plan without the power to issue certificates.
//!
//! Round trips: `read` is DescribeKey ∥ GetPublicKey (1), the signature from the plan's tag
//! query (ListResourceTags when the query's copy does not verify, one more); `create` is
//! DescribeKey ∥ GetPublicKey ∥ ListResourceTags (the key must be the plan's), Sign,
//! TagResource (3). Delete removes nothing: the certificate
//! goes with its key, which its own `kms.key` deletes.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::json;

use super::PkiHandle;
use crate::aws::Clients;
use crate::engine::resource::{Ctx, Desired, Error, Live, Result};
use crate::engine::types::kms::key::{describe, indexed_tags, key_tags};
use crate::engine::types::shared::{answered, need};
use crate::pki::remote::{self, HeldCa, HeldKey};
use crate::pki::{self, PkiError};
use crate::plan::types::{PkiCa, Subject};
use crate::unknown::Unknown;

/// The tags that carry the CA certificate's signature: `<prefix>0`, `<prefix>1`, ….
const SIG_TAG: &str = "xpart:ca-signature-";
/// The longest tag value KMS takes.
const TAG_VALUE_MAX: usize = 256;

/// What KMS says of the key: its ARN, spec, creation date and public key.
struct KeyFacts {
    arn: String,
    key_spec: String,
    created: ::time::OffsetDateTime,
    spki: Vec<u8>,
}

fn subject_of(p: &PkiCa, cx: &Ctx) -> Subject {
    p.subject.clone().unwrap_or_else(|| Subject {
        common_name: cx.id.clone(),
        organization: None,
        organizational_unit: None,
        country: None,
    })
}

/// The key's facts; None while the key does not exist (yet).
async fn facts(p: &PkiCa, cx: &Ctx) -> Result<Option<KeyFacts>> {
    let Some(key) = p.kms_key.as_deref().filter(|k| !Unknown::within(k)) else {
        return Ok(None);
    };
    let kms = &cx.clients().kms;
    let public = async {
        let sent = kms.get_public_key().key_id(key).send();
        crate::engine::types::shared::gone_ok(
            cx.call("GetPublicKey", sent).await,
            &["NotFoundException"],
        )
    };
    let (meta, public) = tokio::join!(describe(cx, key), public);
    let (Some(meta), Some(public)) = (meta?, public?) else {
        return Ok(None);
    };
    let usage = need(meta.key_usage(), "KeyUsage")?.as_str();
    if usage != "SIGN_VERIFY" {
        return Err(Error::other(format!(
            "kms_key {key} is a {usage} key: a CA needs a key with `usage: sign`"
        )));
    }
    let created = meta
        .creation_date()
        .and_then(|d| ::time::OffsetDateTime::from_unix_timestamp(d.secs()).ok())
        .ok_or_else(|| Error::other(format!("DescribeKey gave no CreationDate for {key}")))?;
    Ok(Some(KeyFacts {
        arn: meta.arn().unwrap_or(key).to_string(),
        key_spec: need(meta.key_spec(), "KeySpec")?.as_str().to_string(),
        created,
        spki: need(public.public_key(), "PublicKey")?.as_ref().to_vec(),
    }))
}

/// The signature the key's tags carry, in order; None when there is none.
fn signature_in(tags: &[(String, String)]) -> Option<Vec<u8>> {
    let mut parts: Vec<(usize, &str)> = tags
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(SIG_TAG)?.parse().ok()?, v.as_str())))
        .collect();
    parts.sort();
    let text: String = parts.iter().map(|(_, v)| *v).collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn outputs(cx: &Ctx, facts: &KeyFacts, der: &[u8]) -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("id".into(), cx.id.clone());
    o.insert("cert_pem".into(), remote::pem_of(der));
    o.insert("cert_file".into(), String::new());
    o.insert("key_file".into(), String::new());
    o.insert("kms_key".into(), facts.arn.clone());
    o.insert("key_spec".into(), facts.key_spec.clone());
    o.insert("partition".into(), cx.part().def.name.clone());
    o
}

fn held_ca<'a>(p: &PkiCa, subject: &'a Subject, facts: &'a KeyFacts) -> HeldCa<'a> {
    HeldCa {
        subject,
        validity_days: p.validity_days.unwrap_or(pki::DEFAULT_CA_VALIDITY_DAYS),
        created: facts.created,
        key_arn: &facts.arn,
    }
}

/// The CA as it is: None until its certificate has been signed (or when its signature tags
/// no longer verify).
pub async fn read(p: &PkiCa, want: &Desired, cx: &Ctx) -> Result<Option<Live>> {
    let Some(key) = p.kms_key.as_deref().filter(|k| !Unknown::within(k)) else {
        return Ok(None);
    };
    // While planning, the signature is taken from the tag query's copy of the key's tags when
    // it verifies (a stale copy cannot: it would not sign this certificate), and asked of the
    // key (ListResourceTags) only otherwise.
    let (facts, indexed) = tokio::join!(facts(p, cx), indexed_tags(cx, key));
    let Some(facts) = facts? else {
        return Ok(None);
    };
    let subject = subject_of(p, cx);
    let ca = held_ca(p, &subject, &facts);
    let signed = |tags: &[(String, String)]| {
        signature_in(tags).and_then(|sig| ca.from_signature(&facts.spki, &facts.key_spec, &sig))
    };
    let der = match indexed?.as_deref().and_then(signed) {
        Some(der) => der,
        None => {
            let Some(der) = key_tags(cx, key).await?.as_deref().and_then(signed) else {
                return Ok(None);
            };
            der
        }
    };
    let mut attrs = want.attrs.clone();
    let not_after = facts.created + ::time::Duration::days(ca.validity_days.into());
    if not_after <= pki::renewal_clock() {
        attrs.insert(
            "status".into(),
            json!(format!("expired on {}", not_after.date())),
        );
    }
    Ok(Some(
        Live::new(outputs(cx, &facts, &der), attrs, true)
            .with_handle(&PkiHandle { generated: false }),
    ))
}

/// Sign the CA's certificate through KMS and keep its signature on the key.
pub async fn create(p: &PkiCa, want: &Desired, cx: &Ctx) -> Result<Live> {
    let key = answered(p.kms_key.as_deref(), "a CA held in KMS names no kms_key")?;
    let (facts, tags) = tokio::join!(facts(p, cx), key_tags(cx, key));
    let Some(facts) = facts? else {
        return Err(Error::other(format!(
            "kms_key {key} does not exist: the key must be created before its CA"
        )));
    };
    // The signature goes into the key's tags: only a key this plan made is ever written to.
    let tags = tags?.unwrap_or_default();
    let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if crate::engine::resource::owned_id(&cx.owner, pairs).is_none() {
        return Err(Error::other(format!(
            "kms_key {} is not this plan's (it lacks the plan's xpart:plan and xpart:lineage \
             tags): a CA is signed with, and its signature kept on, a key the plan made; \
             declare the key as a kms.key with `usage: sign` and refer to it as ${{<id>.arn}}",
            facts.arn
        )));
    }
    let subject = subject_of(p, cx);
    let (spki, spec, arn, created) = (
        facts.spki.clone(),
        facts.key_spec.clone(),
        facts.arn.clone(),
        facts.created,
    );
    let validity_days = p.validity_days.unwrap_or(pki::DEFAULT_CA_VALIDITY_DAYS);
    if facts.created + ::time::Duration::days(validity_days.into()) <= pki::renewal_clock() {
        return Err(Error::other(format!(
            "the CA's certificate would have expired already (its key was made {}): a CA held \
             in KMS is replaced by a new key, not renewed",
            facts.created.date()
        )));
    }
    let der = with_held_key(cx.clients(), &arn.clone(), &spki, &spec, move |key| {
        HeldCa {
            subject: &subject,
            validity_days,
            created,
            key_arn: &arn,
        }
        .sign(&key)
    })
    .await?;
    let sig = answered(
        remote::signature_of(&der),
        "the CA's certificate as signed has no readable signature",
    )?;
    let text = base64::engine::general_purpose::STANDARD.encode(sig);
    let tags: Vec<_> = text
        .as_bytes()
        .chunks(TAG_VALUE_MAX)
        .enumerate()
        .map(|(i, c)| {
            aws_sdk_kms::types::Tag::builder()
                .tag_key(format!("{SIG_TAG}{i}"))
                .tag_value(String::from_utf8_lossy(c))
                .build()
                .expect("key and value set")
        })
        .collect();
    let sent = cx
        .clients()
        .kms
        .tag_resource()
        .key_id(&facts.arn)
        .set_tags(Some(tags))
        .send();
    cx.run("TagResource", sent).await?;
    Ok(
        Live::new(outputs(cx, &facts, &der), want.attrs.clone(), true)
            .with_handle(&PkiHandle { generated: false }),
    )
}

/// Run `f` off the async workers with `key_arn` as a held key whose signing calls KMS `Sign`
/// (rcgen signs synchronously; each signature is one blocking round trip). The signing
/// algorithm follows the key spec; the message is sent whole (`RAW`: a certificate's
/// to-be-signed part is far below KMS's 4096 bytes).
pub async fn with_held_key<T: Send + 'static>(
    clients: &Clients,
    key_arn: &str,
    spki: &[u8],
    key_spec: &str,
    f: impl for<'k> FnOnce(HeldKey<'k>) -> std::result::Result<T, PkiError> + Send + 'static,
) -> Result<T> {
    let (_, alg) = remote::algorithms(key_spec).ok_or_else(|| {
        Error::other(format!(
            "KMS key {key_arn} ({key_spec}) cannot sign certificates"
        ))
    })?;
    let (clients, key_arn, spki, key_spec) = (
        clients.clone(),
        key_arn.to_string(),
        spki.to_vec(),
        key_spec.to_string(),
    );
    let handle = tokio::runtime::Handle::current();
    let label = key_arn.clone();
    tokio::task::spawn_blocking(move || {
        let sign = |msg: &[u8]| -> std::result::Result<Vec<u8>, String> {
            const RAW_MAX: usize = 4096;
            if msg.len() > RAW_MAX {
                return Err(format!(
                    "the message to sign holds {} bytes, more than KMS signs whole ({RAW_MAX})",
                    msg.len()
                ));
            }
            let sent = clients
                .kms
                .sign()
                .key_id(&key_arn)
                .message(aws_sdk_kms::primitives::Blob::new(msg.to_vec()))
                .message_type(aws_sdk_kms::types::MessageType::Raw)
                .signing_algorithm(alg.into())
                .send();
            let out = handle
                .block_on(sent)
                .map_err(|e| clients.error("Sign", e).to_string())?;
            out.signature
                .map(|b| b.into_inner())
                .ok_or_else(|| "Sign returned no signature".to_string())
        };
        let key = HeldKey::new(&spki, &key_spec, &sign).map_err(|message| PkiError::Plan {
            path: Path::new(&label).to_path_buf(),
            message,
        })?;
        f(key)
    })
    .await
    .map_err(|e| Error::caused("signing failed", e))?
    .map_err(Error::from)
}
