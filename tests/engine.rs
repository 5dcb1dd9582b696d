//! `xpart plan`, `apply` and `destroy` end to end on the test-bed, checked with an independent
//! client (boto3) and against each other.

use crate::harness::sent;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::harness::{
    self, assert_exactly_once, assert_nothing_left, assert_shows, plan_file, plan_resources,
    side_of, text, Run, Side,
};

/// The whole life of one plan: plan shows changes, apply, plan shows none, boto3 sees every
/// resource with the right ARN partition and tags, destroy, a second destroy has nothing to do.
fn lifecycle(name: &str) {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file(name);

    let o = run.run(&["plan", "--detailed-exitcode"], &plan);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    run.ok(&["apply", "--yes"], &plan);
    run.no_changes(&plan, "a second plan must show no changes");

    let mut seen = vec![];
    for side in [Side::Commercial, Side::China] {
        for r in run.inventory(side, &plan) {
            let arn = r["arn"].as_str().unwrap();
            assert!(
                arn.starts_with(&format!("arn:{}:", side.partition())),
                "{arn} is in the wrong partition for {side:?}"
            );
            seen.push((
                r["id"].as_str().unwrap().to_string(),
                r["type"].as_str().unwrap().to_string(),
                side,
            ));
        }
    }
    for (id, ty, partition) in plan_resources(&plan) {
        let Some(p) = partition else { continue };
        let n = seen
            .iter()
            .filter(|(i, t, s)| *i == id && *t == ty && *s == side_of(&p))
            .count();
        assert_eq!(
            n, 1,
            "{id} ({ty}) should exist exactly once in {p}; boto3 saw {seen:?}"
        );
    }

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    for side in [Side::Commercial, Side::China] {
        let left = run.inventory(side, &plan);
        assert!(left.is_empty(), "destroy left {left:?}");
    }
    let o = run.run(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a second destroy has nothing to do:\n{}",
        text(&o)
    );
}

#[test]
fn engine_lifecycle_china_to_commercial() {
    lifecycle("china-to-commercial.yaml");
}

#[test]
fn engine_lifecycle_commercial_to_china() {
    lifecycle("commercial-to-china.yaml");
}

/// One changed property shows as exactly one `~` and apply converges.
#[test]
fn engine_one_changed_property_is_one_update() {
    let (run, plan) = harness::applied("china-to-commercial.yaml");

    let changed = run.state.join("changed.yaml");
    let src = std::fs::read_to_string(&plan).unwrap();
    let edited = src.replace("duration_seconds: 3600", "duration_seconds: 7200");
    assert_ne!(src, edited);
    std::fs::write(&changed, edited).unwrap();
    // Relative paths in the plan resolve against its directory: keep the copy's PKI with the run.
    let (_, out) = run.changes(&changed);
    let updates: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("~ rolesanywhere") || l.trim_start().starts_with("~ ")
        })
        .collect();
    assert!(out.contains("1 to change"), "{out}");
    assert!(out.contains("duration_seconds"), "{out}");
    assert!(
        !out.contains("to add, 1") || out.matches(" to change").count() >= 1,
        "{out}"
    );
    assert!(!updates.is_empty(), "{out}");
    run.ok(&["apply", "--yes"], &changed);
    run.ok(&["plan", "--detailed-exitcode"], &changed);

    // One action added to the live role's policy: one `+` line inside the folded document,
    // and the same change as data in `--format json` (valid against `xpart schema --output`).
    let src = std::fs::read_to_string(&changed).unwrap();
    let edited = src.replace(
        "actions: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]",
        "actions: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret, secretsmanager:ListSecretVersionIds]",
    );
    assert_ne!(src, edited);
    std::fs::write(&changed, edited).unwrap();
    let (_, out) = run.changes(&changed);
    let plus: Vec<&str> = out
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('+'))
        .collect();
    assert_eq!(plus, ["+ \"secretsmanager:ListSecretVersionIds\""], "{out}");
    let o = run.run(&["plan", "--format", "json"], &changed);
    let doc: Json = serde_json::from_slice(&o.stdout).unwrap();
    let diffs: Vec<Json> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["attrs"].as_array().cloned().unwrap_or_default())
        .flat_map(|a| a["diff"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(diffs.len(), 1, "{doc}");
    assert_eq!(diffs[0]["op"], "add");
    assert_eq!(diffs[0]["after"], "secretsmanager:ListSecretVersionIds");
    run.ok(&["apply", "--yes"], &changed);
    run.converged_then_destroyed(&changed);
}

/// A same-named role made outside xpart stops apply with a clear error before anything is
/// written, and destroy leaves it alone.
#[test]
fn engine_refuses_a_same_named_role_it_does_not_own() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let role = format!("xpart-secret-reader-{}", run.suffix);
    let rt = harness::rt();
    rt.block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::Commercial).await);
        sent!(iam.create_role()
            .role_name(&role)
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#));
    });
    let o = run.run(&["apply", "--yes"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("reader_role") && err.contains("ownership tags"),
        "{}",
        text(&o)
    );
    assert!(err.contains("--adopt"), "{}", text(&o));
    for side in [Side::Commercial, Side::China] {
        assert!(
            run.inventory(side, &plan).is_empty(),
            "apply refused, so nothing may have been created"
        );
    }
    let o = run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("left alone"),
        "{}",
        text(&o)
    );
    rt.block_on(async {
        let iam = aws_sdk_iam::Client::new(&tb.sdk(Side::Commercial).await);
        let r = iam
            .get_role()
            .role_name(&role)
            .send()
            .await
            .expect("the role is untouched");
        assert!(r.role().unwrap().tags().is_empty());
        sent!(iam.delete_role().role_name(&role));
    });
}

