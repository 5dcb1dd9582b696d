//! `iam.*`: roles and instance profiles, and the policy-document handling they share.

pub mod instance_profile;
pub mod role;

pub use super::shared::{all, converged, differing, gone_ok, unless_gone, Call, IAM_GONE};
pub use crate::policy::canonical;

use serde_json::Value as Json;

use crate::engine::resource::{Ctx, Result};

/// IAM calls that make or undo a link between two named things (a policy and a role, a role
/// and a profile): each a function of the two names. An `unlink` of a link or target already
/// gone counts as done (deleting a role or a profile must undo its links first).
macro_rules! links {
    () => {};
    (@unlink $cx:ident, $op:literal, $sent:ident) => {
        unless_gone($cx, $op, IAM_GONE, $sent).await.map(|_| ())
    };
    (@link $cx:ident, $op:literal, $sent:ident) => {
        $cx.run($op, $sent).await
    };
    ($(#[$doc:meta])* $kind:ident fn $f:ident($a:ident => $set_a:ident, $b:ident => $set_b:ident) = $op:literal $call:ident; $($rest:tt)*) => {
        $(#[$doc])*
        pub async fn $f(cx: &Ctx, $a: &str, $b: &str) -> Result<()> {
            let sent = cx.clients().iam.$call().$set_a($a).$set_b($b).send();
            links!(@$kind cx, $op, sent)
        }
        links! { $($rest)* }
    };
}

links! {
    /// Takes `role` out of `profile`.
    unlink fn remove_from_profile(profile => instance_profile_name, role => role_name) = "RemoveRoleFromInstanceProfile" remove_role_from_instance_profile;
    /// Deletes the inline policy `name` of `role`.
    unlink fn delete_inline(role => role_name, name => policy_name) = "DeleteRolePolicy" delete_role_policy;
    /// Detaches the managed policy `arn` from `role`.
    unlink fn detach_policy(role => role_name, arn => policy_arn) = "DetachRolePolicy" detach_role_policy;
    /// Attaches the managed policy `arn` to `role`.
    link fn attach_policy(role => role_name, arn => policy_arn) = "AttachRolePolicy" attach_role_policy;
}

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
