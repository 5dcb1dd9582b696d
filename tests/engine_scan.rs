//! The read phase's scan (one tag query per partition, IAM by the plan's path): what a plan with
//! nothing to do costs in calls, also in a full account, and that answering from the scan
//! never costs a duplicate.

use crate::harness::sent;

use std::collections::BTreeMap;

use crate::harness::{self, plan_file, text, Run, Side, Testbed};

/// Calls by operation since the last reset.
fn calls(tb: &Testbed, side: Side) -> BTreeMap<String, u64> {
    tb.stats(side)["calls"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// The lineage of the seed plan (`plans/china-to-commercial.yaml`): of its `name:` as written.
fn seed_lineage() -> String {
    xpart::plan::lineage("china-to-commercial-${var.suffix}")
}

/// A key tagged as the seed plan's `client_key_key`, without an alias: what a run killed
/// between CreateKey and CreateAlias leaves. Its id.
fn aliasless_key(tb: &Testbed, plan_name: &str) -> String {
    harness::rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let tag = harness::kms_tag;
        sent!(kms
            .create_key()
            .tags(tag("xpart:plan", plan_name))
            .tags(tag("xpart:lineage", &seed_lineage()))
            .tags(tag("xpart:id", "client_key_key")))
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
    })
}

/// The plan has exactly one key (boto3's count), `key_id`, and its alias names it.
fn assert_one_key_named_by_alias(tb: &Testbed, run: &Run, plan: &std::path::Path, key_id: &str) {
    let keys: Vec<_> = run
        .inventory(Side::China, plan)
        .into_iter()
        .filter(|r| r["type"] == "kms.key")
        .collect();
    assert_eq!(keys.len(), 1, "one key of this plan: {keys:?}");
    assert!(
        keys[0].to_string().contains(key_id),
        "the key made before is the plan's key: {keys:?}"
    );
    let alias_target = harness::rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let alias = format!("alias/xpart-workload-key-{}", run.suffix);
        let key = harness::key_metadata(&kms, &alias).await;
        key.key_id().to_string()
    });
    assert_eq!(alias_target, key_id, "the alias names the key made before");
}

/// The ARN of the China role `name`, as IAM answers it (with its path).
fn china_role_arn(tb: &Testbed, name: &str) -> String {
    harness::rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let got = sent!(iam.get_role().role_name(name));
        got.role().unwrap().arn().to_string()
    })
}

