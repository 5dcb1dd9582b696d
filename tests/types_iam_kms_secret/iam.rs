//! `iam.instance_profile` and `iam.role`: lifecycle, waiting for a new role, and adoption.

use super::*;

fn profile_props(yaml: &str) -> InstanceProfile {
    serde_yaml::from_str(yaml).unwrap()
}

#[test]
fn instance_profile_lifecycle_in_china() {
    in_china("profile", async |tb, plan, cx| {
        let account = tb.account(Side::China);
        let (r1, r2) = (
            harness::china_role(tb, "role").await,
            harness::china_role(tb, "role").await,
        );
        let name = harness::unique("ip");
        let mut p = profile_props(&format!("name: {name}\nrole: {r1}\ntags: {{team: a}}"));
        harness::assert_absent::<InstanceProfile>(&p, &cx).await;
        let created = InstanceProfile::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        assert_eq!(
            created.outputs["arn"],
            format!("arn:aws-cn:iam::{account}:instance-profile/xpart/{plan}/{name}")
        );
        let _want = InstanceProfile::desired(&p, &cx).unwrap();
        let live = harness::assert_created(&p, &cx, &created, &[]).await;
        // A retried create finds its own profile.
        let again = InstanceProfile::create(&p, &cx).await.unwrap();
        assert_eq!(again, live);

        p.role = r2.clone();
        p.tags.clear();
        let updated = harness::changed_in_place(&p, &live, &cx, &["role", "tags"]).await;
        assert_eq!(updated.attrs["role"], Json::from(r2));

        harness::deleted::<InstanceProfile>(&p, &updated, &cx).await;
    });
}

#[test]
fn instance_profile_waits_for_a_new_role() {
    in_china("profile", async |tb, _plan, cx| {
        let role = harness::unique("late");
        let name = harness::unique("ip");
        let p = profile_props(&format!("name: {name}\nrole: {role}"));
        // The role appears only after the profile has asked for it (and been told there is
        // none), as a new role does while IAM propagates it.
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let asked = tb.calls(Side::China, "AddRoleToInstanceProfile");
        let later = tokio::spawn({
            let role = role.clone();
            async move {
                tokio::task::block_in_place(|| {
                    harness::testbed().await_calls(
                        Side::China,
                        "AddRoleToInstanceProfile",
                        asked,
                        1,
                    )
                });
                let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com.cn"},"Action":"sts:AssumeRole"}]}"#;
                sent!(iam
                    .create_role()
                    .role_name(&role)
                    .assume_role_policy_document(trust));
            }
        });
        let live = InstanceProfile::create(&p, &cx).await.unwrap();
        later.await.unwrap();
        assert_eq!(live.attrs["role"], Json::from(role));
        assert_read_back::<InstanceProfile>(&p, &cx, &live).await;
        InstanceProfile::delete(&live, &cx).await.unwrap();
    });
}

#[test]
fn instance_profile_made_outside_xpart_reads_unowned() {
    in_china("profile", async |tb, _plan, cx| {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let name = harness::unique("ip");
        sent!(iam.create_instance_profile().instance_profile_name(&name));
        let role = harness::china_role(tb, "role").await;
        let p = profile_props(&format!("name: {name}\nrole: {role}"));
        let live = InstanceProfile::read(&p, &cx).await.unwrap().unwrap();
        assert!(!live.owned);
        assert_eq!(live.attrs["role"], Json::Null);
        let err = InstanceProfile::create(&p, &cx)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not owned"), "{err}");
        // Nothing was changed on it.
        let ip = sent!(iam.get_instance_profile().instance_profile_name(&name));
        assert!(ip.instance_profile.unwrap().roles.is_empty());
        sent!(iam.delete_instance_profile().instance_profile_name(&name));
    });
}

// ---- roles ---------------------------------------------------------------

fn role_props(yaml: &str) -> Role {
    serde_yaml::from_str(yaml).unwrap()
}

/// A customer managed policy to attach, made by hand.
async fn china_policy(tb: &Testbed) -> String {
    let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    let out = sent!(iam
        .create_policy()
        .policy_name(harness::unique("pol"))
        .policy_document(doc));
    out.policy.unwrap().arn.unwrap()
}

