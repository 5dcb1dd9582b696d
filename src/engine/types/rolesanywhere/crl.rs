//! `rolesanywhere.crl`: the certificates a trust anchor no longer accepts.
//!
//! A type of its own rather than a property of the trust anchor: Roles Anywhere keeps a CRL as
//! a resource of its own (ImportCrl makes it, with its own id, ARN, tags and enabled state,
//! bound to one anchor), so one plan resource per API resource keeps ownership, orphans and
//! deletion the same as everywhere else, and revoking never touches the anchor.
//!
//! xpart makes the list from the plan's serials and signs it with the anchor's CA, wherever its
//! key is (KMS `Sign`, or the key file): see `pki::crl`. The list is compared by what it says
//! (`issuer`, `revoked`, `status`), never by bytes, since each signing differs. Found like the
//! other Roles Anywhere types (ListCrls, then the tags); ImportCrl cannot be deduplicated, so it
//! runs through `create_once` with that lookup.
//!
//! Round trips: `read` is ListCrls (with the shared tag index); `create` is one ImportCrl
//! after the signing (one KMS `Sign` for a held CA); `update` one UpdateCrl, and EnableCrl or
//! DisableCrl when that changes.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rolesanywhere::operation::import_crl::ImportCrlOutput;
use aws_sdk_rolesanywhere::primitives::Blob;
use aws_sdk_rolesanywhere::types::CrlDetail;
use serde_json::{json, Value as Json};
use time::Duration;

use super::{
    create_tagged, delete_by_id, need, ra_tags, settle, switch, tags_attr, update_with, NOT_FOUND,
};
use crate::engine::resource::{plan_tags, Ctx, Desired, Error, Live, Resource, Result};
use crate::engine::types::pki::with_ca_key;
use crate::lint::{kinds, limits, names, Checker, Env, NameCheck, Rules};
use crate::pki::crl::{self as crls, normalize_serial};
use crate::plan::types::Crl;
use crate::plan::Path as PropPath;
use crate::unknown::Unknown;

/// The days a list holds when the plan names none.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;
/// A list is signed again once fewer days than this are left before its nextUpdate.
pub const RENEW_BEFORE_DAYS: i64 = 30;

fn validity(p: &Crl) -> u32 {
    p.validity_days.unwrap_or(DEFAULT_VALIDITY_DAYS)
}

/// The plan's serials, normalized; lint has refused any that is not hex.
fn revoked(p: &Crl) -> BTreeSet<String> {
    p.revoked
        .iter()
        .filter_map(|s| normalize_serial(s))
        .collect()
}

/// Who signs the list: the plan CA's key identifier, unknown while the CA is to be made.
fn issuer(p: &Crl, cx: &Ctx) -> Json {
    let pem = (!Unknown::within(&p.ca))
        .then(|| cx.dep_output(&p.ca, "cert_pem"))
        .flatten();
    match pem.map(crls::signer_id) {
        Some(Ok(id)) => json!(id),
        _ => Json::from(Unknown),
    }
}

fn live_of(c: &CrlDetail, tags: &[(String, String)], owned: bool) -> Result<Live> {
    let name = need(c.name(), "name")?;
    let mut outputs = BTreeMap::new();
    outputs.insert("arn".into(), need(c.crl_arn(), "crlArn")?.to_string());
    outputs.insert("id".into(), need(c.crl_id(), "crlId")?.to_string());
    outputs.insert("name".into(), name.to_string());
    let said = c.crl_data().map(|d| crls::read(d.as_ref()));
    let (issuer, listed, status) = match said {
        Some(Ok(crl)) => {
            let now = crate::pki::renewal_clock();
            let status = match crl.next_update {
                Some(t) if t <= now => format!("renew: expired on {}", t.date()),
                Some(t) if t - now < Duration::days(RENEW_BEFORE_DAYS) => format!(
                    "renew: holds until {}, fewer than {RENEW_BEFORE_DAYS} days from now",
                    t.date()
                ),
                _ => "valid".to_string(),
            };
            (json!(crl.issuer), json!(crl.revoked), json!(status))
        }
        _ => (json!("unreadable"), json!([]), json!("renew: unreadable")),
    };
    let attrs = BTreeMap::from([
        ("name".to_string(), json!(name)),
        (
            "trust_anchor".to_string(),
            json!(need(c.trust_anchor_arn(), "trustAnchorArn")?),
        ),
        ("enabled".to_string(), json!(c.enabled().unwrap_or(false))),
        ("issuer".to_string(), issuer),
        ("revoked".to_string(), listed),
        ("status".to_string(), status),
        ("tags".to_string(), tags_attr(tags)),
    ]);
    Ok(Live::new(outputs, attrs, owned))
}

