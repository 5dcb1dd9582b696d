//! `kms.*`: keys (`key`) and their key policies (`policy`).

pub mod key;
pub mod policy;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::engine::resource::PartCtx;

/// The account principal as KMS itself writes it, by account, kept for the partition
/// (`PartCtx::slots`): learned from a key policy KMS made (the default policy of a key created
/// without one) or accepted (a live key policy's account statement), so key policies name the
/// account in the partition's own form, not in one xpart assumes.
#[derive(Debug, Default)]
pub struct Principals(Mutex<BTreeMap<String, String>>);

impl Principals {
    /// The partition's principals learned so far.
    pub fn of(part: &PartCtx) -> Arc<Principals> {
        part.slots.get()
    }

    /// Keep `principal` as the form KMS gives `account`'s principal (the first learned stays).
    pub fn learn(&self, account: &str, principal: &str) {
        self.0
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_insert_with(|| principal.to_string());
    }

    /// The account principal KMS was seen to use for `account`, if any.
    pub fn learned(&self, account: &str) -> Option<String> {
        self.0.lock().unwrap().get(account).cloned()
    }
}
