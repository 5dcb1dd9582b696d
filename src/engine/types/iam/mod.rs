//! `iam.*`: roles and instance profiles, the IAM path that finds a plan's own, and the
//! policy-document handling they share.

pub mod instance_profile;
pub mod role;

pub use super::shared::{all, converged, gone_ok, unless_gone, Call, IAM_GONE};
pub use crate::engine::resource::changed_attrs;
pub use crate::policy::canonical;

use serde_json::Value as Json;

use crate::engine::resource::{Ctx, Desired, Result};
use crate::plan::types::Declared;
use crate::plan::PlanIdentity;

/// `Resource::READS_LAG` of every IAM type: IAM is eventually consistent ("Changes that I
/// make are not always immediately visible", IAM User Guide, Troubleshooting IAM), so a run
/// reads each of its creates back before it ends.
pub const READS_LAG: bool = true;

/// The IAM path under which a plan keeps its roles and instance profiles: `/xpart/<plan>/`.
///
/// IAM is outside the tag index (the Resource Groups Tagging API "does not currently support
/// IAM users and roles"), and ListRoles and ListInstanceProfiles leave tags out, so the only
/// way IAM can be asked for a plan's own without walking the account is the one filter those
/// listings take: `PathPrefix`. Every role and profile the plan makes lives under this path, so
/// finding them (orphans included) is one listing whatever else the account holds. The path
/// is an index, not the proof of ownership: the tags still decide, and two plans whose names
/// sanitize alike only cost each other a GetRole per listed role. It also lets an
/// administrator scope xpart's IAM permissions to `role/xpart/*` and `instance-profile/xpart/*`.
pub fn plan_path(owner: &PlanIdentity) -> String {
    // One segment: no `/` in it.
    let name = crate::engine::tags::name_part(&owner.name, "_+=,.@-", 64);
    format!("/xpart/{name}/")
}

/// Where a role or profile lives: the `path` it declares, else the plan's path. A declared
/// path is IAM's, as written (`path: /` keeps a role made before, or outside xpart, where it
/// is); one outside the plan's path is found while the plan declares the role, but not once
/// the plan no longer does (docs/plan.md says so).
pub fn path_in_plan(owner: &PlanIdentity, declared: Option<&str>) -> String {
    declared.map_or_else(|| plan_path(owner), str::to_string)
}

/// What every IAM resource's desired state starts with: its `name` and the `path` it lives
/// under, which together place it in the account (neither changes in place).
pub fn desired_at<T: Declared>(name: &str, path: String) -> Desired {
    Desired::of::<T>().attr("name", name).attr("path", path)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_path_is_a_path_iam_accepts_whatever_the_plan_is_called() {
        let owner = |name: &str| PlanIdentity {
            name: name.into(),
            lineage: "0".into(),
        };
        assert_eq!(
            plan_path(&owner("china-to-commercial-ci-42")),
            "/xpart/china-to-commercial-ci-42/"
        );
        for name in ["a b/c", "中国", &"x".repeat(600), ""] {
            let p = plan_path(&owner(name));
            assert!(p.starts_with("/xpart/") && p.ends_with('/'), "{p}");
            assert!(p.len() <= 512, "{}", p.len());
            assert!(
                p[7..p.len() - 1]
                    .chars()
                    .all(|c| c != '/' && ('!'..='~').contains(&c)),
                "{p}: one segment of printable characters"
            );
        }
        assert_eq!(path_in_plan(&owner("p"), Some("/team/a/")), "/team/a/");
        assert_eq!(path_in_plan(&owner("p"), None), "/xpart/p/");
        assert_eq!(path_in_plan(&owner("p"), Some("/")), "/");
    }
}