/// `plan --format json` validates against `xpart schema --output`, and markdown has the
/// pull-request pieces.
#[test]
fn engine_plan_renderings() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("commercial-to-china.yaml");
    let o = run.ok(&["plan", "--format", "json"], &plan);
    let doc: Json = serde_json::from_slice(&o.stdout).unwrap();
    let schema_out = harness::xpart()
        .args(["schema", "--output"])
        .output()
        .unwrap();
    let (doc_file, schema_file) = (run.state.join("plan.json"), run.state.join("schema.json"));
    std::fs::write(&doc_file, &o.stdout).unwrap();
    std::fs::write(&schema_file, &schema_out.stdout).unwrap();
    // An independent validator: Python's jsonschema (pinned in the test-bed's requirements).
    let v = std::process::Command::new(tb.python())
        .args(["-c", "import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"])
        .arg(&doc_file)
        .arg(&schema_file)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "the JSON plan does not validate: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "create"),
        "{doc}"
    );

    let o = run.run(&["plan", "--format", "markdown"], &plan);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.contains("| partition | add | change | destroy |") && md.contains("<details>"),
        "{md}"
    );
    // Secrets never show.
    let o = run.run(&["plan"], &plan);
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("(sensitive)"), "{t}");
}

/// `--offline --against` needs no credentials at all.
#[test]
fn engine_offline_plan_needs_no_credentials() {
    let dir = harness::tempdir("offline");
    let old = plan_file("china-to-commercial.yaml");
    let new = dir.join("new.yaml");
    std::fs::write(
        &new,
        std::fs::read_to_string(&old)
            .unwrap()
            .replace("port: 22", "port: 2222"),
    )
    .unwrap();
    let o = harness::xpart()
        .args(["plan", "--offline", "--against"])
        .arg(&old)
        .arg(&new)
        .arg("--detailed-exitcode")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("~ ec2.security_group ssh") || out.contains("ssh"),
        "{out}"
    );
    assert!(out.contains("0 to add, 1 to change, 0 to destroy"), "{out}");
}

/// A resource of the china partition that nothing else in the plan uses.
const EXTRA_GROUP: &str = "
  extra:
    type: ec2.security_group
    partition: china
    properties:
      name: xpart-extra-${var.suffix}
      vpc: ${vpc.id}
      description: Nothing uses this group.
