//! Policy documents generated from the plan: role trust, least-privilege inline policies, KMS key
//! policies. A raw document in a plan passes through unchanged and gets the same checks (lint).
//!
//! Documents are JSON values whose strings may still hold `${id.attr}` references; the engine
//! substitutes them once the referenced resources exist.

use serde_json::{json, Map, Value};

use crate::plan::types::{Effect, InlinePolicy, KmsKey, Trust};
use crate::plan::PartitionDef;

pub const VERSION: &str = "2012-10-17";

/// The actions a Roles Anywhere session needs: it assumes the role, tags the session with the
/// certificate's attributes, and sets the source identity to the certificate subject.
pub const ROLES_ANYWHERE_ACTIONS: [&str; 3] =
    ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"];

/// What a usage grant on a key allows: read what was encrypted for the holder.
pub const KEY_USER_ACTIONS: [&str; 2] = ["kms:Decrypt", "kms:DescribeKey"];
/// What a signing key's signers may do: sign, and read the public key and the key's metadata
/// (a certificate needs both); never decrypt, administer or delete.
pub const KEY_SIGNER_ACTIONS: [&str; 3] = ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"];

/// A YAML value from the plan as JSON (raw documents are written in YAML or JSON).
pub fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The account id of a partition: the plan's expected account, else a reference the engine
/// fills in from the caller identity.
pub fn account_of(p: &PartitionDef) -> String {
    p.account
        .clone()
        .unwrap_or_else(|| format!("${{partitions.{}.account}}", p.name))
}

/// The trust policy of a role.
pub fn trust_document(trust: &Trust, p: &PartitionDef) -> Value {
    if let Some(doc) = &trust.document {
        return yaml_to_json(doc);
    }
    if let Some(ra) = &trust.roles_anywhere {
        return roles_anywhere_trust(p, &ra.trust_anchor, ra.subject_cn.as_deref());
    }
    let service = trust.service.as_deref().unwrap_or("ec2");
    json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": p.service_principal(service)},
            "Action": "sts:AssumeRole",
        }]
    })
}

/// Roles Anywhere trust bound to one trust anchor (`aws:SourceArn`) and, when given, to one
/// certificate subject CN. Without the anchor condition any Roles Anywhere trust anchor in the
/// account could hand out this role; without the subject, any certificate of the CA could.
pub fn roles_anywhere_trust(
    p: &PartitionDef,
    trust_anchor_arn: &str,
    subject_cn: Option<&str>,
) -> Value {
    let mut cond = Map::new();
    cond.insert(
        "ArnEquals".into(),
        json!({"aws:SourceArn": trust_anchor_arn}),
    );
    if let Some(cn) = subject_cn {
        cond.insert(
            "StringEquals".into(),
            json!({"aws:PrincipalTag/x509Subject/CN": cn}),
        );
    }
    json!({
        "Version": VERSION,
        "Statement": [{
            "Sid": "RolesAnywhere",
            "Effect": "Allow",
            "Principal": {"Service": p.service_principal("rolesanywhere")},
            "Action": ROLES_ANYWHERE_ACTIONS,
            "Condition": cond,
        }]
    })
}

/// An inline policy: the statements as written (exact actions on exact resources), or a raw document.
pub fn inline_document(pol: &InlinePolicy) -> Value {
    if let Some(doc) = &pol.document {
        return yaml_to_json(doc);
    }
    let statements: Vec<Value> = pol
        .statements
        .iter()
        .map(|s| {
            let mut st = Map::new();
            if let Some(sid) = &s.sid {
                st.insert("Sid".into(), json!(sid));
            }
            st.insert(
                "Effect".into(),
                json!(if s.effect == Effect::Allow {
                    "Allow"
                } else {
                    "Deny"
                }),
            );
            st.insert("Action".into(), json!(s.actions));
            st.insert("Resource".into(), json!(s.resources));
            Value::Object(st)
        })
        .collect();
    json!({"Version": VERSION, "Statement": statements})
}

