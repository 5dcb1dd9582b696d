//! A plan touches only what is its own: plan identity, literal variables, names checked after
//! rendering, paths confined to the state directory, the right credentials, a lock that is not
//! broken under a live run, and a partition that stalls is never silent. Each test is one of
//! the findings of issue #10, as it was found.

use crate::harness::sent;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;

use crate::harness::{
    self, assert_exactly_once, assert_nothing_left, lineage_of, plan_file, text, Run, Side, Testbed,
};

/// `tests/clients/inventory.py` in one partition with `args`: its JSON.
fn inventory(tb: &Testbed, side: Side, args: &[&str]) -> Json {
    let mut c = Command::new(tb.python());
    c.arg(harness::repo().join("tests/clients/inventory.py"))
        .args(["--endpoint", tb.endpoint(side), "--region", tb.region(side)])
        .args(args);
    let out = harness::output_within(&mut c, Duration::from_secs(60)).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What boto3 finds in one partition tagged `xpart:plan` = `name` with `lineage`.
fn owned(tb: &Testbed, side: Side, name: &str, lineage: &str) -> Vec<Json> {
    let v = inventory(tb, side, &["--plan", name, "--lineage", lineage]);
    v["owned"].as_array().cloned().unwrap_or_default()
}

/// Everything named after `needle` in one partition, tagged or not.
fn named(tb: &Testbed, side: Side, needle: &str) -> Vec<Json> {
    let v = inventory(tb, side, &["--plan", "-", "--name", needle]);
    v["named"].as_array().cloned().unwrap_or_default()
}

/// A one-VPC plan in china named `name` (a template), declaring both partitions.
fn vpc_plan(dir: &Path, file: &str, name: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(
        &p,
        format!(
            "version: 1\nname: {name}\nvars:\n  suffix: {{}}\npartitions:\n  commercial: {{region: us-west-2, profile: xpart-commercial}}\n  china: {{region: cn-north-1, profile: xpart-china}}\nresources:\n  vpc:\n    type: ec2.vpc\n    partition: china\n    properties: {{name: 'other-${{var.suffix}}', cidr: 10.77.0.0/16}}\n"
        ),
    )
    .unwrap();
    p
}

/// Finding 1: plan A is the seed plan applied with `suffix=S`; plan B is a one-VPC plan named
/// `china-${var.suffix}` run with `suffix=to-commercial-S`. Both render `china-to-commercial-S`.
/// B's plan shows only its own VPC, and B's destroy leaves every one of A's resources standing
/// (boto3's count), while deleting B's own VPC.
#[test]
fn safety_two_plans_whose_names_render_alike_never_touch_each_other() {
    let (run, a) = harness::applied("china-to-commercial.yaml");
    let tb = run.tb;

    let b = vpc_plan(&run.state, "b.yaml", "china-${var.suffix}");
    let b_s = b.to_str().unwrap();
    let b_suffix = format!("suffix=to-commercial-{}", run.suffix);
    let state = run.state.join("b-state");
    let state_s = state.to_str().unwrap();
    let b_args = |cmd: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        v.extend([
            b_s.into(),
            "--var".into(),
            b_suffix.clone(),
            "--state-dir".into(),
            state_s.into(),
        ]);
        v
    };
    let args = b_args(&["plan", "--detailed-exitcode"]);
    let o = run_args(tb, &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("1 to add, 0 to change, 0 to destroy") && !out.contains("to destroy.\n-"),
        "B sees A's resources as its own:\n{out}"
    );
    for cmd in [
        &["apply", "--yes"][..],
        &["destroy", "--yes", "--force-delete-secrets"],
    ] {
        let o = run_args(tb, &b_args(cmd));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // A: every resource still there, once.
    assert_exactly_once(&run, &a);
    // B's VPC is gone: B deleted what it made, and only that.
    let b_name = format!("china-to-commercial-{}", run.suffix);
    let b_lineage = xpart::plan::lineage("china-${var.suffix}");
    assert!(owned(tb, Side::China, &b_name, &b_lineage).is_empty());

    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &a);
    assert_nothing_left(&run, &a);
}

fn run_args(tb: &Testbed, args: &[String]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    harness::bounded(&mut tb.xpart(&args))
}

/// The same identity by copying: a one-VPC plan with the seed plan's very `name:`, run with
/// the same suffix, owns what the seed plan made. Its apply and destroy would delete 15 of those
/// resources to keep 1: both refuse, name `--allow-prune`, and change nothing.
#[test]
fn safety_a_plan_that_would_prune_more_than_it_declares_is_refused() {
    let (run, a) = harness::applied("china-to-commercial.yaml");
    let dir = run.state.join("copy");
    std::fs::create_dir_all(&dir).unwrap();
    // Same file name as A, so `Run` reads the same plan name from it.
    let copy = vpc_plan(
        &dir,
        "china-to-commercial.yaml",
        "china-to-commercial-${var.suffix}",
    );
    for args in [&["apply", "--yes"][..], &["destroy", "--yes"]] {
        let o = run.run(args, &copy);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--allow-prune") && err.contains("does not declare"),
            "{err}"
        );
        assert!(err.contains("reader_role (iam.role, commercial)"), "{err}");
    }
    let o = run.run(&["plan"], &copy);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-prune"));
    assert_exactly_once(&run, &a);
    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &a);
}