";

/// One more of every AWS type, none of which the plan's own resources use.
const EXTRA_EVERY_TYPE: &str = "
  extra_vpc:
    type: ec2.vpc
    partition: china
    properties: {name: 'xpart-extra-${var.suffix}', cidr: 10.43.0.0/16}
  extra_subnet:
    type: ec2.subnet
    partition: china
    properties: {name: 'xpart-extra-${var.suffix}', vpc: '${extra_vpc.id}', cidr: 10.43.1.0/24}
  extra_igw:
    type: ec2.internet_gateway
    partition: china
    properties: {name: 'xpart-extra-${var.suffix}', vpc: '${extra_vpc.id}'}
  extra_routes:
    type: ec2.route_table
    partition: china
    properties:
      name: xpart-extra-${var.suffix}
      vpc: ${extra_vpc.id}
      routes: [{destination: 0.0.0.0/0, gateway: '${extra_igw.id}'}]
      subnets: ['${extra_subnet.id}']
  extra_group:
    type: ec2.security_group
    partition: china
    properties: {name: 'xpart-extra-${var.suffix}', vpc: '${extra_vpc.id}'}
  extra_role:
    type: iam.role
    partition: china
    properties:
      name: xpart-extra-${var.suffix}
      trust: {service: ec2}
      policies:
        list: {statements: [{actions: ['ec2:DescribeInstances'], resources: ['*']}]}
  extra_instance_profile:
    type: iam.instance_profile
    partition: china
    properties: {name: 'xpart-extra-${var.suffix}', role: '${extra_role.name}'}
  extra_instance:
    type: ec2.instance
    partition: china
    properties:
      name: xpart-extra-${var.suffix}
      ami: ${var.ami}
      instance_type: t3.micro
      subnet: ${extra_subnet.id}
      security_groups: ['${extra_group.id}']
      instance_profile: ${extra_instance_profile.name}
  extra_key:
    type: kms.key
    partition: china
    properties: {alias: 'alias/xpart-extra-${var.suffix}', deletion_window_days: 10}
  extra_secret:
    type: secretsmanager.secret
    partition: china
    properties:
      name: xpart/extra-${var.suffix}
      value: {generate: {length: 16}}
      kms_key: ${extra_key.arn}
  extra_anchor:
    type: rolesanywhere.trust_anchor
    partition: commercial
    properties: {name: 'xpart-extra-${var.suffix}', ca: '${root_ca.id}'}
  extra_profile:
    type: rolesanywhere.profile
    partition: commercial
    properties: {name: 'xpart-extra-${var.suffix}', roles: ['${reader_role.arn}']}
";

/// Copies of the china-to-commercial plan in the run's state dir: with `extra` resources
/// appended (`resources` is the file's last section), and without them. Same plan name, and
/// the same file name, which `Run::inventory` takes the name from.
fn plan_with_and_without(run: &Run, extra: &str) -> (PathBuf, PathBuf) {
    let src = std::fs::read_to_string(plan_file("china-to-commercial.yaml")).unwrap();
    let (with, without) = (run.state.join("with"), run.state.join("without"));
    for dir in [&with, &without] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let (with, without) = (
        with.join("china-to-commercial.yaml"),
        without.join("china-to-commercial.yaml"),
    );
    std::fs::write(&with, format!("{}\n{extra}", src.trim_end())).unwrap();
    std::fs::write(&without, &src).unwrap();
    (with, without)
}