/// A key policy: the documented default statement giving the account principal `kms:*`, so IAM
/// policies govern the key and the account can never be locked out, plus a usage grant for each
/// named principal. `root` is the account principal as KMS wrote it for this account (see
/// `account_principal_in`); without it, the partition's documented form
/// (`Partition::account_principal`). A written policy is sent as written.
pub fn key_policy(key: &KmsKey, p: &PartitionDef, root: Option<&str>) -> Value {
    if let Some(doc) = &key.policy {
        return yaml_to_json(doc);
    }
    let root = match root {
        Some(r) => r.to_string(),
        None => p.partition.account_principal(&account_of(p)),
    };
    let mut statements = vec![json!({
        "Sid": "Enable IAM policies",
        "Effect": "Allow",
        "Principal": {"AWS": root},
        "Action": "kms:*",
        "Resource": "*",
    })];
    let grants = [
        ("Allow use of the key", &key.users, &KEY_USER_ACTIONS[..]),
        (
            "Allow signing with the key",
            &key.signers,
            &KEY_SIGNER_ACTIONS[..],
        ),
    ];
    for (sid, who, actions) in grants.into_iter().filter(|(_, who, _)| !who.is_empty()) {
        statements.push(json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": who},
            "Action": actions,
            "Resource": "*",
        }));
    }
    json!({"Version": VERSION, "Statement": statements})
}

/// Every statement of a document, whether `Statement` is one object or a list.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    }
}

/// The strings of a field that may be one string or a list of them.
pub fn string_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Principals of a statement by kind ("AWS", "Service", …); `"*"` is returned as ("*", "*").
pub fn principals(st: &Value) -> Vec<(&str, &str)> {
    match st.get("Principal") {
        Some(Value::String(s)) => vec![("*", s.as_str())],
        Some(Value::Object(m)) => m
            .iter()
            .flat_map(|(k, v)| {
                string_list(Some(v))
                    .into_iter()
                    .map(move |p| (k.as_str(), p))
            })
            .collect(),
        _ => vec![],
    }
}

/// Whether a key policy keeps the account in control: some Allow statement gives the account
/// principal (`arn:…:iam::<account>:root` or the bare account id) `kms:*` or `kms:PutKeyPolicy`.
pub fn key_policy_keeps_account(doc: &Value, p: &PartitionDef) -> bool {
    let account = account_of(p);
    let root = p.partition.account_principal(&account);
    statements(doc).iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && st.get("Condition").is_none()
            && principals(st)
                .iter()
                .any(|(kind, who)| *kind == "AWS" && (*who == root || *who == account))
            && string_list(st.get("Action"))
                .iter()
                .any(|a| matches!(*a, "kms:*" | "kms:PutKeyPolicy" | "*"))
    })
}

/// The account principal a key policy's account statement names, with its account: an Allow
/// of `kms:*` without a condition to exactly one IAM ARN with no resource path
/// (`arn:<partition>:iam::<account>:root` in AWS's documented form). KMS's default key policy
/// is one such statement; xpart's generated policies start with one. KMS accepted whatever it
/// holds, so its form is the partition's own, whatever xpart assumes.
pub fn account_principal_in(doc: &Value) -> Option<(String, String)> {
    statements(doc).into_iter().find_map(|st| {
        let allow = st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && st.get("Condition").is_none()
            && string_list(st.get("Action")).contains(&"kms:*");
        let who = principals(st);
        match (allow, who.as_slice()) {
            (true, [("AWS", arn)]) => {
                account_of_principal(arn).map(|acct| (acct.to_string(), arn.to_string()))
            }
            _ => None,
        }
    })
}

/// The account an account principal names: an IAM ARN whose resource has no path
/// (`arn:aws-cn:iam::444455556666:root`), unlike a role's or user's (`…:role/name`).
pub fn account_of_principal(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let account = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && !parts[5].contains('/');
    // Lazily: with fewer than six parts there is no parts[4].
    account.then(|| parts[4])
}

