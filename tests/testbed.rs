//! The local test-bed itself: partitions, Roles Anywhere emulation, fidelity fixes, faults, up/down.

use crate::harness::{refused, sent};

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_rolesanywhere::types::Tag;
use serde_json::Value;

use crate::harness::{
    chain, pki, ra_source, rt, testbed, third_party, unique, Side, Testbed, SECRET,
};

const SIDES: [Side; 2] = [Side::Commercial, Side::China];

fn cli(tb: &Testbed, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("aws")
        .args(args)
        .envs(tb.env())
        .output()
        .expect("aws CLI on PATH");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_partition_has_its_own_account_and_arn_partition_sdk() {
    let tb = testbed();
    rt().block_on(async {
        let mut accounts = vec![];
        for side in SIDES {
            let sts = aws_sdk_sts::Client::new(&tb.sdk(side).await);
            let id = sent!(sts.get_caller_identity());
            let arn = id.arn().unwrap();
            assert!(
                arn.starts_with(&format!("arn:{}:", side.partition())),
                "{side:?}: {arn}"
            );
            assert_eq!(id.account().unwrap(), tb.account(side));
            accounts.push(id.account().unwrap().to_string());
        }
        assert_ne!(accounts[0], accounts[1]);
    });
}

#[test]
fn each_partition_has_its_own_account_and_arn_partition_cli() {
    let tb = testbed();
    let mut seen = vec![];
    for side in SIDES {
        let (ok, out, err) = cli(
            tb,
            &["--profile", side.profile(), "sts", "get-caller-identity"],
        );
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let arn = v["Arn"].as_str().unwrap();
        assert!(
            arn.starts_with(&format!("arn:{}:sts::", side.partition())),
            "{arn}"
        );
        assert_eq!(v["Account"].as_str().unwrap().len(), 12);
        seen.push(v["Account"].as_str().unwrap().to_string());
    }
    assert_ne!(
        seen[0], seen[1],
        "the two partitions must be different accounts"
    );
}

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
        // Bind the role to another trust anchor: the session must now be refused.
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": format!("{}-other", c.anchor_arn)},
                }
            }]
        });
        sent!(iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string()));
        let v = third_party(tb, &c, &c.ca.issue("workload", false, false), false);
        assert_eq!(v["code"], "AccessDeniedException", "{v}");

        // Bound to the anchor and to the subject CN: only that CN gets in.
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": c.anchor_arn},
                    "StringEquals": {"aws:PrincipalTag/x509Subject/CN": "cn-ec2-workload"}
                }
            }]
        });
        sent!(iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string()));
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

#[test]
fn latency_is_per_partition() {
    let tb = Testbed::private();
    tb.set_faults(Side::China, "latency_ms=800");
    rt().block_on(async {
        let china = aws_sdk_sts::Client::new(&tb.sdk(Side::China).await);
        let commercial = aws_sdk_sts::Client::new(&tb.sdk(Side::Commercial).await);
        // Warm both connections' code paths once so only latency is measured.
        sent!(commercial.get_caller_identity());
        let t = Instant::now();
        sent!(china.get_caller_identity());
        let slow = t.elapsed();
        let t = Instant::now();
        sent!(commercial.get_caller_identity());
        let fast = t.elapsed();
        assert!(slow >= Duration::from_millis(800), "china took {slow:?}");
        assert!(
            fast < Duration::from_millis(800),
            "commercial took {fast:?}"
        );
    });
}

#[test]
fn lost_response_on_run_instances_yields_one_instance() {
    let tb = Testbed::private();
    // The first RunInstances is processed, then its reply is lost: the SDK retries with
    // the same ClientToken, and EC2 idempotency must return the same reservation.
    tb.set_faults(
        Side::China,
        "lost_response=1 match=RunInstances max_faults=1",
    );
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tb.sdk(Side::China).await);
        let token = unique("token");
        let out = sent!(ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .client_token(&token));
        let id = out.instances()[0].instance_id().unwrap().to_string();
        let stats = tb.stats(Side::China);
        assert_eq!(stats["injected"]["lost_response"], 1, "{stats}");
        assert_eq!(stats["calls"]["RunInstances"], 2, "{stats}");
        let found = sent!(ec2.describe_instances().filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("client-token")
                .values(&token)
                .build(),
        ));
        let ids: Vec<_> = found
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id())
            .collect();
        assert_eq!(ids, vec![id.as_str()]);
    });
}

