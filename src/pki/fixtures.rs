//! Plans and scratch directories shared by the PKI's unit tests.

use std::fs;
use std::path::PathBuf;

use super::PkiAction;
use crate::plan::types::{Curve, KeyAlgorithm, KeySpec, PkiCa, PkiCert, Subject};

pub(super) fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "xpart-pki-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

pub(super) fn subject(cn: &str) -> Subject {
    Subject {
        common_name: cn.into(),
        organization: Some("xpart".into()),
        organizational_unit: None,
        country: Some("CN".into()),
    }
}

pub(super) fn ecdsa(curve: Curve) -> Option<KeySpec> {
    Some(KeySpec {
        algorithm: KeyAlgorithm::Ecdsa,
        bits: None,
        curve: Some(curve),
    })
}

pub(super) fn ca(cn: &str) -> PkiCa {
    PkiCa {
        subject: Some(subject(cn)),
        kms_key: None,
        key: ecdsa(Curve::P256),
        validity_days: None,
        dir: None,
        import: None,
    }
}

pub(super) fn cert(cn: &str) -> PkiCert {
    PkiCert {
        ca: "${root.id}".into(),
        subject: subject(cn),
        key: ecdsa(Curve::P256),
        validity_days: None,
        renew_before_days: None,
        dir: None,
    }
}

pub(super) fn reason(a: &PkiAction) -> &str {
    match a {
        PkiAction::Renew { reason } | PkiAction::Replace { reason } => reason,
        other => panic!("expected a renewal or replacement, got {other:?}"),
    }
}
