//! Eventual consistency, quotas, idempotency and paging, as AWS has them and moto alone does not.

use super::*;

/// IAM's eventual consistency, on by a setting (`consistency_s`): right after CreateRole a key
/// policy naming the role is refused as KMS refuses it, and taken once the seeded delay has
/// passed; right after CreateInstanceProfile, RunInstances with it is refused as EC2 refuses
/// it. The refusals are counted. (Seed 3 draws 2.5 s for the role and 2.8 s for the profile.)
#[test]
fn iam_changes_reach_kms_and_ec2_after_a_seeded_delay() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    let tb = Testbed::with_faults(Side::China, "seed=3 consistency_s=3");
    rt().block_on(async {
        let conf = no_retry(&tb, Side::China).await;
        let iam = aws_sdk_iam::Client::new(&conf);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com.cn"},"Action":"sts:AssumeRole"}]}"#;
        let t0 = std::time::Instant::now();
        let role = sent!(iam
            .create_role()
            .role_name("lag-role")
            .assume_role_policy_document(trust));
        let arn = role.role().unwrap().arn().to_string();
        let account = tb.account(Side::China);
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws-cn:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "use", "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Decrypt", "Resource": "*"},
        ]})
        .to_string();
        let kms = aws_sdk_kms::Client::new(&conf);
        let e = kms
            .create_key()
            .policy(&policy)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("MalformedPolicyDocumentException"), "{e:?}");
        // Taken once the role has propagated: within the setting, polled (bounded).
        let mut taken = false;
        for _ in 0..40 {
            if kms.create_key().policy(&policy).send().await.is_ok() {
                taken = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(taken, "the key policy was never taken");
        let waited = t0.elapsed().as_secs_f64();
        assert!((1.5..4.5).contains(&waited), "taken after {waited} s");

        sent!(iam.create_instance_profile()
            .instance_profile_name("lag-profile"));
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let e = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name("lag-profile")
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
        assert!(
            e.message().unwrap_or_default().contains("Invalid IAM Instance Profile name"),
            "{e:?}"
        );
        let refused = tb.consistency_refusals(Side::China, false);
        assert!(refused["kms"].as_u64() >= Some(1), "{refused}");
        assert!(refused["ec2"].as_u64() >= Some(1), "{refused}");
        // Off by default: the other partition refuses nothing.
        assert_eq!(tb.consistency_refusals(Side::Commercial, false), serde_json::json!({}));
    });
}

/// Taking a role out of an instance profile twice (a retry after a lost answer): the second
/// answers NoSuchEntity, as IAM does, not a server error.
#[test]
fn removing_a_role_from_a_profile_twice_answers_no_such_entity() {
    use aws_sdk_iam::error::ProvideErrorMetadata;
    let tb = testbed();
    rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&no_retry(tb, Side::Commercial).await);
        let (role, profile) = (unique("rm-role"), unique("rm-profile"));
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        sent!(iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(trust));
        sent!(iam.create_instance_profile()
            .instance_profile_name(&profile));
        sent!(iam.add_role_to_instance_profile()
            .instance_profile_name(&profile)
            .role_name(&role));
        let remove = || {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(&profile)
                .role_name(&role)
                .send()
        };
        remove().await.unwrap();
        let e = remove().await.unwrap_err();
        assert_eq!(e.code(), Some("NoSuchEntity"), "{e:?}");
    });
}