/// Fill both partitions of `tb` with what a real account holds besides the plan: unrelated
/// roles (some under another plan's path), instance profiles, keys and secrets.
fn seed_account(tb: &Testbed, roles: u32, profiles: u32, keys: u32, secrets: u32) {
    for side in [Side::Commercial, Side::China] {
        let o = std::process::Command::new(tb.python())
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/clients/seed_account.py"),
            )
            .args(["--endpoint", tb.endpoint(side), "--region", tb.region(side)])
            .args([
                "--roles",
                &roles.to_string(),
                "--profiles",
                &profiles.to_string(),
            ])
            .args([
                "--keys",
                &keys.to_string(),
                "--secrets",
                &secrets.to_string(),
            ])
            .envs(tb.env())
            .env("AWS_ACCESS_KEY_ID", "seed")
            .env("AWS_SECRET_ACCESS_KEY", "seed")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// A plan with nothing to do reads each AWS resource with at most two calls on average, the
/// account-wide searches (identity, tag query, the IAM path listings) included, in an account
/// that holds far more than the plan: a page of IAM's listings is 100, and each partition
/// holds 1,200 unrelated roles and 300 profiles (some under another plan's path), so a listing
/// of the account's roles would show as more than one call. An orphan role and profile (removed
/// from the plan) are still found there and deleted. A private test-bed: the counts are this
/// run's alone.
#[test]
fn no_op_plan_costs_at_most_two_calls_per_resource_in_a_full_account_and_finds_orphans() {
    let tb = Testbed::private();
    seed_account(&tb, 1200, 300, 30, 30);
    let run = Run::new(&tb);
    let (plan, src) = run.own_plan("china-to-commercial.yaml");
    // The plan with a role and a profile more, then without them: both become orphans.
    let extra = "
  extra_role:
    type: iam.role
    partition: china
    properties: {name: \"xpart-extra-${var.suffix}\", trust: {service: ec2}}
  extra_profile:
    type: iam.instance_profile
    partition: china
    properties: {name: \"xpart-extra-${var.suffix}\", role: \"${extra_role.name}\"}
";
    std::fs::write(&plan, format!("{src}{extra}")).unwrap();
    run.ok(&["apply", "--yes"], &plan);
    let arn = china_role_arn(&tb, &format!("xpart-workload-{}", run.suffix));
    let path = format!(":role/xpart/{}/xpart-workload-", run.plan_name(&plan));
    assert!(
        arn.contains(&path),
        "the plan's roles live under its path: {arn}"
    );
    std::fs::write(&plan, &src).unwrap();
    let (_, out) = run.changes(&plan);
    for (ty, id) in [
        ("iam.role", "extra_role"),
        ("iam.instance_profile", "extra_profile"),
    ] {
        assert!(
            out.contains(&format!("- {ty} {id}")),
            "the orphan {id} is found among the account's roles:\n{out}"
        );
    }
    run.ok(&["apply", "--yes"], &plan);
    let gone = harness::rt().block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::China).await);
        let name = format!("xpart-extra-{}", run.suffix);
        let role = iam.get_role().role_name(&name).send().await;
        let profile = iam
            .get_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await;
        role.is_err() && profile.is_err()
    });
    assert!(gone, "the orphans were deleted");

    // Resources that AWS holds: those in a partition, and a CA held by a KMS key (its
    // certificate is read from the key).
    let doc: serde_yaml::Value = serde_yaml::from_str(&src).unwrap();
    let resources = doc["resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r.get("partition").is_some() || r["properties"].get("kms_key").is_some())
        .count() as u64;
    assert!(resources >= 10, "the plan has {resources} AWS resources");

    for side in [Side::Commercial, Side::China] {
        tb.reset_stats(side);
    }
    let o = run.run(&["plan", "--detailed-exitcode"], &plan);
    assert_eq!(o.status.code(), Some(0), "a plan after apply: {}", text(&o));

    let mut total = 0;
    for side in [Side::Commercial, Side::China] {
        let c = calls(&tb, side);
        total += c.values().sum::<u64>();
        // Listings of the account, type by type: none, in either partition.
        for op in [
            "GetAccountAuthorizationDetails",
            "ListKeys",
            "ListAliases",
            "ListSecrets",
        ] {
            assert!(!c.contains_key(op), "{side:?} called {op}: {c:?}");
        }
        // One page each: the plan's path, not the account's 1,200 roles and 300 profiles.
        for op in [
            "GetResources",
            "GetCallerIdentity",
            "ListRoles",
            "ListInstanceProfiles",
        ] {
            assert_eq!(c.get(op), Some(&1), "{side:?}: {op} once: {c:?}");
        }
    }
    assert!(
        total <= 2 * resources,
        "{total} calls for {resources} AWS resources"
    );

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// A key of the plan left without its alias (a run killed between CreateKey and CreateAlias)
/// is brought to the plan by the next apply, never made again: the plan answers from the tag
/// query, and the create waits for the exact search the read started.
#[test]
fn kms_key_left_without_its_alias_is_adopted_not_duplicated() {
    let tb = harness::testbed();
    let plan = plan_file("china-to-commercial.yaml");
    let run = Run::new(tb);
    let key_id = aliasless_key(tb, &run.plan_name(&plan));

    let o = run.ok(&["plan"], &plan);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("~ kms.key client_key_key"),
        "the plan updates the key it found:\n{}",
        text(&o)
    );

    run.ok(&["apply", "--yes"], &plan);
    assert_one_key_named_by_alias(tb, &run, &plan, &key_id);

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// The same with a tag index that lags (it may, for seconds after a create): the plan cannot
/// see the key, so it plans a create, and the create finds the key through the exact search
/// the read left running and brings it to the plan instead of making a second one.
#[test]
fn kms_key_left_without_its_alias_is_adopted_when_the_tag_index_lags() {
    let tb = Testbed::with_faults(Side::China, "stale_index=true");
    let plan = plan_file("china-to-commercial.yaml");
    let run = Run::new(&tb);
    let key_id = aliasless_key(&tb, &run.plan_name(&plan));

    let o = run.ok(&["plan"], &plan);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("+ kms.key client_key_key"),
        "the lagging index hides the key from the plan:\n{}",
        text(&o)
    );
    run.ok(&["apply", "--yes"], &plan);
    assert_one_key_named_by_alias(&tb, &run, &plan, &key_id);

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// Renaming a role, a secret and a key's alias in the plan replaces them: the next plan shows
/// the new one to add and the old one (still tagged with the id) to delete, apply leaves one
/// of each, and destroy leaves nothing, the old names included.
#[test]
fn renamed_resources_are_replaced_not_left_behind() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let src = std::fs::read_to_string(plan_file("china-to-commercial.yaml")).unwrap();
    let (before, after) = (run.state.join("before"), run.state.join("after"));
    let renamed = src
        .replacen(
            "name: xpart-secret-reader-${var.suffix}",
            "name: xpart-secret-reader2-${var.suffix}",
            1,
        )
        .replace(
            "name: xpart/app-secret-${var.suffix}",
            "name: xpart/app-secret2-${var.suffix}",
        )
        .replace(
            "alias: alias/xpart-workload-key-${var.suffix}",
            "alias: alias/xpart-workload-key2-${var.suffix}",
        );
    assert_ne!(renamed, src);
    for (dir, text) in [(&before, &src), (&after, &renamed)] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("china-to-commercial.yaml"), text).unwrap();
    }
    let (before, after) = (
        before.join("china-to-commercial.yaml"),
        after.join("china-to-commercial.yaml"),
    );

    run.ok(&["apply", "--yes"], &before);
    let o = run.ok(&["plan"], &after);
    let out = String::from_utf8_lossy(&o.stdout);
    for (ty, id) in [
        ("iam.role", "reader_role"),
        ("secretsmanager.secret", "app_secret"),
    ] {
        assert!(
            out.contains(&format!("+ {ty} {id}")) && out.contains(&format!("- {ty} {id}")),
            "{id}: the new one added, the old one deleted:\n{}",
            text(&o)
        );
    }
    // The key keeps its identity: found by its tags, it gets the new alias in place.
    assert!(
        out.contains("~ kms.key client_key_key"),
        "the key is updated:\n{}",
        text(&o)
    );

    run.ok(&["apply", "--yes"], &after);
    run.no_changes(&after, "converged");
    let census = |side: Side| -> Vec<(String, String)> {
        run.inventory(side, &after)
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().to_string(),
                    r["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (commercial, china) = (census(Side::Commercial), census(Side::China));
    for (side, list, ty, id) in [
        ("commercial", &commercial, "iam.role", "reader_role"),
        (
            "commercial",
            &commercial,
            "secretsmanager.secret",
            "app_secret",
        ),
        ("china", &china, "kms.key", "client_key_key"),
    ] {
        let n = list.iter().filter(|(t, i)| t == ty && i == id).count();
        assert_eq!(n, 1, "{side}: {id} exists {n} times: {list:?}");
    }

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &after);
    for side in [Side::Commercial, Side::China] {
        let left = run.inventory(side, &after);
        assert!(left.is_empty(), "left behind in {side:?}: {left:?}");
    }
}

