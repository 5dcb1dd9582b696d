//! A secret whose value is a client certificate and its key (`value: {certificate: …}`),
//! issued by a `pki.ca` (held by KMS, or local files) when the secret is made and again when
//! renewal is due. The key is made in memory on the machine that applies and goes straight
//! into the secret: it exists nowhere else.
//!
//! Renewal is decided without reading the value: the certificate's facts travel as the
//! secret's tags (`xpart:cert-issuer`, the SHA-256 of the issuing CA's certificate;
//! `xpart:cert-terms`, a digest of the plan's subject, key and validity; `xpart:cert-not-after`,
//! `xpart:cert-serial`, `xpart:cert-sha256`). DescribeSecret returns them, so `plan` reads no
//! key material and needs no secretsmanager:GetSecretValue. The compared `value` is then
//! `{issuer, terms, status}`: another CA, other terms, or a `status` of `renew: …` (inside
//! `renew_before_days` of expiry) each show as a change, and the update issues a new pair.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ::time::format_description::well_known::Rfc3339;
use ::time::{Duration, OffsetDateTime};
use aws_lc_rs::digest;
use serde_json::{json, Value as Json};

use crate::engine::resource::{Ctx, Error, Result};
use crate::engine::types::pki::{key_json, subject_json, with_ca_key};
use crate::hex::hex;
use crate::pki;
use crate::pki::remote::{self, ClientTerms, Issued};
use crate::plan::template::Template;
use crate::plan::types::{Crl, IssuedCertificate};
use crate::plan::Plan;
use crate::unknown::Unknown;

/// What a secret holding an issued certificate keeps from the plan (`Resource::prepare`):
/// the serials (hex, normalized) the plan's CRLs of its CA revoke. Its certificate is issued
/// again when among them.
#[derive(Debug, Default)]
pub struct Revoked(pub BTreeSet<String>);

/// The serials each CA's CRLs in the plan revoke (hex, normalized), by the CA's id: literal in
/// the plan, so known before anything is read.
pub fn revoked_by_ca(plan: &Plan) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in plan.resources.values().filter_map(|r| r.kind.get::<Crl>()) {
        let Some(ca) = ca_of(&c.ca) else {
            continue;
        };
        let serials = c
            .revoked
            .iter()
            .filter_map(|s| pki::crl::normalize_serial(s));
        out.entry(ca).or_default().extend(serials);
    }
    out
}

/// The serials revoked for certificate `c`: those of its CA, found by the plan's reference
/// (while planning, the CA's id may not be rendered).
pub fn revoked_for(plan: &Plan, c: &IssuedCertificate) -> Revoked {
    let of_ca = ca_of(&c.ca).and_then(|ca| revoked_by_ca(plan).remove(&ca));
    Revoked(of_ca.unwrap_or_default())
}

/// The CA a `ca:` property names: the id in its `${<id>.id}`.
fn ca_of(reference: &str) -> Option<String> {
    Template::parse(reference)
        .ok()
        .and_then(|t| t.single_ref().map(|(id, _)| id.to_string()))
}

pub const TAG_ISSUER: &str = "xpart:cert-issuer";
pub const TAG_TERMS: &str = "xpart:cert-terms";
pub const TAG_NOT_AFTER: &str = "xpart:cert-not-after";
pub const TAG_SERIAL: &str = "xpart:cert-serial";
/// The same serial in hex, as a CRL of the plan names it.
pub const TAG_SERIAL_HEX: &str = "xpart:cert-serial-hex";
pub const TAG_SHA256: &str = "xpart:cert-sha256";

fn validity(c: &IssuedCertificate) -> u32 {
    c.validity_days.unwrap_or(pki::DEFAULT_CERT_VALIDITY_DAYS)
}

fn renew_before(c: &IssuedCertificate) -> u32 {
    c.renew_before_days
        .unwrap_or(pki::DEFAULT_RENEW_BEFORE_DAYS)
}

/// A digest of what the plan asks of the certificate (not of when it renews, which changes
/// nothing in the certificate).
fn terms(c: &IssuedCertificate) -> String {
    let doc = json!({
        "subject": subject_json(&c.subject),
        "key": key_json(c.key.as_ref()),
        "validity_days": validity(c),
    });
    hex(&digest::digest(&digest::SHA256, doc.to_string().as_bytes()).as_ref()[..16])
}

/// The CA's certificate, while it is known.
fn ca_pem<'a>(c: &IssuedCertificate, cx: &'a Ctx) -> Option<&'a str> {
    if Unknown::within(&c.ca) {
        return None;
    }
    cx.dep_output(&c.ca, "cert_pem")
}

