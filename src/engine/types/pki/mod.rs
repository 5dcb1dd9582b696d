//! `pki.*`: the CA and client certificates, kept as files in the plan's state directory (or, for
//! a CA, held by a KMS key: `held`), and what they share: where the files go, how their state is described, the blocking work.

pub mod ca;
pub mod cert;
pub mod held;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};

use crate::engine::resource::{Attrs, Ctx, Desired, Error, Live, Result};
use crate::pki::{self, Material, PkiAction};
use crate::plan::types::{Curve, KeyAlgorithm, KeySpec, Subject};
use crate::unknown::Unknown;

/// What every `pki.*` resource asks of its files besides its settings: valid, and as planned
/// (material that no longer fits the plan is made again: a replacement).
pub fn as_planned(want: Desired) -> Desired {
    want.attr("status", VALID)
        .attr("material", AS_PLANNED)
        .forces_replacement(&["material"])
}

/// `material` when the files fit the plan.
pub const AS_PLANNED: &str = "as planned";
/// `status` when no renewal is due.
pub const VALID: &str = "valid";

/// Where a `pki.*` resource keeps its files: `dir` inside the plan's state directory (default
/// `pki`). Never outside it: lint refuses an absolute `dir` or one with `..`, and this refuses
/// it again, so no plan can have xpart write a key anywhere else.
pub fn dir_of(dir: Option<&str>, cx: &Ctx) -> Result<PathBuf> {
    let d = dir.unwrap_or("pki");
    if !crate::plan::confined(d) {
        return Err(Error::other(format!(
            "dir `{}` is not a relative path inside the plan's state directory",
            crate::diag::excerpt(d, 80)
        )));
    }
    Ok(cx.state_dir.join(d))
}

/// A subject as an attribute: only the parts the plan sets.
pub fn subject_json(s: &Subject) -> Json {
    let mut m = serde_json::Map::new();
    m.insert("common_name".into(), json!(s.common_name));
    for (k, v) in [
        ("organization", &s.organization),
        ("organizational_unit", &s.organizational_unit),
        ("country", &s.country),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    Json::Object(m)
}

/// A key spec with `pki`'s defaults filled in (RSA 2048, P-256), so leaving them out of the plan
/// and writing them shows no difference.
pub fn key_json(k: Option<&KeySpec>) -> Json {
    match k {
        None => json!({"algorithm": "rsa", "bits": 2048}),
        Some(k) => match k.algorithm {
            KeyAlgorithm::Rsa => json!({"algorithm": "rsa", "bits": k.bits.unwrap_or(2048)}),
            KeyAlgorithm::Ecdsa => {
                let curve = match k.curve.unwrap_or(Curve::P256) {
                    Curve::P256 => "p256",
                    Curve::P384 => "p384",
                };
                json!({"algorithm": "ecdsa", "curve": curve})
            }
        },
    }
}

/// The attributes of a live `pki.*` resource from `pki`'s verdict: the plan's terms, with
/// `status` or `material` telling what apply would do. None when the files do not exist.
pub fn live_attrs(want: &Desired, action: &PkiAction) -> Option<BTreeMap<String, Json>> {
    let mut attrs = want.attrs.clone();
    match action {
        PkiAction::Create => return None,
        PkiAction::Unchanged => {}
        PkiAction::Renew { reason } => {
            attrs.insert("status".into(), json!(format!("renew: {reason}")));
        }
        PkiAction::Replace { reason } => {
            attrs.insert("material".into(), json!(reason));
        }
    }
    Some(attrs)
}

/// Outputs of a `pki.*` resource from its material on disk.
pub fn outputs_of(cx: &Ctx, m: &Material) -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("id".into(), cx.id.clone());
    o.insert("cert_file".into(), m.cert_file.display().to_string());
    o.insert(
        "key_file".into(),
        // An imported CA given without its key has none: empty, which `with_ca_key` and
        // `remove_files` read as no key file (a reference to it renders empty, as before).
        m.key_file
            .as_ref()
            .map(|k| k.display().to_string())
            .unwrap_or_default(),
    );
    o.insert("cert_pem".into(), m.cert_pem.clone());
    o
}