/// The (id, type) pairs boto3 finds tagged with the plan in one partition.
fn owned_ids(run: &Run, side: Side, plan: &Path) -> Vec<(String, String)> {
    run.inventory(side, plan)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("?").to_string(),
                r["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A resource removed from the plan is destroyed by the next apply: plan shows it as `-`,
/// apply deletes it, and a plan after that has nothing to do.
#[test]
fn engine_apply_destroys_what_the_plan_no_longer_has() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let (with, without) = plan_with_and_without(&run, EXTRA_GROUP);
    let extra = ("extra".to_string(), "ec2.security_group".to_string());

    run.ok(&["apply", "--yes"], &with);
    assert!(
        owned_ids(&run, Side::China, &with).contains(&extra),
        "apply made no `extra`"
    );

    let (_, out) = run.changes(&without);
    assert_shows(
        &out,
        &[
            "- ec2.security_group extra",
            "Plan for china (aws-cn, cn-north-1): 0 to add, 0 to change, 1 to destroy.",
            "Plan for commercial (aws, us-west-2): 0 to add, 0 to change, 0 to destroy.",
        ],
    );

    run.ok(&["apply", "--yes"], &without);
    assert!(
        !owned_ids(&run, Side::China, &with).contains(&extra),
        "apply left `extra`"
    );
    run.no_changes(&without, "nothing is left to do");

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &without);
    assert_nothing_left(&run, &without);
}

/// Destroy with a plan that no longer has some resources still deletes them: they carry the
/// plan's tags. One of every AWS type, so each type's listing of owned resources is used.
#[test]
fn engine_destroy_deletes_what_the_plan_no_longer_has() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let (with, without) = plan_with_and_without(&run, EXTRA_EVERY_TYPE);
    let extras = plan_resources(&with)
        .into_iter()
        .filter(|(id, _, _)| id.starts_with("extra_"))
        .collect::<Vec<_>>();
    assert_eq!(extras.len(), 12);

    run.ok(&["apply", "--yes"], &with);
    assert_exactly_once(&run, &with);

    let o = run.ok(&["destroy", "--yes", "--force-delete-secrets"], &without);
    let out = String::from_utf8_lossy(&o.stdout);
    for (id, ty, _) in &extras {
        assert!(
            out.contains(&format!("- {ty} {id}")),
            "destroy does not list {id}:\n{}",
            text(&o)
        );
    }
    assert_nothing_left(&run, &without);
    // The key's alias went with it.
    let alias = format!("alias/xpart-extra-{}", run.suffix);
    let aliases = harness::rt().block_on(async {
        let kms = aws_sdk_kms::Client::new(&tb.sdk(Side::China).await);
        sent!(kms.list_aliases().limit(1000)).aliases().to_vec()
    });
    assert!(
        aliases
            .iter()
            .all(|a| a.alias_name() != Some(alias.as_str())),
        "{alias} is left"
    );
    let o = run.run(&["destroy", "--yes", "--force-delete-secrets"], &without);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a second destroy has nothing to do:\n{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to destroy"),
        "{}",
        text(&o)
    );
}

/// `plan --offline --against` of two plan files, in `format`: exit code and output.
fn offline_plan(old: &Path, new: &Path, format: &str) -> (Option<i32>, String) {
    let o = harness::xpart()
        .args([
            "plan",
            "--offline",
            "--detailed-exitcode",
            "--format",
            format,
            "--against",
        ])
        .arg(old)
        .arg(new)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).to_string(),
    )
}