/// The `value` the plan wants: unknown while the CA is to be made or changed.
pub fn desired(c: &IssuedCertificate, cx: &Ctx) -> Json {
    match ca_pem(c, cx).and_then(remote::fingerprint_of_pem) {
        Some(issuer) => json!({"issuer": issuer, "terms": terms(c), "status": "valid"}),
        None => Json::from(Unknown),
    }
}

/// The `value` a secret has, from its tags: null when they do not describe a certificate.
/// `revoked` holds the serials (hex, normalized) the plan's CRLs of this CA revoke: a
/// certificate among them is issued again.
pub fn live<'a>(
    c: &IssuedCertificate,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    revoked: &std::collections::BTreeSet<String>,
) -> Json {
    let (mut issuer, mut made_for, mut not_after, mut serial) = (None, None, None, None);
    for (k, v) in tags {
        match k {
            TAG_ISSUER => issuer = Some(v),
            TAG_TERMS => made_for = Some(v),
            TAG_NOT_AFTER => not_after = OffsetDateTime::parse(v, &Rfc3339).ok(),
            TAG_SERIAL => serial = serial_hex(v),
            _ => {}
        }
    }
    let (Some(issuer), Some(made_for), Some(not_after)) = (issuer, made_for, not_after) else {
        return Json::Null;
    };
    let now = pki::renewal_clock();
    let status = if serial.as_ref().is_some_and(|s| revoked.contains(s)) {
        format!(
            "renew: serial {} is revoked by the plan",
            serial.unwrap_or_default()
        )
    } else if not_after <= now {
        format!("renew: expired on {}", not_after.date())
    } else if not_after - now < Duration::days(renew_before(c).into()) {
        format!(
            "renew: expires on {}, fewer than {} days from now",
            not_after.date(),
            renew_before(c)
        )
    } else {
        "valid".into()
    };
    json!({"issuer": issuer, "terms": made_for, "status": status})
}

/// A decimal serial (the `xpart:cert-serial` tag) as hex, as CRLs and `openssl` show it.
pub fn serial_hex(decimal: &str) -> Option<String> {
    let n = x509_parser::num_bigint::BigUint::parse_bytes(decimal.as_bytes(), 10)?;
    crate::pki::crl::normalize_serial(&n.to_str_radix(16))
}

/// The tags that describe `issued`, made by the CA of `ca_pem` on these terms.
pub fn tags_of(c: &IssuedCertificate, ca_pem: &str, issued: &Issued) -> Vec<(String, String)> {
    let not_after = issued
        .not_after
        .format(&Rfc3339)
        .unwrap_or_else(|_| issued.not_after.unix_timestamp().to_string());
    [
        (
            TAG_ISSUER,
            remote::fingerprint_of_pem(ca_pem).unwrap_or_default(),
        ),
        (TAG_TERMS, terms(c)),
        (TAG_NOT_AFTER, not_after),
        (TAG_SERIAL, issued.serial.clone()),
        (
            TAG_SERIAL_HEX,
            serial_hex(&issued.serial).unwrap_or_default(),
        ),
        (TAG_SHA256, issued.fingerprint_sha256.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// What to issue, owned: it moves onto a blocking thread.
struct Order {
    label: PathBuf,
    ca_pem: String,
    subject: crate::plan::types::Subject,
    key: Option<crate::plan::types::KeySpec>,
    days: u32,
}

impl Order {
    fn fill<S: rcgen::SigningKey>(self, signer: S) -> Result<Issued, pki::PkiError> {
        let t = ClientTerms {
            subject: &self.subject,
            key: self.key.as_ref(),
            validity_days: self.days,
        };
        remote::issue(&self.label, &self.ca_pem, signer, &t)
    }
}

/// A new key and certificate from the plan's CA (through KMS `Sign` in the CA key's partition,
/// or with the CA's key file), with the tags that describe them.
pub async fn issue(
    c: &IssuedCertificate,
    cx: &Ctx,
    secret: &str,
) -> Result<(Issued, Vec<(String, String)>)> {
    let ca = ca_pem(c, cx).ok_or_else(|| {
        Error::other(format!(
            "the certificate of CA `{}` is not known: it must be made before the secret",
            c.ca
        ))
    })?;
    let order = Order {
        label: PathBuf::from(format!("secret {secret}")),
        ca_pem: ca.to_string(),
        subject: c.subject.clone(),
        key: c.key.clone(),
        days: validity(c),
    };
    let ca_pem = order.ca_pem.clone();
    let issued = with_ca_key(cx, &c.ca, move |k| order.fill(k)).await?;
    let tags = tags_of(c, &ca_pem, &issued);
    Ok((issued, tags))
}