/// Outputs while a new certificate is due: the files keep their paths, the PEM is unknown.
pub fn pending_outputs(cx: &Ctx, dir: &Path) -> BTreeMap<String, String> {
    let (cert, key) = pki::files(dir, &cx.id);
    let mut o = BTreeMap::new();
    o.insert("id".into(), cx.id.clone());
    o.insert("cert_file".into(), cert.display().to_string());
    o.insert("key_file".into(), key.display().to_string());
    o.insert("cert_pem".into(), Unknown.into());
    o
}

/// What a `pki.*` resource's `Live` keeps for delete: whether this plan generated its files
/// (only those are ever removed; an imported CA's files are the user's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PkiHandle {
    pub generated: bool,
}

/// A `pki.*` resource's `Live`: its files' `outputs` and its attributes, with whether this
/// plan `generated` the files (what `remove_files` asks).
pub fn files_live(outputs: BTreeMap<String, String>, attrs: Attrs, generated: bool) -> Live {
    Live::new(outputs, attrs, true).with_handle(&PkiHandle { generated })
}

/// A `pki.*` resource as `read` describes it from `pki`'s verdict on its files: None when they
/// do not exist yet; else with the outputs of the material kept (`kept`), or those `pending`
/// gives while a new certificate is due.
pub fn read_files(
    want: &Desired,
    verdict: &pki::Decision,
    kept: impl FnOnce(&Material) -> BTreeMap<String, String>,
    pending: impl FnOnce() -> BTreeMap<String, String>,
    generated: bool,
) -> Option<Live> {
    let attrs = live_attrs(want, &verdict.action)?;
    let outputs = match &verdict.kept {
        Some(m) => kept(m),
        None => pending(),
    };
    Some(files_live(outputs, attrs, generated))
}

/// Remove the certificate and key a plan generated; files already gone are fine. An imported
/// CA's files belong to the user and are never touched.
pub fn remove_files(live: &Live) -> Result<()> {
    if !live.handle::<PkiHandle>()?.generated {
        return Ok(());
    }
    for name in ["cert_file", "key_file"] {
        let Some(path) = live.outputs.get(name).filter(|p| !p.is_empty()) else {
            continue;
        };
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(pki::PkiError::Io {
                    path: PathBuf::from(path),
                    source,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// Run a PKI step off the async workers: RSA key generation takes seconds.
/// Run `f` with the key of CA `ca` (the id of a `pki.ca` among `cx`'s dependencies): KMS
/// `Sign` in the key's partition for a CA held by KMS, else the CA's key file. It runs on a
/// blocking thread: signing through KMS waits for a call.
pub async fn with_ca_key<T: Send + 'static>(
    cx: &Ctx,
    ca: &str,
    f: impl FnOnce(&dyn rcgen::SigningKey) -> Result<T, pki::PkiError> + Send + 'static,
) -> Result<T> {
    let out = |attr: &str| cx.dep_output(ca, attr).filter(|v| !v.is_empty());
    match (out("kms_key"), out("partition"), out("key_file")) {
        (Some(arn), Some(partition), _) => {
            let part = cx.partition(partition)?;
            let spki = out("cert_pem")
                .and_then(crate::pki::remote::spki_of_pem)
                .ok_or_else(|| Error::other(format!("CA `{ca}`: unreadable certificate")))?;
            let spec = out("key_spec")
                .ok_or_else(|| Error::other(format!("CA `{ca}`: no key_spec output")))?;
            held::with_held_key(&part.clients, arn, &spki, spec, move |k| f(&k)).await
        }
        (_, _, Some(key_file)) => {
            let key_file = std::path::PathBuf::from(key_file);
            blocking(move || f(&pki::load_private_key(&key_file)?)).await
        }
        _ => Err(Error::other(format!(
            "CA `{ca}` has no key to sign with (imported without `key_file`?)"
        ))),
    }
}

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, pki::PkiError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::caused("certificate generation failed", e))?
        .map_err(Error::from)
}