#[test]
fn lost_response_with_the_aws_cli_yields_one_instance() {
    let tb = Testbed::private();
    tb.set_faults(
        Side::China,
        "lost_response=1 match=RunInstances max_faults=1",
    );
    let token = unique("cli-token");
    let (ok, out, err) = cli(
        &tb,
        &[
            "--profile",
            "xpart-china",
            "ec2",
            "run-instances",
            "--image-id",
            "ami-12c6146b",
            "--count",
            "1",
            "--client-token",
            &token,
        ],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let id = v["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, err) = cli(
        &tb,
        &[
            "--profile",
            "xpart-china",
            "ec2",
            "describe-instances",
            "--filters",
            &format!("Name=client-token,Values={token}"),
        ],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<_> = v["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Instances"].as_array().unwrap().iter())
        .map(|i| i["InstanceId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![id]);
    assert_eq!(tb.stats(Side::China)["injected"]["lost_response"], 1);
}

#[test]
fn transient_faults_are_injected_and_retried() {
    let tb = Testbed::private();
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(&tb.sdk(Side::Commercial).await);
        for kind in ["http_500", "http_503", "throttle", "reset"] {
            tb.set_faults(Side::Commercial, &format!("{kind}=1 max_faults=2"));
            // Three attempts by default: two faults, then success.
            sts.get_caller_identity()
                .send()
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            let stats = tb.stats(Side::Commercial);
            assert_eq!(stats["injected"][kind], 2, "{kind}: {stats}");
        }
        // Without retries the fault reaches the caller, with the protocol's error code.
        let once = aws_sdk_sts::Client::new(
            &tb.sdk_with(Side::Commercial, aws_config::retry::RetryConfig::disabled())
                .await,
        );
        tb.set_faults(Side::Commercial, "throttle=1 max_faults=1");
        let err = once.get_caller_identity().send().await.unwrap_err();
        let code = err
            .as_service_error()
            .and_then(|e| aws_sdk_sts::error::ProvideErrorMetadata::code(e));
        assert_eq!(code, Some("Throttling"), "{err:?}");
    });
}

#[test]
fn stall_holds_the_request() {
    let tb = Testbed::private();
    tb.set_faults(Side::China, "stall=1 stall_s=2 max_faults=1");
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(&tb.sdk(Side::China).await);
        let t = Instant::now();
        sent!(sts.get_caller_identity());
        assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(tb.stats(Side::China)["injected"]["stall"], 1);
    });
}

#[test]
fn faults_are_repeatable_for_a_seed() {
    let tb = Testbed::private();
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(
            &tb.sdk_with(Side::China, aws_config::retry::RetryConfig::disabled())
                .await,
        );
        let mut runs = vec![];
        for _ in 0..2 {
            // Writing the settings again restarts the draws.
            tb.set_faults(Side::China, "seed=7 http_503=0.5");
            let mut pattern = vec![];
            for _ in 0..16 {
                pattern.push(sts.get_caller_identity().send().await.is_ok());
            }
            runs.push(pattern);
            std::thread::sleep(Duration::from_millis(20)); // a new mtime for the rewrite
        }
        assert_eq!(runs[0], runs[1]);
        assert!(
            runs[0].contains(&true) && runs[0].contains(&false),
            "{:?}",
            runs[0]
        );
    });
}

