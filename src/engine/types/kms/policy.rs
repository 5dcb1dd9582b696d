//! A `kms.key`'s key policy: the document the plan generates (naming the account principal as
//! KMS itself wrote it for this account, learned from any key policy KMS hands back), and the
//! calls that read and put it, retried while a new principal propagates.
//!
//! Apart from `key.rs` because it is its own job: what the policy says and how KMS takes it,
//! where `key.rs` is how a key is found, made, changed and deleted.

use serde_json::Value as Json;

use super::key::{propagating, GONE};
use crate::engine::resource::{retry_propagation, Ctx, Error, Propagation, Result};
use crate::engine::types::shared::gone_ok;
use crate::plan::types::KmsKey;
use crate::policy;
use crate::policy::canonical;

/// The only key policy name KMS has.
const POLICY_NAME: &str = "default";

const PRINCIPALS: Propagation = Propagation {
    what: "the key policy's principals",
    bound: Ctx::kms_propagation,
    pending: propagating,
};

/// The key policy as sent: the document as generated (or written), not its canonical form,
/// which collapses one-element lists and so may turn `Statement` into a bare object; valid, but
/// not every consumer of the policy reads that form.
pub(super) fn policy_text(p: &KmsKey, cx: &Ctx) -> String {
    generated(p, cx).to_string()
}

/// The key policy as compared.
pub(super) fn policy_doc(p: &KmsKey, cx: &Ctx) -> Json {
    canonical(&generated(p, cx))
}

/// The plan's key policy, naming the account principal in the form KMS was seen to use for
/// this account (`learn_principal`), else in the partition's documented form.
fn generated(p: &KmsKey, cx: &Ctx) -> Json {
    let part = cx.part();
    let root = part
        .account
        .get()
        .and_then(|account| super::Principals::of(part).learned(account));
    cx.fill_account(policy::key_policy(p, &part.def, root.as_deref()))
}

/// Keep the account principal of a key policy KMS holds (see `policy::account_principal_in`).
fn learn_principal(cx: &Ctx, doc: &Json) {
    if let Some((account, principal)) = policy::account_principal_in(doc) {
        super::Principals::of(cx.part()).learn(&account, &principal);
    }
}

/// Whether a key policy names a principal that may still be on its way (a role or user, made
/// seconds ago). One that names only account principals (`…:root`) cannot be cured by waiting:
/// KMS refusing those refuses the account itself (another partition's form, a mistyped id).
fn may_propagate(doc: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Json>(doc) else {
        return true;
    };
    let statements = match &doc["Statement"] {
        Json::Array(s) => s.clone(),
        other => vec![other.clone()],
    };
    statements.iter().any(|st| {
        let aws = &st["Principal"]["AWS"];
        let arns: Vec<&str> = match aws {
            Json::String(s) => vec![s.as_str()],
            Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
            _ => vec![],
        };
        arns.iter()
            .any(|a| policy::account_of_principal(a).is_none())
    })
}

/// Calls a key policy with `doc`, retried while its principals propagate, refused at once with
/// the reason when no propagation can cure the refusal.
pub(super) async fn with_policy<T, F, Fut>(cx: &Ctx, doc: &str, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let curable = may_propagate(doc);
    let mut f = f;
    retry_propagation(cx, &PRINCIPALS, || {
        let sent = f();
        async move {
            sent.await.map_err(|e| {
                if !curable && propagating(&e) {
                    Error::other(format!(
                        "{e}; the policy names only account principals ({}), which no \
                         propagation makes valid: check each is this partition's form and account",
                        cx.part().def.partition.account_principal("<account>")
                    ))
                } else {
                    e
                }
            })
        }
    })
    .await
}

/// A key's policy, canonical; None when the key is gone.
pub(super) async fn key_policy(cx: &Ctx, key_id: &str) -> Result<Option<Json>> {
    let kms = &cx.clients().kms;
    let sent = kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name(POLICY_NAME)
        .send();
    let got = gone_ok(cx.call("GetKeyPolicy", sent).await, GONE)?;
    Ok(got.map(|out| {
        out.policy()
            .map(|d| {
                let doc = serde_json::from_str(d).unwrap_or_else(|_| Json::String(d.to_string()));
                learn_principal(cx, &doc);
                canonical(&doc)
            })
            .unwrap_or(Json::Null)
    }))
}

pub(super) async fn put_policy(cx: &Ctx, key_id: &str, doc: &str) -> Result<()> {
    let kms = &cx.clients().kms;
    // Never with BypassPolicyLockoutSafetyCheck: KMS's own check is a last guard against a
    // policy that locks the account out of its key.
    with_policy(cx, doc, || async {
        cx.run(
            "PutKeyPolicy",
            kms.put_key_policy()
                .key_id(key_id)
                .policy_name(POLICY_NAME)
                .policy(doc)
                .send(),
        )
        .await
    })
    .await
}

/// Put the plan's generated policy on a key KMS made with its default one: the default's
/// account principal is read back first (GetKeyPolicy), unless an earlier key of this run
/// taught it already.
pub(super) async fn settle_policy(cx: &Ctx, p: &KmsKey, key_id: &str) -> Result<()> {
    let part = cx.part();
    let known = super::Principals::of(part)
        .learned(part.account())
        .is_some();
    if !known && key_policy(cx, key_id).await?.is_none() {
        return Err(Error::other(format!(
            "key {key_id} vanished after CreateKey"
        )));
    }
    put_policy(cx, key_id, &policy_text(p, cx)).await
}

#[cfg(test)]
mod tests {
    use super::may_propagate;

    #[test]
    fn only_a_policy_naming_a_role_or_user_waits_for_propagation() {
        let root = r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"}, "Action": "kms:*", "Resource": "*"}]}"#;
        assert!(!may_propagate(root));
        let role = r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws-cn:iam::444455556666:role/new"]}, "Action": "kms:Decrypt", "Resource": "*"}]}"#;
        assert!(may_propagate(role));
        let service = r#"{"Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com.cn"}, "Action": "kms:Decrypt", "Resource": "*"}}"#;
        assert!(!may_propagate(service));
    }
}