super::listed! {
    Crl: CrlDetail, list_crls "ListCrls", name name, arn crl_arn, live live_of
}

/// The list the plan asks for, signed by its CA: PEM, as ImportCrl takes it.
async fn signed(p: &Crl, cx: &Ctx) -> Result<Vec<u8>> {
    let pem = cx
        .dep_output(&p.ca, "cert_pem")
        .filter(|_| !Unknown::within(&p.ca))
        .ok_or_else(|| {
            Error::other(format!(
                "the certificate of CA `{}` is not known: it must be made before the CRL",
                p.ca
            ))
        })?
        .to_string();
    let (list, days) = (revoked(p), validity(p));
    let ca = p.ca.clone();
    with_ca_key(cx, &p.ca, move |key| {
        let terms = crls::Terms {
            revoked: &list,
            validity_days: days,
        };
        crls::make(&pem, key, &terms)
            .map(String::into_bytes)
            .map_err(|reason| crate::pki::PkiError::Issuer {
                path: format!("CA {ca}").into(),
                reason,
            })
    })
    .await
}

/// Attributes that a new signing brings to the plan.
const SIGNED: &[&str] = &["issuer", "revoked", "status"];

impl Resource for Crl {
    const READS_LAG: bool = super::READS_LAG;
    const NAME_PROPERTY: Option<&'static str> = Some("name");
    type Handle = ();

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        Ok(Desired::of::<Self>()
            .attr("name", p.name.as_str())
            .attr("trust_anchor", p.trust_anchor.as_str())
            .attr("enabled", p.enabled)
            .attr("issuer", issuer(p, cx))
            .attr("revoked", json!(revoked(p)))
            .attr("status", "valid")
            .attr("tags", plan_tags(&p.tags))
            .forces_replacement(&["trust_anchor"]))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        super::read_by_listing(p, cx).await
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let der = signed(p, cx).await?;
        let send = || {
            ra.import_crl()
                .name(&p.name)
                .crl_data(Blob::new(der.clone()))
                .trust_anchor_arn(&p.trust_anchor)
                .enabled(p.enabled)
                .set_tags(Some(ra_tags(cx, &p.tags)))
                .customize()
                .config_override(crate::aws::once::rolesanywhere())
                .send()
        };
        let made =
            |o: ImportCrlOutput, sent: &[(String, String)]| o.crl.map(|c| live_of(&c, sent, true));
        let made = create_tagged(
            p,
            cx,
            ("ImportCrl", "ImportCrl returned no CRL"),
            send,
            made,
        )
        .await?;
        settle(p, cx, made).await
    }

    async fn update(p: &Self, live: &Live, changed: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        let ra = &cx.clients().rolesanywhere;
        let id = live.output("id")?.to_string();
        let resign = SIGNED.iter().any(|a| changed.contains(*a));
        let der = if resign {
            Some(signed(p, cx).await?)
        } else {
            None
        };
        let settings = async {
            if resign || changed.contains("name") {
                cx.call(
                    "UpdateCrl",
                    ra.update_crl()
                        .crl_id(&id)
                        .name(&p.name)
                        .set_crl_data(der.map(Blob::new))
                        .send(),
                )
                .await?;
            }
            if changed.contains("enabled") {
                switch!(cx, p.enabled,
                    "EnableCrl" => ra.enable_crl().crl_id(&id),
                    "DisableCrl" => ra.disable_crl().crl_id(&id))?;
            }
            Ok(())
        };
        update_with(p, cx, live, changed, SIGNED, settings).await
    }

    async fn delete(live: &Live, cx: &Ctx) -> Result<()> {
        delete_by_id!(cx, live, "DeleteCrl", delete_crl, crl_id)
    }

    async fn find_owned(cx: &Ctx) -> Result<Vec<(String, Live)>> {
        super::owned_by_listing::<Self>(cx).await
    }
}

impl Rules for Crl {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::crl_rules(cx, at, self);
        limits::check_tags(cx, at, &self.tags);
    }
    fn names(&self) -> Vec<(&str, NameCheck)> {
        vec![(&self.name, NameCheck::Rule(&names::PROFILE_NAME))]
    }
}
