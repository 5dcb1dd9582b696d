//! `xpart lint`: the corpus of invalid plans (each pins its rule and location), the ready plans,
//! rendered messages, and the command's exit codes.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use xpart::diag::Finding;
use xpart::lint::lint_text;
use xpart::plan::LoadOptions;

fn corpus() -> Vec<PathBuf> {
    plans_in("tests/lint")
}

/// The plans (`*.yaml` but `ok*`) in `dir` under the repository, sorted.
fn plans_in(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !p.file_name().unwrap().to_string_lossy().starts_with("ok")
        })
        .collect();
    files.sort();
    files
}

fn lint_file(path: &Path) -> (String, Vec<Finding>) {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let findings = lint_text(
        &name,
        &text,
        &LoadOptions::default(),
        path.parent().unwrap(),
    );
    (text, findings)
}

/// `# expect: CODE @ "needle"`: the finding's line and column are where the needle first
/// appears outside the header comments; without a needle only the code is checked.
fn expectations(text: &str) -> Vec<(String, Option<(usize, usize)>)> {
    let header_len: usize = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.len() + 1)
        .sum();
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let (code, needle) = match e.split_once(" @ ") {
                Some((c, n)) => (c, Some(serde_json::from_str::<String>(n).unwrap())),
                None => (e, None),
            };
            let pos = needle.map(|n| {
                let off = header_len
                    + text[header_len..]
                        .find(&n)
                        .unwrap_or_else(|| panic!("needle {n:?} not in plan"));
                let line = text[..off].matches('\n').count() + 1;
                let col = text[..off].rsplit('\n').next().unwrap().chars().count() + 1;
                (line, col)
            });
            (code.trim().to_string(), pos)
        })
        .collect()
}

#[test]
fn corpus_has_enough_plans() {
    assert!(corpus().len() >= 30, "{} plans", corpus().len());
}