#[test]
fn down_stops_everything_up_started() {
    let tb = Testbed::private();
    let state = tb.state();
    let pids: Vec<u32> = ["commercial", "china"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(state.join(format!("{n}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    assert_eq!(
        running_for(&state).len(),
        2,
        "both servers name the state directory"
    );
    let out = tb.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for pid in &pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| c.contains("xpart_testbed.server"))
            .unwrap_or(false);
        assert!(!alive, "pid {pid} still running after down");
    }
    let left = running_for(&state);
    assert!(left.is_empty(), "still running after down: {left:?}");
}

/// The processes whose command line names `state`: every server `up` starts is given its ready
/// file there. Nothing started for a test-bed may live on after `down`. (A port probe would
/// race: the freed port may already belong to a sibling test-bed whose fault proxy closes
/// connections without a reply.)
fn running_for(state: &std::path::Path) -> Vec<String> {
    // With the slash: a sibling state dir may share this one as a prefix (…-1 and …-12).
    let mark = format!("{}/", state.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&mark)
                .then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// TerminateInstances retried after a lost reply succeeds, as in AWS (moto alone fails it).
#[test]
fn lost_response_on_terminate_instances_still_succeeds() {
    let tb = Testbed::private();
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tb.sdk(Side::China).await);
        let out = sent!(ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1));
        let id = out.instances()[0].instance_id().unwrap().to_string();
        tb.set_faults(
            Side::China,
            "lost_response=1 match=TerminateInstances max_faults=1",
        );
        let out = sent!(ec2.terminate_instances().instance_ids(&id));
        let stats = tb.stats(Side::China);
        assert_eq!(stats["calls"]["TerminateInstances"], 2, "{stats}");
        let state = out.terminating_instances()[0]
            .current_state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_string();
        // moto's reply names the state "shutting-down" either way; AWS says "terminated".
        assert!(
            ["shutting-down", "terminated"].contains(&state.as_str()),
            "{state}"
        );
    });
}

/// A client of `side` that never retries: a race the test-bed loses shows as an HTTP 500
/// instead of being retried away.
async fn no_retry(tb: &Testbed, side: Side) -> aws_config::SdkConfig {
    tb.sdk_with(side, aws_config::retry::RetryConfig::disabled())
        .await
}

/// Each attempt's error code, sent all at once: None for a success.
async fn codes_of<T, E, R>(
    tries: impl IntoIterator<
        Item = impl std::future::Future<Output = Result<T, aws_sdk_iam::error::SdkError<E, R>>>,
    >,
) -> Vec<Option<String>>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    use aws_sdk_iam::error::ProvideErrorMetadata;
    futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.err().map(|e| format!("{:?}", e.code())))
        .collect()
}

/// Sixteen concurrent creates of one name, as AWS answers them: one success, and the service's
/// "already exists" for every other (never a 500 from a race); sixty-four of distinct names:
/// sixty-four successes. IAM roles, secrets and KMS aliases. xpart's duplicate-freedom rests
/// on this (a create retried after a lost answer finds its own resource).
#[test]
fn concurrent_creates_of_one_name_have_one_winner() {
    let tb = testbed();
    rt().block_on(async {
        for side in [Side::Commercial, Side::China] {
            let conf = no_retry(tb, side).await;
            let iam = aws_sdk_iam::Client::new(&conf);
            let role = unique("race-role");
            let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
            let tries = (0..16).map(|_| {
                iam.create_role()
                    .role_name(&role)
                    .assume_role_policy_document(trust)
                    .send()
            });
            let codes = codes_of(tries).await;
            let wins = codes.iter().filter(|c| c.is_none()).count();
            assert_eq!(wins, 1, "{side:?} CreateRole: {codes:?}");
            // Creates of different names at once all succeed (moto alone iterates a dict
            // another thread changes, and answers 500).
            let names: Vec<String> = (0..64).map(|i| format!("{role}-{i}")).collect();
            let tries = names.iter().map(|n| {
                iam.create_role()
                    .role_name(n)
                    .assume_role_policy_document(trust)
                    .send()
            });
            let failed: Vec<String> = futures::future::join_all(tries)
                .await
                .into_iter()
                .filter_map(|r| r.err().map(|e| format!("{e:?}")))
                .collect();
            assert!(failed.is_empty(), "{side:?} CreateRole of distinct names: {failed:?}");
            assert!(
                codes.iter().flatten().all(|c| c.contains("EntityAlreadyExists")),
                "{side:?} CreateRole: {codes:?}"
            );

            let sm = aws_sdk_secretsmanager::Client::new(&conf);
            let name = unique("race-secret");
            let tries = (0..16).map(|i| {
                sm.create_secret()
                    .name(&name)
                    .secret_string(format!("v{i}"))
                    .send()
            });
            let codes = codes_of(tries).await;
            assert_eq!(
                codes.iter().filter(|c| c.is_none()).count(),
                1,
                "{side:?} CreateSecret: {codes:?}"
            );
            assert!(
                codes.iter().flatten().all(|c| c.contains("ResourceExistsException")),
                "{side:?} CreateSecret: {codes:?}"
            );
            let tries = (0..64).map(|i| {
                sm.create_secret()
                    .name(format!("{name}-{i}"))
                    .secret_string("v")
                    .send()
            });
            let codes = codes_of(tries).await;
            assert!(
                codes.iter().all(Option::is_none),
                "{side:?} CreateSecret of distinct names: {codes:?}"
            );

            // A KMS alias names one key: of sixteen keys racing for it, one gets it.
            let kms = aws_sdk_kms::Client::new(&conf);
            let alias = format!("alias/{}", unique("race-alias"));
            let mut keys = vec![];
            for _ in 0..16 {
                let k = sent!(kms.create_key());
                keys.push(k.key_metadata().unwrap().key_id().to_string());
            }
            let tries = keys.iter().map(|k| {
                kms.create_alias()
                    .alias_name(&alias)
                    .target_key_id(k)
                    .send()
            });
            let codes = codes_of(tries).await;
            assert_eq!(
                codes.iter().filter(|c| c.is_none()).count(),
                1,
                "{side:?} CreateAlias: {codes:?}"
            );
            assert!(
                codes.iter().flatten().all(|c| c.contains("AlreadyExistsException")),
                "{side:?} CreateAlias: {codes:?}"
            );
        }
    });
}

