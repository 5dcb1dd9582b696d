//! Roles Anywhere's emulation: trust anchors, profiles, CreateSession and its refusals, as AWS answers them.

use super::*;
use crate::harness::rolesanywhere_trust;

#[test]
fn trust_anchor_requires_a_ca_certificate() {
    let tb = testbed();
    rt().block_on(async {
        for side in SIDES {
            let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(side).await);
            let no_bc = pki::ca("no-basic-constraints", false);
            let err = refused!(ra
                .create_trust_anchor()
                .name(unique("bad"))
                .source(ra_source(&no_bc.pem)));
            assert!(err.is_validation_exception(), "{side:?}: {err:?}");
            assert_eq!(
                err.meta().message(),
                Some("Incorrect basic constraints for CA certificate")
            );

            let no_sign = pki::ca_without_cert_sign("no-cert-sign");
            let err = refused!(ra
                .create_trust_anchor()
                .name(unique("bad"))
                .source(ra_source(&no_sign)));
            assert!(err.is_validation_exception(), "{side:?}: {err:?}");

            let good = pki::ca("good", true);
            let ta = crate::harness::trust_anchor(&ra, &unique("good"), &good.pem).await;
            let ta = &ta;
            let arn = ta.trust_anchor_arn().unwrap();
            let prefix = format!(
                "arn:{}:rolesanywhere:{}:{}:trust-anchor/",
                side.partition(),
                tb.region(side),
                tb.account(side)
            );
            assert!(arn.starts_with(&prefix), "{arn}");
            assert_eq!(ta.enabled(), Some(true));
        }
    });
}

#[test]
fn trust_anchor_validation_with_the_aws_cli() {
    let tb = testbed();
    let bad = pki::ca("cli-bad", false);
    let src = serde_json::json!({
        "sourceType": "CERTIFICATE_BUNDLE",
        "sourceData": {"x509CertificateData": bad.pem},
    })
    .to_string();
    let (ok, _, err) = cli(
        tb,
        &[
            "--profile",
            "xpart-china",
            "rolesanywhere",
            "create-trust-anchor",
            "--name",
            &unique("cli"),
            "--source",
            &src,
        ],
    );
    assert!(!ok);
    assert!(err.contains("ValidationException"), "{err}");
    assert!(
        err.contains("Incorrect basic constraints for CA certificate"),
        "{err}"
    );
}