#[test]
fn iam_role_lifecycle_in_china() {
    in_china("role", async |tb, plan, cx| {
        let account = tb.account(Side::China);
        let (m1, m2) = (china_policy(tb).await, china_policy(tb).await);
        let name = harness::unique("role");
        let yaml = |rest: &str| format!("name: {name}\n{rest}");
        let p = role_props(&yaml(&format!(
            "description: first\ntrust: {{service: ec2}}\n\
             policies:\n  list: {{statements: [{{actions: ['ec2:DescribeInstances'], resources: ['*']}}]}}\n  \
             read: {{statements: [{{actions: ['s3:GetObject'], resources: ['arn:aws-cn:s3:::b/*']}}]}}\n\
             managed_policy_arns: ['{m1}']\ntags: {{team: a}}"
        )));
        assert!(Role::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .is_none());
        let want = Role::desired(&p, &cx).unwrap();

        let created = Role::create(&p, &cx).await.unwrap();
        assert!(created.owned);
        // Under the plan's IAM path, where `find_owned` lists it.
        assert_eq!(
            created.outputs["arn"],
            format!("arn:aws-cn:iam::{account}:role/xpart/{plan}/{name}")
        );
        assert_eq!(diff(&want, &created), set(&[]));
        let live = assert_read_back::<Role>(&p, &cx, &created).await;
        harness::assert_found_as_read::<Role>(&without_account(&cx), &live, &[]).await;
        // A retried create (EntityAlreadyExists) finds its own role as it is.
        let again = Role::create(&p, &cx).await.unwrap();
        assert_eq!(again, live);

        // Every part changes: trust, settings, one policy changed, one gone, one new, the
        // managed policies swapped, the tags.
        let p = role_props(&yaml(&format!(
            "description: second\ntrust: {{service: lambda}}\nmax_session_duration: 7200\n\
             policies:\n  list: {{statements: [{{actions: ['ec2:DescribeVpcs'], resources: ['*']}}]}}\n  \
             write: {{statements: [{{actions: ['s3:PutObject'], resources: ['arn:aws-cn:s3:::b/*']}}]}}\n\
             managed_policy_arns: ['{m2}']\ntags: {{env: dev}}"
        )));
        let live = harness::changed_in_place(
            &p,
            &live,
            &cx,
            &[
                "description",
                "managed_policy_arns",
                "max_session_duration",
                "policies",
                "tags",
                "trust",
            ],
        )
        .await;

        harness::deleted::<Role>(&p, &live, &cx).await;
    });
}

#[test]
fn iam_role_made_outside_xpart_reads_unowned_and_is_adopted() {
    in_china("role", async |tb, _plan, cx| {
        let name = harness::china_role(tb, "role").await;
        // Adopted where it is (`path: /`): IAM cannot move a role.
        let p = role_props(&format!(
            "name: {name}\npath: /\ntrust: {{service: ec2}}\npolicies:\n  list: {{statements: [{{actions: ['ec2:DescribeInstances'], resources: ['*']}}]}}"
        ));
        let live = Role::read(&p, &without_account(&cx))
            .await
            .unwrap()
            .unwrap();
        assert!(!live.owned);
        let want = Role::desired(&p, &cx).unwrap();
        let changed = diff(&want, &live);
        assert_eq!(changed, set(&["policies"]));
        // Create never takes it over, and changes nothing on it.
        let err = Role::create(&p, &cx).await.unwrap_err().to_string();
        assert!(err.contains("not owned"), "{err}");
        assert_eq!(Role::read(&p, &cx).await.unwrap().unwrap(), live);
        // Adoption: the ownership tags and the plan's policy.
        let adopted = Role::update(&p, &live, &changed, &cx).await.unwrap();
        assert!(adopted.owned);
        assert_eq!(diff(&want, &adopted), set(&[]));
        assert_read_back::<Role>(&p, &cx, &adopted).await;
        Role::delete(&adopted, &cx).await.unwrap();
    });
}