/// A compare-and-swap: sixteen concurrent moves of AWSCURRENT away from one version, each to
/// its own new version. Secrets Manager fails the move when RemoveFromVersionId is no longer
/// the current version, so exactly one wins and the current version is the winner's. (A lease
/// kept in a secret takes over a stale holder this way.)
#[test]
fn a_conditional_stage_move_has_one_winner() {
    let tb = testbed();
    rt().block_on(async {
        let conf = no_retry(tb, Side::China).await;
        let sm = aws_sdk_secretsmanager::Client::new(&conf);
        let name = unique("cas-secret");
        let first = sent!(sm.create_secret().name(&name).secret_string("holder-0"));
        let base = first.version_id().unwrap().to_string();
        let mut versions = vec![];
        for i in 1..=16 {
            let put = sent!(sm
                .put_secret_value()
                .secret_id(&name)
                .secret_string(format!("holder-{i}"))
                .version_stages(format!("CANDIDATE{i}")));
            versions.push(put.version_id().unwrap().to_string());
        }
        // Staged versions leave the current one alone.
        let now = sent!(sm.get_secret_value().secret_id(&name));
        assert_eq!(now.secret_string(), Some("holder-0"));
        let moves = versions.iter().map(|v| {
            sm.update_secret_version_stage()
                .secret_id(&name)
                .version_stage("AWSCURRENT")
                .remove_from_version_id(&base)
                .move_to_version_id(v)
                .send()
        });
        let results = futures::future::join_all(moves).await;
        let winners: Vec<&String> = versions
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(v, _)| v)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            let code = r.as_service_error().and_then(|e| e.meta().code());
            assert_eq!(code, Some("InvalidParameterException"), "{r:?}");
        }
        let now = sent!(sm.get_secret_value().secret_id(&name));
        assert_eq!(now.version_id(), Some(winners[0].as_str()));
    });
}