/// A policy document in a canonical form, so that AWS's re-serialisation (one-element lists
/// collapsed to a string, keys reordered) does not show as a change.
pub fn canonical(doc: &Value) -> Value {
    match doc {
        Value::Array(items) if items.len() == 1 => canonical(&items[0]),
        Value::Array(items) => {
            let mut v: Vec<Value> = items.iter().map(canonical).collect();
            if v.iter().all(Value::is_string) {
                v.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            } else if v.iter().all(Value::is_object) {
                // Statements (and other lists of objects in policy documents) mean the same in
                // any order: one order, so a reordered document compares equal.
                v.sort_by_cached_key(Value::to_string);
            }
            Value::Array(v)
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Partition;
    use crate::plan::types::{PartitionEntry, RolesAnywhereTrust, Statement};

    fn part(name: &str, region: &str, account: Option<&str>) -> PartitionDef {
        PartitionDef::new(
            name,
            Partition::of_region(region).unwrap(),
            PartitionEntry {
                region: region.into(),
                partition: None,
                profile: None,
                account: account.map(str::to_string),
                retry: Default::default(),
                timeouts: Default::default(),
                concurrency: None,
                service_principals: Default::default(),
            },
        )
    }

    #[test]
    fn ec2_trust_uses_the_partition_principal() {
        let trust = Trust {
            service: Some("ec2".into()),
            ..Default::default()
        };
        let cn = trust_document(&trust, &part("china", "cn-north-1", None));
        assert_eq!(
            cn["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com.cn"
        );
        let com = trust_document(&trust, &part("commercial", "us-west-2", None));
        assert_eq!(
            com["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
        let mut over = part("china", "cn-north-1", None);
        over.service_principals
            .insert("ec2".into(), "ec2.amazonaws.com".into());
        assert_eq!(
            trust_document(&trust, &over)["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
    }

    #[test]
    fn roles_anywhere_trust_binds_anchor_and_subject() {
        let trust = Trust {
            roles_anywhere: Some(RolesAnywhereTrust {
                trust_anchor: "${anchor.arn}".into(),
                subject_cn: Some("cn-ec2-workload".into()),
            }),
            ..Default::default()
        };
        let doc = trust_document(&trust, &part("commercial", "us-west-2", None));
        assert_eq!(
            doc,
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "RolesAnywhere",
                    "Effect": "Allow",
                    "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": "${anchor.arn}"},
                        "StringEquals": {"aws:PrincipalTag/x509Subject/CN": "cn-ec2-workload"}
                    }
                }]
            })
        );
        let no_cn = roles_anywhere_trust(&part("c", "us-west-2", None), "arn", None);
        assert!(no_cn["Statement"][0]["Condition"]
            .get("StringEquals")
            .is_none());
    }

    #[test]
    fn inline_policy_is_exactly_what_was_asked() {
        let pol = InlinePolicy {
            statements: vec![Statement {
                sid: None,
                effect: Effect::Allow,
                actions: vec!["secretsmanager:GetSecretValue".into()],
                resources: vec!["${secret.arn}".into()],
            }],
            document: None,
        };
        assert_eq!(
            inline_document(&pol),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": ["${secret.arn}"]}]})
        );
    }

    #[test]
    fn key_policy_names_the_account_principal_of_its_partition() {
        let key = KmsKey {
            usage: None,
            key_spec: None,
            signers: vec![],
            alias: None,
            description: None,
            deletion_window_days: None,
            users: vec!["${instance_role.arn}".into()],
            policy: None,
            tags: Default::default(),
        };
        let cn = part("china", "cn-north-1", Some("444455556666"));
        let doc = key_policy(&key, &cn, None);
        assert_eq!(
            doc["Statement"][0]["Principal"]["AWS"],
            "arn:aws-cn:iam::444455556666:root"
        );
        assert_eq!(doc["Statement"][0]["Action"], "kms:*");
        assert_eq!(
            doc["Statement"][1]["Principal"]["AWS"],
            json!(["${instance_role.arn}"])
        );
        assert_eq!(
            doc["Statement"][1]["Action"],
            json!(["kms:Decrypt", "kms:DescribeKey"])
        );
        assert!(key_policy_keeps_account(&doc, &cn));
        // Without an expected account the engine fills it in from the caller identity.
        let doc = key_policy(&key, &part("china", "cn-north-1", None), None);
        assert_eq!(
            doc["Statement"][0]["Principal"]["AWS"],
            "arn:aws-cn:iam::${partitions.china.account}:root"
        );
    }

    #[test]
    fn the_account_principal_is_taken_from_what_kms_wrote() {
        // KMS's default key policy (as GetKeyPolicy answers it in China).
        let default = json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"},
            "Action": "kms:*", "Resource": "*"}]});
        assert_eq!(
            account_principal_in(&default),
            Some((
                "444455556666".into(),
                "arn:aws-cn:iam::444455556666:root".into()
            ))
        );
        // Whatever KMS's form, it is kept as written.
        let other = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": ["arn:aws-cn:iam::444455556666:tenant"]},
            "Action": ["kms:*"], "Resource": "*"}});
        assert_eq!(
            account_principal_in(&other).unwrap().1,
            "arn:aws-cn:iam::444455556666:tenant"
        );
        // Not an account statement: a role, a usage grant, a condition, two principals.
        for st in [
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:role/r"}, "Action": "kms:*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"}, "Action": "kms:Decrypt"}),
            json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"}, "Action": "kms:*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:root"}, "Action": "kms:*",
                   "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
            json!({"Effect": "Allow", "Principal": {"AWS": ["arn:aws-cn:iam::444455556666:root", "arn:aws-cn:iam::111122223333:root"]}, "Action": "kms:*"}),
            json!({"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "kms:*"}),
        ] {
            assert_eq!(
                account_principal_in(&json!({"Statement": [st]})),
                None,
                "{st}"
            );
        }
        // A generated policy names the learned form.
        let key: KmsKey = serde_yaml::from_str("users: [\"${r.arn}\"]").unwrap();
        let cn = part("china", "cn-north-1", Some("444455556666"));
        let doc = key_policy(&key, &cn, Some("arn:aws-cn:iam::444455556666:tenant"));
        assert_eq!(
            doc["Statement"][0]["Principal"]["AWS"],
            "arn:aws-cn:iam::444455556666:tenant"
        );
    }

    #[test]
    fn a_signing_key_lets_its_signers_sign_and_nothing_more() {
        let key: KmsKey = serde_yaml::from_str(
            "usage: sign\nkey_spec: rsa_2048\nsigners: [\"arn:aws:iam::111122223333:role/ci\"]",
        )
        .unwrap();
        assert_eq!(key.usage_and_spec(), ("SIGN_VERIFY", "RSA_2048"));
        let doc = key_policy(
            &key,
            &part("commercial", "us-west-2", Some("111122223333")),
            None,
        );
        let st = statements(&doc);
        assert_eq!(st.len(), 2, "{doc}");
        assert_eq!(st[0]["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert_eq!(
            st[1]["Principal"]["AWS"],
            json!(["arn:aws:iam::111122223333:role/ci"])
        );
        assert_eq!(
            st[1]["Action"],
            json!(["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"])
        );
        let plain: KmsKey = serde_yaml::from_str("users: []").unwrap();
        assert_eq!(
            plain.usage_and_spec(),
            ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT")
        );
    }

    #[test]
    fn lockout_is_detected() {
        let cn = part("china", "cn-north-1", Some("444455556666"));
        let users_only = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::444455556666:role/x"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!key_policy_keeps_account(&users_only, &cn));
        let wrong_partition = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!key_policy_keeps_account(&wrong_partition, &cn));
        let put_only = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": ["kms:PutKeyPolicy"], "Resource": "*"}});
        assert!(key_policy_keeps_account(&put_only, &cn));
    }
}