/// Finding 2: `$${` escapes smuggle nothing past a check. The suffix
/// `$${x}/../../../../../../outside` is refused by lint with the name's position, and apply
/// writes nothing anywhere (not even a lock, not outside the state dir) and creates nothing.
/// A literal `name: "evil-$${a}/../../x"` is refused the same way.
#[test]
fn safety_escaped_templates_are_checked_as_rendered_and_write_nothing() {
    let tb = harness::testbed();
    let plan = plan_file("china-to-commercial.yaml");
    let plan_s = plan.to_str().unwrap();
    let root = harness::tempdir("escape");
    let state = root.join("a/b/c/d/e/f/state");
    std::fs::create_dir_all(&state).unwrap();
    let tag = harness::unique("esc");
    let suffix = format!("suffix=$${{x}}/../../../../../../outside-{tag}");
    let o = harness::bounded(&mut tb.xpart(&["lint", plan_s, "--var", &suffix]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("error[XP054]") && out.contains("plan name") && out.contains(":8:7"),
        "{out}"
    );
    for cmd in ["apply", "plan", "destroy", "verify", "unlock"] {
        let mut args = vec![cmd, plan_s, "--var", &suffix, "--state-dir"];
        let st = state.to_str().unwrap();
        args.push(st);
        if cmd == "apply" || cmd == "destroy" {
            args.push("--yes");
        }
        let o = harness::bounded(&mut tb.xpart(&args));
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("XP054"),
            "{cmd}: {}",
            text(&o)
        );
    }
    // Nothing anywhere under the temporary root but the empty state dir we made.
    let mut found = vec![];
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            found.push(p);
        }
    }
    let dirs: Vec<_> = found.iter().filter(|p| !state.starts_with(p)).collect();
    assert!(dirs.is_empty(), "written: {dirs:?}");
    for side in [Side::Commercial, Side::China] {
        assert!(named(tb, side, &tag).is_empty(), "created in {side:?}");
    }
    // The same escape written in the plan itself.
    let dir = harness::tempdir("escape-literal");
    let src = std::fs::read_to_string(&plan).unwrap().replace(
        "name: china-to-commercial-${var.suffix}",
        "name: \"evil-$${a}/../../x\"",
    );
    let evil = dir.join("evil.yaml");
    std::fs::write(&evil, src).unwrap();
    let o = harness::bounded(&mut tb.xpart(&["lint", evil.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("plan name `evil-${a}/../../x`") && out.contains("evil.yaml:8:7"),
        "{out}"
    );
    // A key file never leaves the state dir either.
    let src = std::fs::read_to_string(&plan).unwrap().replace(
        "validity_days: 3650",
        "validity_days: 3650\n      dir: ../../escaped",
    );
    let dirp = dir.join("dir.yaml");
    std::fs::write(&dirp, src).unwrap();
    let o = harness::bounded(&mut tb.xpart(&["lint", dirp.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("error[XP066]"),
        "{}",
        text(&o)
    );
}

/// Finding 3: variable values are literal text. `--var 'desc=${app_secret.arn}'` used in the
/// secret's own description is no reference (no cycle): apply writes exactly that text, and the
/// plan converges (`--detailed-exitcode` 0). `--var 'suffix=${x'` is refused by lint, since it
/// puts `$` and `{` in names.
#[test]
fn safety_variable_values_are_literal_text() {
    let tb = harness::testbed();
    let dir = harness::tempdir("literal-var");
    let plan = dir.join("secret.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: lit-${var.suffix}\nvars:\n  suffix: {}\n  desc: {}\npartitions:\n  commercial: {region: us-west-2, profile: xpart-commercial}\nresources:\n  app_secret:\n    type: secretsmanager.secret\n    partition: commercial\n    properties:\n      name: xpart/lit-${var.suffix}\n      description: \"${var.desc}\"\n      value: {generate: {length: 16}}\n      force_delete: true\n",
    )
    .unwrap();
    let p = plan.to_str().unwrap();
    let suffix = format!("suffix={}", harness::unique("lit").replace('_', "-"));
    let st = dir.join("state");
    let st = st.to_str().unwrap();
    let common = [
        "--var",
        &suffix,
        "--var",
        "desc=${app_secret.arn} $${x} ${x",
        "--state-dir",
        st,
    ];
    let o = harness::bounded(&mut tb.xpart(&[&["lint", p][..], &common[..4]].concat()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = harness::bounded(&mut tb.xpart(&[&["apply", p, "--yes"][..], &common[..]].concat()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = harness::bounded(
        &mut tb.xpart(&[&["plan", p, "--detailed-exitcode"][..], &common[..]].concat()),
    );
    assert_eq!(o.status.code(), Some(0), "does not converge: {}", text(&o));
    let name = format!("xpart/lit-{}", suffix.trim_start_matches("suffix="));
    let desc = harness::rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::Commercial).await);
        let d = sent!(sm.describe_secret().secret_id(&name));
        d.description().unwrap_or_default().to_string()
    });
    assert_eq!(desc, "${app_secret.arn} $${x} ${x");
    let o = harness::bounded(&mut tb.xpart(&[&["destroy", p, "--yes"][..], &common[..]].concat()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let seed = plan_file("china-to-commercial.yaml");
    let o =
        harness::bounded(&mut tb.xpart(&["lint", seed.to_str().unwrap(), "--var", "suffix=${x"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("error[XP054]") && out.contains("'$'"), "{out}");
}

/// Finding 4: credentials of the wrong partition are refused before anything is written, even
/// with no `account:` in the plan: `--profile china=xpart-commercial` exits 1 naming the
/// profile, and neither partition gets a resource.
#[test]
fn safety_credentials_of_the_wrong_partition_are_refused() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    for args in [&["apply", "--yes"][..], &["plan"], &["destroy", "--yes"]] {
        let mut c = run.cmd(args, &plan);
        c.args(["--profile", "china=xpart-commercial"]);
        let o = harness::bounded(&mut c);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("partition `china`") && err.contains("profile `xpart-commercial`"),
            "{err}"
        );
    }
    assert_nothing_left(&run, &plan);
    for side in [Side::Commercial, Side::China] {
        assert!(
            named(tb, side, &run.suffix).is_empty(),
            "created in {side:?}"
        );
    }
}

/// Finding 5: while one apply holds the plan's lock, a second one refuses, saying who holds
/// it; `xpart unlock` refuses a lock whose holder is alive, and the hint the lock error prints
/// works when pasted: as printed it refuses (the holder is alive), with `--force` it breaks the
/// lock.
#[test]
fn safety_unlock_refuses_a_live_lock_and_its_hint_works_pasted() {
    let tb = Testbed::with_faults(Side::China, "seed=3 latency_ms=400");
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    let mut first = run
        .cmd(&["apply", "--yes"], &plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = run.state.join(run.plan_name(&plan)).join("lock");
    assert!(
        crate::harness::eventually(400, || std::fs::read_to_string(&lock)
            .is_ok_and(|s| s.contains("pid"))),
        "the first apply never took the lock"
    );
    let o = run.run(&["apply", "--yes"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("is locked by another run") && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // The hint: `xpart unlock … --force`, with the plan's --var and --state-dir.
    let hint = err
        .split('`')
        .find(|s| s.starts_with("xpart unlock"))
        .unwrap_or_else(|| panic!("no unlock hint: {err}"))
        .to_string();
    assert!(
        hint.ends_with(" --force")
            && hint.contains("--var suffix=")
            && hint.contains("--state-dir"),
        "{hint}"
    );
    let pasted = |line: &str| {
        let line = line.replacen("xpart", env!("CARGO_BIN_EXE_xpart"), 1);
        harness::bounded(Command::new("sh").args(["-c", &line]).envs(tb.env()))
    };
    let without_force = hint.trim_end_matches(" --force");
    let o = pasted(without_force);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("still alive"),
        "{}",
        text(&o)
    );
    assert!(lock.exists(), "a refused unlock removed the lock");
    let o = pasted(&hint);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("broke the lock"),
        "{}",
        text(&o)
    );
    assert!(first.wait().unwrap().success());
    tb.set_faults(Side::China, "off");
    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// Finding 8: while china stalls every request, `xpart plan` says within 10 s which partition
/// and which call it is waiting for, and for how long.
#[test]
fn safety_a_stalled_partition_is_reported_within_10_seconds() {
    let tb = Testbed::with_faults(Side::China, "stall=1.0 stall_s=60");
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    let b = harness::run_bounded(
        &mut run.cmd(&["plan"], &plan),
        Some(Duration::from_secs(11)),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(b.killed, "plan finished although china stalls");
    let err = String::from_utf8_lossy(&b.output.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("waiting for china (cn-north-1)"))
        .unwrap_or_else(|| panic!("nothing said while china stalled:\n{err}"));
    let at: f64 = line
        .trim_start_matches('[')
        .split('s')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(at <= 10.0, "first said at {at} s: {line}");
    assert!(
        line.contains("no answer for") && line.contains("in flight"),
        "{line}"
    );
}

/// Small things of finding 9: with no shared config file at all, the error names the profile
/// and where it was looked for.
#[test]
fn safety_missing_config_names_the_profile() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let mut c = run.cmd(&["plan"], &plan);
    c.env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    let o = harness::bounded(&mut c);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("profile `xpart-") && err.contains("/nonexistent/config"),
        "{err}"
    );
    let _ = lineage_of(&plan);
}