/// KMS signs with asymmetric keys on both partitions, and the signature checks out against the
/// public key GetPublicKey returns (checked by another implementation: Python's
/// `cryptography`). A CA held in KMS signs every certificate this way.
#[test]
fn kms_signs_with_asymmetric_keys_on_both_partitions() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
    let tb = testbed();
    rt().block_on(async {
        for side in [Side::Commercial, Side::China] {
            let kms = aws_sdk_kms::Client::new(&tb.sdk(side).await);
            for (spec, alg) in [
                (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
                (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
            ] {
                let key = sent!(kms
                    .create_key()
                    .key_usage(KeyUsageType::SignVerify)
                    .key_spec(spec.clone()));
                let meta = key.key_metadata().unwrap();
                assert!(
                    meta.arn()
                        .unwrap()
                        .starts_with(&format!("arn:{}:kms:", side.partition())),
                    "{:?}",
                    meta.arn()
                );
                let message = b"tbsCertificate bytes stand here".to_vec();
                let signed = sent!(kms
                    .sign()
                    .key_id(meta.key_id())
                    .message(aws_sdk_kms::primitives::Blob::new(message.clone()))
                    .message_type(MessageType::Raw)
                    .signing_algorithm(alg.clone()));
                let public = sent!(kms.get_public_key().key_id(meta.key_id()));
                let der = public.public_key().unwrap().as_ref().to_vec();
                let sig = signed.signature().unwrap().as_ref().to_vec();
                let check = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
key = serialization.load_der_public_key(bytes.fromhex(sys.argv[1]))
sig, msg = bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
if isinstance(key, rsa.RSAPublicKey):
    key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
else:
    key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
print("verified")
"#;
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let out = Command::new(tb.python())
                    .args(["-c", check, &hex(&der), &hex(&sig), &hex(&message)])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success()
                        && String::from_utf8_lossy(&out.stdout).contains("verified"),
                    "{side:?} {spec:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // The same check fails on another message: the verifier is not a rubber stamp.
                let out = Command::new(tb.python())
                    .args([
                        "-c",
                        check,
                        &hex(&der),
                        &hex(&sig),
                        &hex(b"another message"),
                    ])
                    .output()
                    .unwrap();
                assert!(
                    !out.status.success(),
                    "{side:?} {spec:?}: a forged message verified"
                );
            }
        }
    });
}

/// KMS's limits that a CA held by KMS relies on, as AWS states them: Sign takes at most 4096
/// bytes of message, a tag value at most 256 characters, a key at most 50 tags.
#[test]
fn kms_refuses_oversized_messages_and_tags() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag};
    let tb = testbed();
    rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let key = sent!(kms
            .create_key()
            .key_usage(KeyUsageType::SignVerify)
            .key_spec(KeySpec::Rsa2048));
        let id = key.key_metadata().unwrap().key_id().to_string();
        let sign = |n: usize| {
            kms.sign()
                .key_id(&id)
                .message(Blob::new(vec![7u8; n]))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
                .send()
        };
        assert!(sign(4096).await.is_ok());
        let e = sign(4097).await.unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
        let tag = |k: String, len: usize| {
            Tag::builder()
                .tag_key(k)
                .tag_value("v".repeat(len))
                .build()
                .unwrap()
        };
        assert!(kms
            .tag_resource()
            .key_id(&id)
            .tags(tag("a".into(), 256))
            .send()
            .await
            .is_ok());
        let e = kms
            .tag_resource()
            .key_id(&id)
            .tags(tag("b".into(), 257))
            .send()
            .await
            .unwrap_err();
        // Checked against the model, as the service checks it first.
        assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
        let many: Vec<Tag> = (0..50).map(|i| tag(format!("k{i}"), 1)).collect();
        let e = kms
            .tag_resource()
            .key_id(&id)
            .set_tags(Some(many))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("LimitExceededException"), "{e:?}");
    });
}

/// IAM's eventual consistency, on by a setting (`consistency_s`): right after CreateRole a key
/// policy naming the role is refused as KMS refuses it, and taken once the seeded delay has
/// passed; right after CreateInstanceProfile, RunInstances with it is refused as EC2 refuses
/// it. The refusals are counted. (Seed 3 draws 2.5 s for the role and 2.8 s for the profile.)
#[test]
fn iam_changes_reach_kms_and_ec2_after_a_seeded_delay() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    let tb = Testbed::private();
    tb.set_faults(Side::China, "seed=3 consistency_s=3");
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
    let tb = Testbed::private();
    tb.set_faults(Side::Commercial, "quotas=1");
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
    let tb = Testbed::private();
    tb.set_faults(Side::Commercial, "seed=4 consistency_s=2");
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
    let tb = Testbed::private();
    tb.set_faults(Side::Commercial, "seed=5 consistency_s=3");
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