/// Roles Anywhere resources are read from the tag index while planning (one asked by name
/// still by its own tags). An anchor whose name the plan changed, which the index does not list
/// yet (it may lag a create by seconds), is planned as a create, and the create finds it
/// through the exact search the read left running and renames it: never a second anchor.
#[test]
fn a_renamed_anchor_a_lagging_index_misses_is_not_made_twice() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let (plan, src) = run.own_plan("china-to-commercial.yaml");
    let renamed = src.replace(
        "name: xpart-root-${var.suffix}",
        "name: xpart-root2-${var.suffix}",
    );
    assert_ne!(renamed, src);
    run.ok(&["apply", "--yes"], &plan);

    std::fs::write(&plan, &renamed).unwrap();
    tb.set_faults(Side::Commercial, "stale_index=true");
    let o = run.ok(&["plan"], &plan);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown.contains("+ rolesanywhere.trust_anchor trust_anchor"),
        "the lagging index hides it:\n{shown}"
    );
    run.ok(&["apply", "--yes"], &plan);
    tb.set_faults(Side::Commercial, "off");

    let sfx = &run.suffix;
    let names: Vec<String> = harness::rt().block_on(async {
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(Side::Commercial).await);
        let a = sent!(ra.list_trust_anchors());
        a.trust_anchors()
            .iter()
            .filter_map(|t| t.name().map(str::to_string))
            .filter(|n| n.ends_with(sfx.as_str()))
            .collect()
    });
    assert_eq!(
        names,
        [format!("xpart-root2-{sfx}")],
        "made twice, or not renamed"
    );
    run.converged_then_destroyed(&plan);
}