#[test]
fn roles_anywhere_control_plane_round_trip() {
    let tb = testbed();
    rt().block_on(async {
        let side = Side::China;
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(side).await);
        let ca = pki::ca("crud", true);
        let name = unique("crud");
        let ta = sent!(ra
            .create_trust_anchor()
            .name(&name)
            .source(ra_source(&ca.pem))
            .tags(Tag::builder().key("xpart:plan").value("t").build().unwrap()))
        .trust_anchor
        .unwrap();
        let id = ta.trust_anchor_id().unwrap().to_string();
        let arn = ta.trust_anchor_arn().unwrap().to_string();
        assert_eq!(ta.enabled(), Some(false));

        let got = sent!(ra.get_trust_anchor().trust_anchor_id(&id));
        assert_eq!(got.trust_anchor().unwrap().name(), Some(name.as_str()));
        let listed = sent!(ra.list_trust_anchors());
        assert!(listed
            .trust_anchors()
            .iter()
            .any(|t| t.trust_anchor_arn() == Some(arn.as_str())));

        let renamed = format!("{name}-2");
        let up = sent!(ra.update_trust_anchor().trust_anchor_id(&id).name(&renamed));
        assert_eq!(up.trust_anchor().unwrap().name(), Some(renamed.as_str()));
        let en = sent!(ra.enable_trust_anchor().trust_anchor_id(&id));
        assert_eq!(en.trust_anchor().unwrap().enabled(), Some(true));
        let dis = sent!(ra.disable_trust_anchor().trust_anchor_id(&id));
        assert_eq!(dis.trust_anchor().unwrap().enabled(), Some(false));

        sent!(ra
            .tag_resource()
            .resource_arn(&arn)
            .tags(Tag::builder().key("extra").value("1").build().unwrap()));
        let tags = sent!(ra.list_tags_for_resource().resource_arn(&arn));
        let keys: Vec<_> = tags.tags().iter().map(|t| t.key().to_string()).collect();
        assert!(
            keys.contains(&"xpart:plan".to_string()) && keys.contains(&"extra".to_string()),
            "{keys:?}"
        );
        sent!(ra.untag_resource().resource_arn(&arn).tag_keys("extra"));
        let tags = sent!(ra.list_tags_for_resource().resource_arn(&arn));
        assert_eq!(tags.tags().len(), 1);

        let role_arn = format!("arn:aws-cn:iam::{}:role/{}", tb.account(side), unique("r"));
        for bad in [899, 43201] {
            let err = refused!(ra
                .create_profile()
                .name(unique("p"))
                .role_arns(&role_arn)
                .duration_seconds(bad));
            assert!(err.is_validation_exception(), "{bad}: {err:?}");
        }
        let foreign = format!("arn:aws:iam::{}:role/x", tb.account(side));
        let err = ra
            .create_profile()
            .name(unique("p"))
            .role_arns(foreign)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_validation_exception());

        let p = sent!(ra
            .create_profile()
            .name(unique("p"))
            .role_arns(&role_arn)
            .duration_seconds(3600))
        .profile
        .unwrap();
        let pid = p.profile_id().unwrap().to_string();
        assert!(p
            .profile_arn()
            .unwrap()
            .starts_with("arn:aws-cn:rolesanywhere:"));
        let up = sent!(ra.update_profile().profile_id(&pid).duration_seconds(900));
        assert_eq!(up.profile().unwrap().duration_seconds(), Some(900));
        let en = sent!(ra.enable_profile().profile_id(&pid));
        assert_eq!(en.profile().unwrap().enabled(), Some(true));
        sent!(ra.disable_profile().profile_id(&pid));

        sent!(ra.delete_profile().profile_id(&pid));
        let err = refused!(ra.get_profile().profile_id(&pid));
        assert!(err.is_resource_not_found_exception(), "{err:?}");
        sent!(ra.delete_trust_anchor().trust_anchor_id(&id));
        let err = refused!(ra.get_trust_anchor().trust_anchor_id(&id));
        assert!(err.is_resource_not_found_exception(), "{err:?}");
    });
}

fn sha256_hex(s: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn third_party_client_reads_a_secret_through_roles_anywhere() {
    let tb = testbed();
    rt().block_on(async {
        for side in SIDES {
            let c = chain(tb, side).await;
            for p384 in [false, true] {
                let leaf = c.ca.issue("workload", p384, false);
                let v = third_party(tb, &c, &leaf, false);
                assert_eq!(v["ok"], true, "{side:?} p384={p384}: {v}");
                let role_name = c.role_arn.rsplit('/').next().unwrap();
                let arn = v["arn"].as_str().unwrap();
                assert!(
                    arn.starts_with(&format!(
                        "arn:{}:sts::{}:assumed-role/{role_name}/",
                        side.partition(),
                        tb.account(side)
                    )),
                    "{arn}"
                );
                assert_eq!(v["secret_sha256"], sha256_hex(SECRET));
            }
        }
    });
}

#[test]
fn create_session_refuses_what_aws_refuses() {
    let tb = testbed();
    rt().block_on(async {
        let side = Side::Commercial;
        let c = chain(tb, side).await;
        let good = c.ca.issue("workload", false, false);

        let v = third_party(tb, &c, &good, true);
        assert_eq!(
            (v["ok"].clone(), v["status"].clone()),
            (Value::Bool(false), Value::from(403)),
            "{v}"
        );
        assert_eq!(v["code"], "AccessDeniedException", "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("Invalid signature"),
            "{v}"
        );

        let other = pki::ca("other-root", true).issue("workload", false, false);
        let v = third_party(tb, &c, &other, false);
        assert_eq!(v["code"], "AccessDeniedException", "{v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("Untrusted signing certificate"),
            "{v}"
        );

        let expired = c.ca.issue("workload", false, true);
        let v = third_party(tb, &c, &expired, false);
        assert_eq!(v["code"], "AccessDeniedException", "{v}");

        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(side).await);
        sent!(ra.disable_trust_anchor().trust_anchor_id(&c.anchor_id));
        let v = third_party(tb, &c, &good, false);
        assert_eq!(v["code"], "AccessDeniedException", "disabled anchor: {v}");
        sent!(ra.enable_trust_anchor().trust_anchor_id(&c.anchor_id));

        sent!(ra.disable_profile().profile_id(&c.profile_id));
        let v = third_party(tb, &c, &good, false);
        assert_eq!(v["code"], "AccessDeniedException", "disabled profile: {v}");
        sent!(ra.enable_profile().profile_id(&c.profile_id));

        // Back to a working chain: the refusals above were for the stated reasons only.
        let v = third_party(tb, &c, &good, false);
        assert_eq!(v["ok"], true, "{v}");
    });
}