/// The reviewer's diff of a policy change: one action added to the reader role's policy is
/// exactly one `+` line, inside the folded document, in text and in Markdown (snapshots pin
/// both); the same policy with its actions and statements reordered shows no change.
#[test]
fn a_policy_change_is_one_line_per_action_and_a_reordering_none() {
    let dir = harness::tempdir("docdiff");
    let old = dir.join("old.yaml");
    let text = std::fs::read_to_string(plan_file("china-to-commercial.yaml")).unwrap();
    std::fs::write(&old, &text).unwrap();
    let actions = "actions: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]";
    assert!(text.contains(actions));
    let added = dir.join("added.yaml");
    std::fs::write(
        &added,
        text.replace(
            actions,
            "actions: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret, secretsmanager:ListSecretVersionIds]",
        ),
    )
    .unwrap();
    for format in ["text", "markdown"] {
        let (code, out) = offline_plan(&old, &added, format);
        assert_eq!(code, Some(2), "{out}");
        let plus: Vec<&str> = out
            .lines()
            .filter(|l| l.trim_start().starts_with('+'))
            .collect();
        assert_eq!(plus.len(), 1, "{out}");
        assert!(
            plus[0].ends_with("+ \"secretsmanager:ListSecretVersionIds\""),
            "{out}"
        );
        assert!(out.contains("# (2 unchanged elements hidden)"), "{out}");
        insta::assert_snapshot!(format!("policy_action_added_{format}"), out);
    }
    // Reordered: the actions, and the role's policies as a second statement before the first.
    let reordered = dir.join("reordered.yaml");
    let two = "            - actions: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]\n              resources: [\"${app_secret.arn}\"]\n";
    assert!(text.contains(two));
    let extra = "            - actions: [kms:Decrypt]\n              resources: [\"*\"]\n";
    std::fs::write(&old, text.replace(two, &format!("{two}{extra}"))).unwrap();
    std::fs::write(
        &reordered,
        text.replace(
            two,
            &format!(
                "{extra}{}",
                two.replace(
                    "[secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]",
                    "[secretsmanager:DescribeSecret, secretsmanager:GetSecretValue]"
                )
            ),
        ),
    )
    .unwrap();
    let (code, out) = offline_plan(&old, &reordered, "text");
    assert_eq!(code, Some(0), "{out}");
    insta::assert_snapshot!("policy_reordered_text", out);
}

/// The fleet (`plans/fleet.yaml`): twenty instances of one block apply as resources of their own
/// (ids ENTRY.KEY.ID, in their `xpart:id` tags, as boto3 reads them) beside the three shared
/// ones, a plan after is a no-op, and destroy leaves nothing.
#[test]
fn the_fleet_applies_plans_nothing_after_and_destroys() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("fleet.yaml");
    // Profiles of others made a moment ago, too new for the tag index to be sure of: each of
    // the fleet's twenty profile reads has its exact search ask them for their tags, at Roles
    // Anywhere's one tagging request a second. Asked once for all twenty, that is seconds;
    // asked by each, minutes, and the anchor's own search, queued behind them, timed out.
    let foreign: Vec<String> = harness::rt().block_on(async {
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(Side::Commercial).await);
        let mut arns = vec![];
        for i in 0..6 {
            let made = sent!(ra
                .create_profile()
                .name(format!("foreign-{}-{i}", run.suffix))
                .role_arns(format!(
                    "arn:aws:iam::{}:role/foreign",
                    tb.account(Side::Commercial)
                )));
            arns.push(made.profile().unwrap().profile_id().unwrap().to_string());
        }
        arns
    });
    run.ok(&["apply", "--yes"], &plan);
    let ids = |side: Side| -> std::collections::BTreeSet<String> {
        run.inventory(side, &plan)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (commercial, china) = (ids(Side::Commercial), ids(Side::China));
    for key in ["orders", "audit"] {
        for id in ["app_secret", "role", "profile"] {
            let id = format!("workloads.{key}.{id}");
            assert!(commercial.contains(&id), "{id}: {commercial:?}");
        }
        let id = format!("workloads.{key}.client_cert");
        assert!(china.contains(&id), "{id}: {china:?}");
    }
    let instances = |ids: &std::collections::BTreeSet<String>| {
        ids.iter().filter(|i| i.starts_with("workloads.")).count()
    };
    assert_eq!(instances(&commercial), 60, "{commercial:?}");
    assert_eq!(instances(&china), 20, "{china:?}");
    for id in ["ca_key", "trust_anchor"] {
        assert!(commercial.contains(id), "{id}: {commercial:?}");
    }

    run.no_changes(&plan, "a no-op after apply");

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    for side in [Side::Commercial, Side::China] {
        let left = run.inventory(side, &plan);
        assert!(left.is_empty(), "left behind in {side:?}: {left:?}");
    }
    harness::rt().block_on(async {
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(Side::Commercial).await);
        for id in foreign {
            let left = ra.get_profile().profile_id(&id).send().await;
            assert!(left.is_ok(), "another's profile is left alone: {left:?}");
            sent!(ra.delete_profile().profile_id(&id));
        }
    });
}