/// Reads that lag a create (the test-bed's consistency mode, both partitions: right after a
/// create, IAM's and EC2's reads of it answer "not found" and their listings leave it out). The
/// run ends only once reads show what it made, so a plan, a verify and a destroy straight after
/// find everything: no second VPC or role planned, nothing left behind.
#[test]
fn what_an_apply_made_is_found_by_the_commands_straight_after_it() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    for side in [Side::China, Side::Commercial] {
        tb.set_faults(side, "seed=7 consistency_s=4");
    }
    run.ok(&["apply", "--yes"], &plan);
    let met: u64 = [Side::China, Side::Commercial]
        .iter()
        .flat_map(|&s| {
            let v = tb.consistency_refusals(s, true);
            ["read:ec2", "read:iam"].map(|k| v[k].as_u64().unwrap_or(0))
        })
        .sum();
    assert!(met > 0, "no read met a create not yet visible");
    run.converged_then_destroyed(&plan);
    for side in [Side::China, Side::Commercial] {
        tb.set_faults(side, "off");
        assert_eq!(
            run.inventory(side, &plan),
            Vec::<serde_json::Value>::new(),
            "{side:?}"
        );
    }
}

/// The account principal a generated key policy names is KMS's to say, not xpart's: KMS writes
/// it into the default policy of a key made without one. With the test-bed's KMS set to accept
/// and write another form than the documented one xpart knows (and to refuse that one), the
/// seed plan applies, both partitions' keys name KMS's form, and a plan from a fresh process
/// (nothing learned yet but what it reads) finds nothing to do.
#[test]
fn key_policies_name_the_account_as_kms_writes_it() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    for side in [Side::China, Side::Commercial] {
        tb.set_faults(
            side,
            "account_principal=arn:{partition}:iam::{account}:tenant",
        );
    }
    let form =
        |side: Side, res: &str| format!("arn:{}:iam::{}:{res}", side.partition(), tb.account(side));
    let policy_of = |side: Side, key: &str| -> String {
        harness::rt().block_on(async {
            let kms = aws_sdk_kms::Client::new(&tb.sdk(side).await);
            // GetKeyPolicy takes a key id or ARN, not an alias.
            let meta = sent!(kms.describe_key().key_id(key));
            sent!(kms
                .get_key_policy()
                .key_id(meta.key_metadata().unwrap().key_id())
                .policy_name("default"))
            .policy()
            .unwrap()
            .to_string()
        })
    };
    // The test-bed's KMS refuses the documented form now.
    harness::rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": form(Side::China, "root")}, "Action": "kms:*", "Resource": "*"}]});
        let e = kms
            .create_key()
            .policy(doc.to_string())
            .send()
            .await
            .unwrap_err();
        let code = e.into_service_error().meta().code().map(str::to_string);
        assert_eq!(code.as_deref(), Some("MalformedPolicyDocumentException"));
    });

    run.ok(&["apply", "--yes"], &plan);
    let sfx = &run.suffix;
    for (side, alias) in [
        (Side::China, format!("alias/xpart-workload-key-{sfx}")),
        (Side::Commercial, format!("alias/xpart-root-ca-{sfx}")),
    ] {
        let doc = policy_of(side, &alias);
        assert!(doc.contains(&form(side, "tenant")), "{side:?}: {doc}");
        assert!(!doc.contains(&form(side, "root")), "{side:?}: {doc}");
    }
    // The workload key's grant to the instance role is there beside it.
    let doc = policy_of(Side::China, &format!("alias/xpart-workload-key-{sfx}"));
    assert!(doc.contains(":role/"), "{doc}");
    run.converged_then_destroyed(&plan);
}