/// Roles Anywhere's request-rate quotas, on by a setting (`quotas=1`): the trust anchor
/// requests combined get one a second, the next is throttled as the service throttles
/// (ThrottlingException), and the throttles are counted. xpart, applying a plan under them,
/// paces its calls and is throttled not once.
#[test]
fn roles_anywhere_quotas_throttle_and_xpart_stays_under_them() {
    use aws_sdk_rolesanywhere::error::ProvideErrorMetadata;
    let tb = Testbed::with_faults(Side::Commercial, "quotas=1");
    tb.set_faults(Side::China, "quotas=1");
    let run = crate::harness::Run::new(&tb);
    let plan = crate::harness::plan_file("china-to-commercial.yaml");
    for (args, what) in [
        (&["apply", "--yes"][..], "apply"),
        (&["plan", "--detailed-exitcode"][..], "a no-op plan"),
        (
            &["destroy", "--yes", "--force-delete-secrets"][..],
            "destroy",
        ),
    ] {
        // Each command from rested quotas: xpart paces its own calls, not those of the
        // command before it (back to back, the SDK retries the one throttle that may cost).
        for side in [Side::Commercial, Side::China] {
            tb.await_rested_quotas(side);
        }
        let o = run.run(args, &plan);
        assert_eq!(o.status.code(), Some(0), "{}", crate::harness::text(&o));
        for side in [Side::Commercial, Side::China] {
            let throttled = tb.quota_throttles(side, true);
            assert_eq!(
                throttled,
                serde_json::json!({}),
                "{what}, {side:?}: {throttled}"
            );
        }
    }
    // The quota is there to stay under: once a call of a group gets through (polled, bounded:
    // the destroy just used the group's second), the next at once is throttled.
    tb.quota_throttles(Side::Commercial, true);
    rt().block_on(async {
        let ra = aws_sdk_rolesanywhere::Client::new(&no_retry(&tb, Side::Commercial).await);
        let mut through = false;
        for _ in 0..30 {
            if ra.list_trust_anchors().send().await.is_ok() {
                through = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(through, "no ListTrustAnchors got through in 3 s");
        let e = ra.list_trust_anchors().send().await.unwrap_err();
        assert_eq!(e.code(), Some("ThrottlingException"), "{e:?}");
    });
    let throttled = tb.quota_throttles(Side::Commercial, true);
    assert!(throttled["trust anchor"].as_u64() >= Some(1), "{throttled}");
}

/// In the consistency mode the tag index lags: a secret tagged just now is missing from
/// GetResources, and listed once its seeded delay (half to all of the setting) has passed.
#[test]
fn the_tag_index_lags_a_create_in_the_consistency_mode() {
    let tb = Testbed::with_faults(Side::Commercial, "seed=4 consistency_s=2");
    rt().block_on(async {
        let conf = no_retry(&tb, Side::Commercial).await;
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        let tag = unique("lag");
        let made = sent!(sm
            .create_secret()
            .name(unique("lagging-secret"))
            .secret_string("v")
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("lag-test")
                    .value(&tag)
                    .build(),
            ));
        let arn = made.arn().unwrap().to_string();
        let tagging = aws_sdk_resourcegroupstagging::Client::new(&conf);
        let listed = || async {
            sent!(tagging.get_resources().tag_filters(
                aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                    .key("lag-test")
                    .values(&tag)
                    .build(),
            ))
            .resource_tag_mapping_list()
            .iter()
            .any(|m| m.resource_arn() == Some(arn.as_str()))
        };
        let t0 = std::time::Instant::now();
        assert!(!listed().await, "listed at once");
        let mut seen = false;
        for _ in 0..40 {
            if listed().await {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(seen, "never listed");
        let waited = t0.elapsed().as_secs_f64();
        assert!((0.9..3.5).contains(&waited), "listed after {waited} s");
    });
}

/// In the consistency mode a read straight after a create may not find it, as EC2 and IAM
/// say of their own reads: EC2's Describe* leave a new VPC out and answer
/// InvalidVpcID.NotFound for its id, IAM answers NoSuchEntity for a new role and leaves it out
/// of the authorization snapshot, Secrets Manager's listing leaves a new secret out (its
/// DescribeSecret is current); all of it visible once the seeded delay has passed.
#[test]
fn a_read_straight_after_a_create_may_not_find_it() {
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    let tb = Testbed::with_faults(Side::Commercial, "seed=5 consistency_s=3");
    rt().block_on(async {
        let conf = no_retry(&tb, Side::Commercial).await;
        let (iam, ec2) = (aws_sdk_iam::Client::new(&conf), aws_sdk_ec2::Client::new(&conf));
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        let trust = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let role = unique("fresh-role");
        sent!(iam.create_role().role_name(&role).assume_role_policy_document(trust));
        let vpc = sent!(ec2.create_vpc().cidr_block("10.42.0.0/16"));
        let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let secret = unique("fresh-secret");
        sent!(sm.create_secret().name(&secret).secret_string("x"));

        let e = iam.get_role().role_name(&role).send().await.unwrap_err();
        assert_eq!(e.code(), Some("NoSuchEntity"), "{e:?}");
        let roles = |d: aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput| {
            d.role_detail_list().iter().filter_map(|r| r.role_name().map(str::to_string)).collect::<Vec<_>>()
        };
        let snapshot = sent!(iam.get_account_authorization_details());
        assert!(!roles(snapshot).contains(&role));
        let listed = |v: aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput| {
            v.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect::<Vec<_>>()
        };
        assert!(!listed(sent!(ec2.describe_vpcs())).contains(&vpc));
        let e = ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap_err();
        assert_eq!(e.code(), Some("InvalidVpcID.NotFound"), "{e:?}");
        let names = |l: aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput| {
            l.secret_list().iter().filter_map(|s| s.name().map(str::to_string)).collect::<Vec<_>>()
        };
        assert!(!names(sent!(sm.list_secrets())).contains(&secret));
        sent!(sm.describe_secret().secret_id(&secret));

        // Visible within the setting: polled, bounded.
        let mut seen = false;
        for _ in 0..40 {
            if iam.get_role().role_name(&role).send().await.is_ok() {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(seen, "the role never showed");
        let mut all = false;
        for _ in 0..40 {
            let snapshot = sent!(iam.get_account_authorization_details());
            all = ec2.describe_vpcs().vpc_ids(&vpc).send().await.is_ok()
                && listed(sent!(ec2.describe_vpcs())).contains(&vpc)
                && roles(snapshot).contains(&role)
                && names(sent!(sm.list_secrets())).contains(&secret);
            if all {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(all, "the VPC, the role or the secret never showed");
        let hidden = tb.consistency_refusals(Side::Commercial, false);
        for service in ["read:iam", "read:ec2", "read:secretsmanager"] {
            assert!(hidden[service].as_u64() >= Some(1), "{hidden}");
        }
    });
}

/// CreateRouteTable with a ClientToken already used answers the table the first call made, as
/// EC2 does ("Ensuring idempotency"), and refuses the token with other parameters: xpart's
/// route tables rely on it instead of a lookup between attempts.
#[test]
fn create_route_table_is_idempotent_by_its_client_token() {
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    let tb = testbed();
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&no_retry(tb, Side::China).await);
        let vpc = |cidr: &'static str| {
            let ec2 = ec2.clone();
            async move {
                let v = sent!(ec2.create_vpc().cidr_block(cidr));
                v.vpc().unwrap().vpc_id().unwrap().to_string()
            }
        };
        let (a, b) = (vpc("10.61.0.0/16").await, vpc("10.62.0.0/16").await);
        let token = unique("rt-token");
        let make = |vpc: String| {
            ec2.create_route_table()
                .vpc_id(vpc)
                .client_token(&token)
                .send()
        };
        let first = make(a.clone()).await.unwrap();
        let again = make(a.clone()).await.unwrap();
        let id = |o: &aws_sdk_ec2::operation::create_route_table::CreateRouteTableOutput| {
            o.route_table()
                .unwrap()
                .route_table_id()
                .unwrap()
                .to_string()
        };
        assert_eq!(id(&first), id(&again));
        let e = make(b).await.unwrap_err();
        assert_eq!(e.code(), Some("IdempotentParameterMismatch"), "{e:?}");
    });
}

/// GetAccountAuthorizationDetails pages as IAM does: at most MaxItems entities a page (default
/// 100, 1–1000), IsTruncated and a Marker to go on; every entity once across the pages.
#[test]
fn instance_profiles_are_listed_by_path_in_pages_and_without_tags() {
    let tb = testbed();
    rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::Commercial).await);
        let name = unique("byprefix");
        let path = format!("/xpart/{name}/");
        let tag = aws_sdk_iam::types::Tag::builder()
            .key("k")
            .value("v")
            .build()
            .unwrap();
        for i in 0..5 {
            sent!(iam
                .create_instance_profile()
                .instance_profile_name(format!("{name}-{i}"))
                .path(&path)
                .tags(tag.clone()));
        }
        sent!(iam
            .create_instance_profile()
            .instance_profile_name(format!("{name}-elsewhere"))
            .tags(tag.clone()));
        let (mut seen, mut marker, mut pages) = (vec![], None::<String>, 0);
        loop {
            let page = sent!(iam
                .list_instance_profiles()
                .path_prefix(&path)
                .max_items(2)
                .set_marker(marker.take()));
            pages += 1;
            assert!(page.instance_profiles().len() <= 2);
            for ip in page.instance_profiles() {
                assert!(ip.tags().is_empty(), "a listing leaves tags out: {ip:?}");
                seen.push(ip.instance_profile_name().to_string());
            }
            match page.marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
            assert!(pages < 100, "bounded");
        }
        seen.sort();
        let want: Vec<String> = (0..5).map(|i| format!("{name}-{i}")).collect();
        assert_eq!(seen, want, "the path's profiles, each once, and no other");
        assert_eq!(pages, 3);
        // GetInstanceProfile still has them.
        let got = sent!(iam
            .get_instance_profile()
            .instance_profile_name(format!("{name}-0")));
        assert_eq!(got.instance_profile().unwrap().tags().len(), 1);
        let e = iam.list_instance_profiles().max_items(0).send().await;
        assert!(e.is_err(), "MaxItems 0 is refused");
        for i in (0..5)
            .map(|i| i.to_string())
            .chain(["elsewhere".to_string()])
        {
            sent!(iam
                .delete_instance_profile()
                .instance_profile_name(format!("{name}-{i}")));
        }
    });
}

