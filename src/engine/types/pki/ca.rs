//! `pki.ca`: a root CA held by a KMS key (`kms_key`: see `held`), or kept as two local files, `<dir>/<id>.crt` and `<dir>/<id>.key` (mode
//! 0600; `dir` defaults to `<state_dir>/pki`), or a CA the user imports and xpart only checks.
//!
//! No AWS. `pki` alone judges the files (`plan_ca` without writing, `ensure_ca` to make them):
//! this module only turns its verdict into attributes the planner can compare. The same scheme
//! serves `pki.cert`:
//!
//! - `subject`, `key`, `validity_days` (and a cert's `renew_before_days`) are the plan's terms.
//!   They are not parsed back from the certificate, so read reports the plan's values; a
//!   certificate that no longer fits them shows in `material`.
//! - `status` changes in place: `valid`, or `renew: <why>` when time ran out (or, for a
//!   certificate, its CA changed). A renewal is a new key and certificate under the same id,
//!   shown as `~ status`.
//! - `material` forces replacement: `as planned`, or `<why>` when the files no longer match the
//!   plan (subject, key type) or are broken, shown as `-/+` with the reason as the old value.
//!   `status` is then left `valid`: `pki` does not judge the time of a certificate it replaces.
//!   `desired` cannot see the files, so a per-call `replace_on` is impossible; a separate
//!   attribute that only differs in that case does the same.
//!
//! When a renewal or replacement is due, read reports `cert_pem` (and a cert's `serial`) as
//! `unknown::Unknown`: those outputs are only known after apply, and dependents (a trust anchor's
//! certificate, a cert's issuer) must plan against that. The private key is never an attribute
//! or an output; only its path is.

use std::collections::BTreeSet;

use super::*;
use crate::engine::resource::{Ctx, Desired, Live, Resource, Result};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::pki::{self};
use crate::plan::types::{PkiCa, Subject};
use crate::plan::Path as PropPath;

impl Resource for PkiCa {
    // Files on this machine: read back at once.
    const READS_LAG: bool = false;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = PkiHandle;

    fn desired(p: &Self, cx: &Ctx) -> Result<Desired> {
        let want = match &p.import {
            // An import is the user's files: where they are is all the plan says.
            Some(import) => Desired::of::<Self>()
                .attr(
                    "certificate_file",
                    cx.path(&import.certificate_file).display().to_string(),
                )
                .attr(
                    "key_file",
                    import
                        .key_file
                        .as_deref()
                        .map(|k| cx.path(k).display().to_string()),
                ),
            None => {
                let subject = p.subject.clone().unwrap_or_else(|| Subject {
                    common_name: cx.id.clone(),
                    organization: None,
                    organizational_unit: None,
                    country: None,
                });
                let key = match &p.kms_key {
                    // Another key is another CA: shown as a replacement, by `material`.
                    Some(arn) => serde_json::json!({ "kms_key": arn }),
                    None => key_json(p.key.as_ref()),
                };
                Desired::of::<Self>()
                    .attr("subject", subject_json(&subject))
                    .attr("key", key)
                    .attr(
                        "validity_days",
                        p.validity_days.unwrap_or(pki::DEFAULT_CA_VALIDITY_DAYS),
                    )
            }
        };
        Ok(as_planned(want))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        let want = Self::desired(p, cx)?;
        if p.kms_key.is_some() {
            return super::held::read(p, &want, cx).await;
        }
        let dir = dir_of(p.dir.as_deref(), cx)?;
        let verdict = pki::plan_ca(&dir, &cx.id, p, &cx.base)?;
        let kept = |m: &pki::Material| outputs_of(cx, m);
        let pending = || pending_outputs(cx, &dir);
        Ok(read_files(
            &want,
            &verdict,
            kept,
            pending,
            p.import.is_none(),
        ))
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let want = Self::desired(p, cx)?;
        if p.kms_key.is_some() {
            return super::held::create(p, &want, cx).await;
        }
        let (dir, id, spec, base) = (
            dir_of(p.dir.as_deref(), cx)?,
            cx.id.clone(),
            p.clone(),
            cx.base.clone(),
        );
        let (material, _) = blocking(move || pki::ensure_ca(&dir, &id, &spec, &base)).await?;
        let outputs = outputs_of(cx, &material);
        Ok(files_live(outputs, want.attrs, p.import.is_none()))
    }

    async fn update(p: &Self, _: &Live, _: &BTreeSet<String>, cx: &Ctx) -> Result<Live> {
        // Made again from the files: `ensure_*` decides (a renewal due is a new key and
        // certificate).
        Self::create(p, cx).await
    }

    async fn delete(live: &Live, _cx: &Ctx) -> Result<()> {
        super::remove_files(live)
    }

    async fn find_owned(_cx: &Ctx) -> Result<Vec<(String, Live)>> {
        // Kept as files: a `pki.*` the plan drops leaves them in the plan's state directory.
        Ok(vec![])
    }
}

impl Rules for PkiCa {
    fn check(&self, cx: &mut Checker, at: &PropPath, env: &Env) {
        kinds::ca_rules(cx, at, self, env.base);
        limits::ca_limits(cx, at, self);
    }
}