/// boto3's view of the run's trust anchors and profiles (tests/clients/ra_settings.py).
fn ra_settings(tb: &Testbed, run: &Run) -> serde_json::Value {
    let mut c = std::process::Command::new(tb.python());
    c.arg(harness::repo().join("tests/clients/ra_settings.py"))
        .args(["--endpoint", tb.endpoint(Side::Commercial)])
        .args(["--region", tb.region(Side::Commercial)])
        .args(["--needle", &run.suffix]);
    let out = harness::output_within(&mut c, std::time::Duration::from_secs(60)).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The shipped plan's expiry notifications and attribute mapping: applied, read back by boto3
/// as the plan says, changed in place by a plan edit (`~`, never `-/+`), nothing to do after;
/// a notification the plan leaves out goes back to Roles Anywhere's own setting.
#[test]
fn notifications_and_attribute_mappings_are_applied_and_changed_in_place() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let (plan, src) = run.own_plan("china-to-commercial.yaml");
    run.ok(&["apply", "--yes"], &plan);

    let sfx = &run.suffix;
    let (anchor, profile) = (
        format!("xpart-root-{sfx}"),
        format!("xpart-secret-reader-{sfx}"),
    );
    let got = ra_settings(&tb, &run);
    let events = |v: &serde_json::Value| -> Vec<(String, bool, Option<u64>, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["event"].as_str().unwrap().to_string(),
                    n["enabled"].as_bool().unwrap(),
                    n["threshold"].as_u64(),
                    n["configuredBy"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let account = tb.account(Side::Commercial).to_string();
    assert_eq!(
        events(&got["anchors"][&anchor]),
        [
            (
                "CA_CERTIFICATE_EXPIRY".into(),
                true,
                Some(90),
                account.clone()
            ),
            (
                "END_ENTITY_CERTIFICATE_EXPIRY".into(),
                true,
                Some(14),
                account.clone()
            ),
        ],
        "{got}"
    );
    // No mapping in the plan: Roles Anywhere's default.
    assert_eq!(
        got["profiles"][&profile],
        serde_json::json!({"x509Subject": ["*"], "x509Issuer": ["*"], "x509SAN": ["DNS", "Name/*", "URI"]}),
        "{got}"
    );

    // The edit: a later CA warning, no end-entity setting of the plan's own; of the
    // certificate, the subject's CN and OU and the SAN's DNS names mapped, the issuer not.
    let edited = src
        .replace(
            "        ca_certificate_expiry: {enabled: true, threshold_days: 90}\n        end_entity_certificate_expiry: {enabled: true, threshold_days: 14}\n",
            "        ca_certificate_expiry: {enabled: true, threshold_days: 120}\n",
        )
        .replace(
            "      duration_seconds: 3600\n",
            "      duration_seconds: 3600\n      attribute_mappings:\n        x509Subject: [CN, OU]\n        x509SAN: [DNS]\n",
        );
    assert_ne!(edited, src);
    run.edited(
        &plan,
        &edited,
        &[
            "~ rolesanywhere.trust_anchor trust_anchor",
            "~ rolesanywhere.profile ra_profile",
        ],
        &["-/+"],
    );
    run.ok(&["apply", "--yes"], &plan);
    let got = ra_settings(&tb, &run);
    let now = events(&got["anchors"][&anchor]);
    assert_eq!(
        now[0],
        ("CA_CERTIFICATE_EXPIRY".into(), true, Some(120), account)
    );
    assert_eq!(
        now[1].3, "rolesanywhere.amazonaws.com",
        "reset to the default: {got}"
    );
    assert_eq!(
        got["profiles"][&profile],
        serde_json::json!({"x509Subject": ["CN", "OU"], "x509SAN": ["DNS"]}),
        "{got}"
    );
    run.converged_then_destroyed(&plan);
}

/// A role made before the plan's IAM path (at `/`, where an xpart before it made them) is
/// replaced into the path by the next apply, which the plan says (`path` forces replacement);
/// a plan that declares `path: /` keeps it where it is, with nothing to do.
#[test]
fn a_role_outside_the_plans_path_is_replaced_into_it_unless_the_plan_keeps_it() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let dir = run.state.join("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("legacy.yaml");
    let write = |path: &str| {
        let text = format!(
            "version: 1\nname: legacy-${{var.suffix}}\nvars:\n  suffix: {{default: x}}\npartitions:\n  china: {{region: cn-north-1, profile: xpart-china}}\nresources:\n  role:\n    type: iam.role\n    partition: china\n    properties:\n      name: xpart-legacy-${{var.suffix}}\n{path}      trust: {{service: ec2}}\n"
        );
        std::fs::write(&plan, text).unwrap();
    };
    write("      path: /\n");
    run.ok(&["apply", "--yes"], &plan);
    run.no_changes(&plan, "kept where it is");

    write("");
    let (_, out) = run.changes(&plan);
    let path = format!("/xpart/legacy-{}/", run.suffix);
    assert!(
        out.contains("-/+ iam.role role") && out.contains(&path),
        "replaced into {path}:\n{out}"
    );
    run.ok(&["apply", "--yes"], &plan);
    let arn = china_role_arn(tb, &format!("xpart-legacy-{}", run.suffix));
    assert!(arn.contains(&format!(":role{path}")), "{arn}");
    run.no_changes(&plan, "converged");

    run.ok(&["destroy", "--yes"], &plan);
}