#[test]
fn every_invalid_plan_is_caught_at_its_place() {
    let mut failures = vec![];
    for path in corpus() {
        let (text, findings) = lint_file(&path);
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            path.display()
        );
        for (code, pos) in &expected {
            let hit = findings.iter().any(|f| {
                f.code == code && pos.is_none_or(|(l, c)| f.span.line == l && f.span.column == c)
            });
            if !hit {
                failures.push(format!(
                    "{}: expected {code} at {pos:?}, got {findings:#?}",
                    path.display()
                ));
            }
        }
        // Nothing else is an error: each plan breaks one rule, so no rule fires by accident.
        for f in findings.iter().filter(|f| f.is_error()) {
            if !expected.iter().any(|(c, _)| c == f.code) {
                failures.push(format!(
                    "{}: unexpected {} {}",
                    path.display(),
                    f.code,
                    f.message
                ));
            }
        }
        assert!(
            findings.iter().all(|f| f.hint.is_some()),
            "{}: a finding without a hint",
            path.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The bad-input campaign's plans (`tests/lint/campaign/`, each the campaign's base plan with
/// one fault): lint refuses each in process, no test-bed needed. Their head comments say what
/// the message holds (`# expect:`, one or more) and where it points (`# where: LINE:COL`).
/// Every command lints first, so none of them reaches AWS:
/// `bad_input::a_plan_with_lint_errors_makes_no_aws_request`.
#[test]
fn every_campaign_plan_is_refused_by_lint_where_it_says() {
    let files = plans_in("tests/lint/campaign");
    assert!(files.len() >= 60, "the campaign has {} plans", files.len());
    let mut failures = vec![];
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.display().to_string();
        let findings = lint_text(
            &shown,
            &text,
            &LoadOptions::default(),
            path.parent().unwrap(),
        );
        let rendered = xpart::diag::render_plain(&shown, &text, &findings);
        let head: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        let field = |k: &str| -> Vec<String> {
            let k = format!("# {k}: ");
            head.iter()
                .filter_map(|l| l.strip_prefix(k.as_str()))
                .map(|v| v.trim().to_string())
                .collect()
        };
        let mut expect = field("expect");
        if expect.is_empty() {
            failures.push(format!("{shown} has no `# expect:` line"));
        }
        expect.extend(field("where").iter().map(|w| format!("{shown}:{w}")));
        for e in expect.iter().filter(|e| !rendered.contains(e.as_str())) {
            failures.push(format!("{shown}: lint does not say {e:?}:\n{rendered}"));
        }
        if !findings.iter().any(|f| f.is_error()) {
            failures.push(format!("{shown}: no error"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_base_and_ready_plans_are_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in [
        "tests/lint/ok.yaml",
        "tests/lint/ok-blocks.yaml",
        "tests/lint/ok-block-file.yaml",
        "plans/china-to-commercial.yaml",
        "plans/commercial-to-china.yaml",
        "plans/fleet.yaml",
    ] {
        let (_, findings) = lint_file(&root.join(p));
        assert!(findings.is_empty(), "{p}: {findings:#?}");
    }
}

fn xpart() -> Command {
    let mut c = crate::harness::xpart();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    Command::from_std(c)
}

#[test]
fn rendered_findings_are_pinned() {
    // One snapshot per kind of rendering: a syntax error, a cross-partition ARN, several
    // findings of one file shown together, findings in a block (one per instance, one for
    // all instances, one naming two), and a warning.
    for name in [
        "001-yaml-syntax.yaml",
        "020-cross-partition-arn.yaml",
        "025-kms-lockout.yaml",
        "013-broken-reference.yaml",
        "060-block-error-inside.yaml",
        "062-block-outer-reference.yaml",
        "063-block-duplicate-name.yaml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/lint")
            .join(name);
        let (text, findings) = lint_file(&path);
        let rendered = xpart::diag::render_plain(name, &text, &findings);
        insta::assert_snapshot!(name.trim_end_matches(".yaml"), rendered);
    }
    let text = "version: 1\nname: w\npartitions:\n  c: {region: us-west-2}\nresources:\n  r:\n    type: iam.role\n    partition: c\n    properties:\n      name: r\n      trust:\n        document:\n          Version: \"2012-10-17\"\n          Statement:\n            - Effect: Allow\n              Principal: {Service: rolesanywhere.amazonaws.com}\n              Action: [sts:AssumeRole, sts:TagSession]\n";
    let findings = lint_text("warn.yaml", text, &LoadOptions::default(), Path::new("."));
    assert!(findings.iter().all(|f| !f.is_error()));
    insta::assert_snapshot!(
        "warning",
        xpart::diag::render_plain("warn.yaml", text, &findings)
    );
}

#[test]
fn a_literal_secret_is_located_but_never_printed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/036-literal-secret.yaml");
    for format in ["text", "json"] {
        let out = xpart()
            .args(["lint", "--format", format, path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("XP057"), "{all}");
        assert!(
            !all.contains("hunter2"),
            "the secret reached the output: {all}"
        );
    }
}

#[test]
fn lint_of_the_ready_plans_exits_zero() {
    let out = xpart()
        .args([
            "lint",
            "plans/china-to-commercial.yaml",
            "plans/commercial-to-china.yaml",
            "plans/fleet.yaml",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("plans/fleet.yaml: 0 errors, 0 warnings"),
        "{stdout}"
    );
    assert!(
        stdout.contains("plans/china-to-commercial.yaml: 0 errors, 0 warnings"),
        "{stdout}"
    );
    assert!(
        stdout.contains("plans/commercial-to-china.yaml: 0 errors, 0 warnings"),
        "{stdout}"
    );
}

/// Copy the seed plan with one edit, lint it, and return (exit code, stdout, the copy's path).
fn lint_edited(old: &str, new: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("xpart-lint-{}-{}", std::process::id(), new.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/china-to-commercial.yaml"),
    )
    .unwrap();
    assert!(text.contains(old), "{old}");
    let path = dir.join("edited.yaml");
    std::fs::write(&path, text.replacen(old, new, 1)).unwrap();
    let out = xpart()
        .args(["lint", path.to_str().unwrap()])
        // No credentials and every endpoint unreachable: lint must not care.
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        path.display().to_string(),
    )
}

#[test]
fn acceptance_edits_of_the_seed_plan_fail_with_file_line_and_rule() {
    let cases = [
        // a literal commercial ARN in a China resource
        (r#"users: ["${instance_role.arn}"]"#, r#"users: ["arn:aws:iam::123456789012:role/x"]"#, "XP020"),
        // a broken reference
        ("role: ${instance_role.name}", "role: ${instance_rol.name}", "XP011"),
        // an unknown field
        ("      map_public_ip_on_launch: true\n", "      map_public_ip_on_launch: true\n      colour: blue\n", "XP003"),
        // a cycle: the instance role now needs the instance, which needs the role's profile
        ("      trust: {service: ec2}\n", "      trust: {service: ec2}\n      description: \"for ${workload.id}\"\n", "XP013"),
        // a KMS key policy without the account principal
        (
            "      users: [\"${instance_role.arn}\"]\n",
            "      policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - {Effect: Allow, Principal: {AWS: \"${instance_role.arn}\"}, Action: \"kms:*\", Resource: \"*\"}\n",
            "XP040",
        ),
    ];
    for (old, new, code) in cases {
        let (status, stdout, path) = lint_edited(old, new);
        assert_eq!(status, 1, "{code}: {stdout}");
        assert!(
            stdout.contains(&format!("error[{code}]")),
            "{code}: {stdout}"
        );
        let located = stdout.lines().any(|l| {
            l.contains(&format!("{path}:"))
                && l.split(':')
                    .nth(1)
                    .is_some_and(|n| n.parse::<usize>().is_ok())
        });
        assert!(located, "{code}: no file:line:col in {stdout}");
    }
}

#[test]
fn json_output_is_machine_readable() {
    let out = xpart()
        .args([
            "lint",
            "--format",
            "json",
            "tests/lint/020-cross-partition-arn.yaml",
            "plans/china-to-commercial.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["errors"], 1);
    let f = &v["files"][0]["findings"][0];
    assert_eq!(f["code"], "XP020");
    assert_eq!(f["severity"], "error");
    assert!(
        f["line"].as_u64().unwrap() > 1 && f["column"].as_u64().unwrap() > 1,
        "{f}"
    );
    assert!(f["hint"].as_str().is_some());
    assert_eq!(v["files"][1]["errors"], 0);
}

#[test]
fn a_finding_in_a_block_names_its_instance() {
    let out = xpart()
        .args([
            "lint",
            "--format",
            "json",
            "tests/lint/060-block-error-inside.yaml",
            "tests/lint/062-block-outer-reference.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // One finding per instance where the instance changes it (the rendered name)...
    let per: Vec<_> = v["files"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let e = &f["expanded_for"];
            (
                f["line"].as_u64().unwrap(),
                e["instance"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
                e["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per,
        [
            (18, "readers.billing".to_string(), 41, 28),
            (18, "readers.orders".to_string(), 41, 16)
        ]
    );
    // ...and one for all where they would be alike, counting the others.
    let f = &v["files"][1]["findings"][0];
    assert_eq!(f["code"], "XP018");
    assert_eq!(f["line"], 24);
    assert_eq!(f["expanded_for"]["instance"], "readers.billing");
    assert_eq!(f["expanded_for"]["others"], 1);
    assert_eq!(v["files"][1]["errors"], 1);
}

#[test]
fn a_block_in_its_own_file_is_found_there_and_kept_inside_the_plan_directory() {
    let lint = tests_lint();
    let dir = std::env::temp_dir().join(format!("xpart-block-file-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("blocks")).unwrap();
    let block = std::fs::read_to_string(lint.join("blocks/reader.yaml")).unwrap();
    let edited = block.replace("name: reader-${each.key}", "name: \"reader ${each.key}\"");
    assert_ne!(block, edited);
    std::fs::write(dir.join("blocks/reader.yaml"), edited).unwrap();
    let plan = std::fs::read_to_string(lint.join("ok-block-file.yaml")).unwrap();
    std::fs::write(dir.join("plan.yaml"), &plan).unwrap();
    let out = xpart()
        .current_dir(&dir)
        .args(["lint", "plan.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The finding is in the block's file, shown from its text, and names the instance.
    assert!(stdout.contains("┌─ blocks/reader.yaml:9:13"), "{stdout}");
    assert!(
        stdout.contains(r#"9 │       name: "reader ${each.key}""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: in instance readers.orders (plan.yaml:20:16)"),
        "{stdout}"
    );
    // A block file outside the plan's directory is refused, by path and through a link.
    std::fs::write(
        dir.join("up.yaml"),
        plan.replace("blocks/reader.yaml", "../reader.yaml"),
    )
    .unwrap();
    let outside = std::env::temp_dir().join(format!("xpart-block-out-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("reader.yaml"), &block).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("out")).unwrap();
    std::fs::write(
        dir.join("link.yaml"),
        plan.replace("blocks/reader.yaml", "out/reader.yaml"),
    )
    .unwrap();
    for p in ["up.yaml", "link.yaml"] {
        let out = xpart()
            .current_dir(&dir)
            .args(["lint", p])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{p}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("error[XP018]") && stdout.contains("is outside the plan's directory"),
            "{p}: {stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

fn tests_lint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint")
}

#[test]
fn unreadable_plan_is_a_clear_error() {
    let out = xpart()
        .args(["lint", "plans/no-such-plan.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plans/no-such-plan.yaml"), "{stderr}");
}

#[test]
fn variables_come_from_flags_and_environment() {
    // An invalid CIDR through --var is caught like a literal one; XPART_VAR_ works the same.
    let out = xpart()
        .args([
            "lint",
            "plans/china-to-commercial.yaml",
            "--var",
            "admin_cidr=10.0.0.0/40",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("XP061"));
    let out = xpart()
        .args(["lint", "plans/china-to-commercial.yaml"])
        .env("XPART_VAR_admin_cidr", "nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = xpart()
        .args([
            "lint",
            "plans/china-to-commercial.yaml",
            "--var",
            "nosuch=1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("XP010"));
}

#[test]
fn committed_schema_matches_the_code() {
    let out = xpart().arg("schema").assert().success();
    let generated: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/plan.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        generated, committed,
        "run `xpart schema > docs/plan.schema.json`"
    );
    let types: Vec<_> = generated["$defs"]["Resource"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| Some(v["properties"]["type"]["const"].as_str()?.to_string()))
        .collect();
    // One schema entry per type of the catalogue; a plan's entry is a resource or a block's
    // instantiation, a block's entry a resource.
    assert_eq!(
        types.len(),
        xpart::plan::types::types().count(),
        "{types:?}"
    );
    let entries = &generated["properties"]["resources"]["additionalProperties"]["oneOf"];
    assert_eq!(
        entries,
        &serde_json::json!([{"$ref": "#/$defs/Resource"}, {"$ref": "#/$defs/BlockUse"}])
    );
    assert_eq!(
        generated["$defs"]["BlockSpec"]["properties"]["resources"]["additionalProperties"],
        serde_json::json!({"$ref": "#/$defs/Resource"})
    );
}
