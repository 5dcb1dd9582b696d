//! `iam.*`: roles and instance profiles, and the policy-document handling they share.

pub mod instance_profile;
pub mod role;

pub use super::shared::{all, converged, differing, gone_ok, Call, IAM_GONE};
pub use crate::policy::canonical;

use serde_json::Value as Json;

/// IAM answers documents URL-encoded.
pub fn decode_document(s: &str) -> Json {
    let decoded = percent_decode(s);
    serde_json::from_str(&decoded).unwrap_or(Json::String(decoded))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