#[test]
fn account_authorization_details_come_in_pages() {
    let tb = testbed();
    rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::Commercial).await);
        let prefix = unique("paged");
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        for i in 0..5 {
            sent!(iam.create_role()
                .role_name(format!("{prefix}-{i}"))
                .assume_role_policy_document(trust));
        }
        let gaad = || iam.get_account_authorization_details().filter(aws_sdk_iam::types::EntityType::Role);
        let mut seen = vec![];
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = sent!(gaad().max_items(2).set_marker(marker.take()));
            pages += 1;
            assert!(page.role_detail_list().len() <= 2);
            seen.extend(page.role_detail_list().iter().filter_map(|r| r.role_name()).map(str::to_string));
            match page.marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
            assert!(pages < 10_000, "bounded");
        }
        let ours: Vec<&String> = seen.iter().filter(|n| n.starts_with(&prefix)).collect();
        assert_eq!(ours.len(), 5, "{ours:?}");
        let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an entity on two pages");
        assert!(pages >= 3, "{pages} pages for {} roles", seen.len());
        // Without MaxItems: 100 at most.
        let first = sent!(gaad());
        assert!(first.role_detail_list().len() <= 100);
        assert_eq!(first.is_truncated(), seen.len() > 100);
        let e = gaad().max_items(1001).send().await.unwrap_err();
        assert_eq!(e.into_service_error().meta().code(), Some("ValidationError"));
        for i in 0..5 {
            sent!(iam.delete_role().role_name(format!("{prefix}-{i}")));
        }
    });
}
