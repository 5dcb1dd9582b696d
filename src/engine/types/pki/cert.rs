//! `pki.cert`: a client certificate issued by a `pki.ca`, kept as `<dir>/<id>.crt` and
//! `<dir>/<id>.key` (mode 0600; `dir` defaults to `<state_dir>/pki`).
//!
//! Attributes and outputs follow `pki.ca`'s scheme (see there): `status` shows a renewal in
//! place (expired, inside `renew_before_days` of expiry, or issued by another CA), `material`
//! a replacement (subject or key type changed, broken files).
//!
//! How the certificate finds its CA, the contract with the executor: `ca` arrives rendered as
//! the CA's id (`${root.id}`), and `Ctx::refs[<that id>]` holds the CA's outputs (`cert_file`,
//! `key_file`, `cert_pem`), from the CA's `read` while planning and from its `create` or
//! `update` during apply. The CA's certificate and key are read from those paths, so a CA with
//! its own `dir`, or an imported one, works like any other; no second source of where a CA
//! lives. While planning, a CA that is not known yet (no outputs, or `ca` or its `cert_pem`
//! reading `unknown::Unknown` because it is to be created, renewed or replaced) means this
//! certificate is re-issued too. Create and update need the CA's outputs and fail without.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{
    as_planned, blocking, dir_of, files_live, key_json, outputs_of, pending_outputs, read_files,
    subject_json, PkiHandle,
};
use crate::engine::resource::{Ctx, Desired, Error, Live, Resource, Result};
use crate::lint::{kinds, limits, Checker, Env, Rules};
use crate::pki::{self, Material};
use crate::plan::types::PkiCert;
use crate::plan::Path as PropPath;
use crate::unknown::Unknown;

/// The issuing CA's material from its outputs in `cx.refs`; None while it is not known.
fn ca_material(p: &PkiCert, cx: &Ctx) -> Result<Option<Material>> {
    let known = !Unknown::is(&p.ca) && cx.dep_output(&p.ca, "cert_pem").is_some();
    let cert_file = cx.dep_output(&p.ca, "cert_file").filter(|f| !f.is_empty());
    let (true, Some(cert_file)) = (known, cert_file) else {
        return Ok(None);
    };
    // An imported CA without its key has an empty `key_file`: fine for checking who issued
    // the certificate, an error (from `pki`) only when a new one must be issued.
    let key_file = cx.dep_output(&p.ca, "key_file").filter(|k| !k.is_empty());
    Ok(Some(pki::read_material(
        Path::new(cert_file),
        key_file.map(Path::new),
    )?))
}

/// Issuing needs the CA: the executor runs the CA first and passes its outputs.
fn required_ca(p: &PkiCert, cx: &Ctx) -> Result<Material> {
    ca_material(p, cx)?.ok_or_else(|| {
        Error::other(format!(
            "the outputs of CA `{}` (cert_file, key_file, cert_pem) are not known: \
             it must be created before the certificates it issues",
            p.ca
        ))
    })
}

fn outputs_with_serial(cx: &Ctx, m: &Material) -> BTreeMap<String, String> {
    let mut o = outputs_of(cx, m);
    o.insert("serial".into(), m.serial.clone());
    o
}

impl Resource for PkiCert {
    // Files on this machine: read back at once.
    const READS_LAG: bool = false;
    const NAME_PROPERTY: Option<&'static str> = None;
    type Handle = PkiHandle;

    fn desired(p: &Self, _cx: &Ctx) -> Result<Desired> {
        Ok(as_planned(
            Desired::of::<Self>()
                .attr("subject", subject_json(&p.subject))
                .attr("key", key_json(p.key.as_ref()))
                .attr(
                    "validity_days",
                    p.validity_days.unwrap_or(pki::DEFAULT_CERT_VALIDITY_DAYS),
                )
                .attr(
                    "renew_before_days",
                    p.renew_before_days
                        .unwrap_or(pki::DEFAULT_RENEW_BEFORE_DAYS),
                ),
        ))
    }

    async fn read(p: &Self, cx: &Ctx) -> Result<Option<Live>> {
        let want = Self::desired(p, cx)?;
        let dir = dir_of(p.dir.as_deref(), cx)?;
        let ca = ca_material(p, cx)?;
        let verdict = pki::plan_cert(&dir, &cx.id, p, ca.as_ref())?;
        let kept = |m: &Material| outputs_with_serial(cx, m);
        let pending = || {
            let mut o = pending_outputs(cx, &dir);
            o.insert("serial".into(), Unknown.into());
            o
        };
        Ok(read_files(&want, &verdict, kept, pending, true))
    }

    async fn create(p: &Self, cx: &Ctx) -> Result<Live> {
        let want = Self::desired(p, cx)?;
        let ca = required_ca(p, cx)?;
        let (dir, id, spec) = (dir_of(p.dir.as_deref(), cx)?, cx.id.clone(), p.clone());
        let (material, _) = blocking(move || pki::ensure_cert(&dir, &id, &spec, &ca)).await?;
        let outputs = outputs_with_serial(cx, &material);
        Ok(files_live(outputs, want.attrs, true))
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

impl Rules for PkiCert {
    fn check(&self, cx: &mut Checker, at: &PropPath, _env: &Env) {
        kinds::cert_rules(cx, at, self);
        limits::cert_limits(cx, at, self);
    }
}