#[test]
fn trust_policy_conditions_are_enforced() {
    let tb = testbed();
    rt().block_on(async {
        let c = chain(tb, Side::China).await;
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let name = c.role_arn.rsplit('/').next().unwrap();
        let bind = async |trust: serde_json::Value| {
            let doc = trust.to_string();
            sent!(iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(doc));
        };
        // Bind the role to another trust anchor: the session must now be refused.
        bind(rolesanywhere_trust(serde_json::json!({
            "ArnEquals": {"aws:SourceArn": format!("{}-other", c.anchor_arn)},
        })))
        .await;
        let v = third_party(tb, &c, &c.ca.issue("workload", false, false), false);
        assert_eq!(v["code"], "AccessDeniedException", "{v}");

        // Bound to the anchor and to the subject CN: only that CN gets in.
        bind(rolesanywhere_trust(serde_json::json!({
            "ArnEquals": {"aws:SourceArn": c.anchor_arn},
            "StringEquals": {"aws:PrincipalTag/x509Subject/CN": "cn-ec2-workload"}
        })))
        .await;
        let v = third_party(tb, &c, &c.ca.issue("someone-else", false, false), false);
        assert_eq!(v["code"], "AccessDeniedException", "{v}");
        let v = third_party(tb, &c, &c.ca.issue("cn-ec2-workload", false, false), false);
        assert_eq!(v["ok"], true, "{v}");
    });
}

#[test]
fn cross_partition_principals_are_refused_like_aws() {
    let tb = testbed();
    rt().block_on(async {
        for side in SIDES {
            let conf = tb.sdk(side).await;
            let other = match side {
                Side::Commercial => "aws-cn",
                Side::China => "aws",
            };
            let doc = |partition: &str| {
                serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"AWS": format!("arn:{partition}:iam::{}:root", tb.account(side))},
                        "Action": "sts:AssumeRole"
                    }]
                })
                .to_string()
            };
            let iam = aws_sdk_iam::Client::new(&conf);
            let err = refused!(iam
                .create_role()
                .role_name(unique("xp"))
                .assume_role_policy_document(doc(other)));
            assert!(err.is_malformed_policy_document_exception(), "{side:?}: {err:?}");
            sent!(iam.create_role()
                .role_name(unique("ok"))
                .assume_role_policy_document(doc(side.partition())));

            let key_policy = |partition: &str| {
                serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "Enable IAM policies",
                        "Effect": "Allow",
                        "Principal": {"AWS": format!("arn:{partition}:iam::{}:root", tb.account(side))},
                        "Action": "kms:*",
                        "Resource": "*"
                    }]
                })
                .to_string()
            };
            let kms = aws_sdk_kms::Client::new(&conf);
            let err = refused!(kms.create_key().policy(key_policy(other)));
            assert!(err.is_malformed_policy_document_exception(), "{side:?}: {err:?}");
            // The documented default key policy, with the account principal, is accepted in
            // both partitions (arn:aws-cn:iam::<account>:root in China).
            let key = sent!(kms.create_key().policy(key_policy(side.partition())));
            let key_arn = key.key_metadata().unwrap().arn().unwrap();
            assert!(key_arn.starts_with(&format!("arn:{}:kms:", side.partition())), "{key_arn}");
        }
    });
}
