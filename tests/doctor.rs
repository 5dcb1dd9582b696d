//! `xpart doctor`: every check after an apply, and each failure it must name: a closed port, an
//! endpoint that takes connections and never answers, a slow partition, a clock ten minutes
//! ahead, a disabled profile, the workload's certificate from another CA.

use crate::harness::sent;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::harness::{self, plan_file, text, Run, Side, Testbed};

/// Run doctor (JSON lines), killed at `limit`: how it ended, its checks, and how long it took.
fn doctor(
    run: &Run,
    plan: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> (Output, Vec<Json>, Duration) {
    let mut args = vec!["doctor", "--format", "json"];
    args.extend(extra);
    let mut c = run.cmd(&args, plan);
    for (k, v) in env {
        c.env(k, v);
    }
    let t = Instant::now();
    let o = harness::output_within(&mut c, limit).unwrap_or_else(|e| panic!("{e}"));
    let took = t.elapsed();
    let checks = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    (o, checks, took)
}

/// Doctor with china's endpoint at `url`: it must fail (exit 1) well within its budget of
/// `budget` seconds; its checks.
fn doctor_fails_within(run: &Run, plan: &Path, dir: &Path, url: &str, budget: u64) -> Vec<Json> {
    let cfg = config_with_china_at(run.tb, dir, url);
    let limit = Duration::from_secs(120);
    let (o, checks, took) = doctor(
        run,
        plan,
        &["--budget", &budget.to_string()],
        &[("AWS_CONFIG_FILE", &cfg)],
        limit,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(took < Duration::from_secs(budget), "{took:?}");
    checks
}

/// A check's text `name` (detail, cause, fix).
fn field<'a, J: std::borrow::Borrow<Json>>(check: &'a J, name: &str) -> &'a str {
    check.borrow()[name].as_str().unwrap()
}

/// The number that follows `prefix` in a check's text ("p50 5012 ms", "clock is 600 s ...").
fn number_after(text: &str, prefix: &str) -> u64 {
    let rest = text.strip_prefix(prefix).unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// The check of `partition` whose name starts with `name`.
fn find<'a>(checks: &'a [Json], partition: &str, name: &str) -> &'a Json {
    checks
        .iter()
        .find(|c| c["partition"] == partition && field(*c, "check").starts_with(name))
        .unwrap_or_else(|| panic!("no check {partition} {name:?} in {checks:#?}"))
}

fn failed(checks: &[Json]) -> Vec<&Json> {
    checks.iter().filter(|c| c["status"] == "fail").collect()
}

/// The test-bed's shared config with the china endpoint replaced by `url`.
fn config_with_china_at(tb: &Testbed, dir: &Path, url: &str) -> String {
    let text = std::fs::read_to_string(tb.config_file()).unwrap();
    let file = dir.join(format!("aws-config-{}", url.rsplit(':').next().unwrap()));
    std::fs::write(&file, text.replace(tb.endpoint(Side::China), url)).unwrap();
    file.display().to_string()
}

/// After an apply every check passes, each with its time, in text and in JSON; then each
/// failure is named with its cause: a closed port (refused) and a silent one (timeout) for
/// china, a disabled profile, and a workload certificate from another CA ("untrusted
/// certificate", with the anchor it was checked against).
#[test]
fn doctor_checks_the_reach_and_the_bridge_and_names_what_breaks() {
    let (run, plan) = harness::applied("china-to-commercial.yaml");
    let tb = run.tb;
    let limit = Duration::from_secs(120);

    let (o, checks, _) = doctor(&run, &plan, &[], &[], limit);
    assert_eq!(o.status.code(), Some(0), "{checks:#?}\n{}", text(&o));
    for side in ["china", "commercial"] {
        for name in [
            "DNS ",
            "connect ",
            "answer ",
            "clock against",
            "caller identity",
            "latency",
            "proxy for",
        ] {
            let c = find(&checks, side, name);
            assert!(c["ms"].is_u64(), "{c}");
            assert_eq!(c["status"], "pass", "{c}");
        }
    }
    for name in [
        "trust anchor",
        "CA ",
        "client certificate",
        "certificate chain",
        "revocation",
        "profile",
        "session tags",
        "CreateSession",
        "recorded CreateSession attempts",
        "role ",
    ] {
        assert_eq!(
            find(&checks, "commercial", name)["status"],
            "pass",
            "{name}"
        );
    }
    assert!(find(&checks, "commercial", "session tags")["detail"]
        .as_str()
        .unwrap()
        .contains("x509Subject/CN=cn-ec2-workload"));
    // Text: one verdict line per check, each with its time.
    let o = run.ok(&["doctor"], &plan);
    let out = String::from_utf8_lossy(&o.stdout);
    let verdicts: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("warn") || l.starts_with("FAIL"))
        .collect();
    assert_eq!(verdicts.len(), checks.len(), "{out}");
    assert!(verdicts.iter().all(|l| l.contains(" ms): ")), "{out}");

    // china's port closed: refused, named with the china endpoint, well within the budget.
    let dir = harness::tempdir("doctor");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let checks = doctor_fails_within(&run, &plan, &dir, &closed, 30);
    let c = find(&checks, "china", "connect ");
    assert_eq!(c["status"], "fail");
    assert!(
        field(&c, "detail").contains(&format!("connection refused by 127.0.0.1 ({closed})")),
        "{c}"
    );
    assert!(
        field(&c, "cause").contains("nothing takes connections"),
        "{c}"
    );
    assert_eq!(
        find(&checks, "commercial", "caller identity")["status"],
        "pass"
    );

    // An endpoint that takes the connection and never answers: a timeout, not a refusal.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let checks = doctor_fails_within(&run, &plan, &dir, &url, 40);
    assert_eq!(find(&checks, "china", "connect ")["status"], "pass");
    let c = find(&checks, "china", "answer ");
    assert_eq!(c["status"], "fail");
    assert!(
        field(&c, "detail").starts_with("timeout: connected, but no HTTP answer"),
        "{c}"
    );
    drop(silent);

    // Over TLS: the handshake is its own step, checked with the trust xpart's API calls
    // have (the system's CAs, SSL_CERT_FILE included): the test-bed's CA through SSL_CERT_FILE
    // is trusted; through AWS_CA_BUNDLE alone it is said to reach credential-process only;
    // without either the handshake fails, and the fix names both.
    let cfg = config_with_china_at(tb, &dir, tb.tls_endpoint(Side::China));
    let bundle = tb.var("XPART_TESTBED_CA_BUNDLE").to_string();
    let host = "TLS 127.0.0.1";
    let tls = |env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("AWS_CONFIG_FILE", &cfg));
        let (_, checks, _) = doctor(&run, &plan, &[], &env, limit);
        find(&checks, "china", host).clone()
    };
    let c = tls(&[("SSL_CERT_FILE", &bundle)]);
    assert_eq!(c["status"], "pass", "{c}");
    let c = tls(&[("AWS_CA_BUNDLE", &bundle)]);
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        field(&c, "cause").contains("trust the system's CAs only"),
        "{c}"
    );
    let c = tls(&[]);
    assert_eq!(c["status"], "fail", "{c}");
    assert!(field(&c, "fix").contains("AWS_CA_BUNDLE"), "{c}");

    // The profile disabled: said so.
    let sfx = &run.suffix;
    let rt = harness::rt();
    let ra =
        rt.block_on(async { aws_sdk_rolesanywhere::Client::new(&tb.sdk(Side::Commercial).await) });
    let profile_id = rt.block_on(async {
        let all = sent!(ra.list_profiles());
        let p = all
            .profiles()
            .iter()
            .find(|p| p.name() == Some(&format!("xpart-secret-reader-{sfx}")))
            .unwrap()
            .clone();
        p.profile_id().unwrap().to_string()
    });
    rt.block_on(async { sent!(ra.disable_profile().profile_id(&profile_id)) });
    let (o, checks, _) = doctor(&run, &plan, &[], &[], limit);
    assert_eq!(o.status.code(), Some(1));
    let c = find(&checks, "commercial", "profile");
    assert_eq!(c["status"], "fail");
    assert!(field(&c, "detail").ends_with("is disabled"), "{c}");
    assert!(
        field(&c, "cause").contains("the profile is disabled"),
        "{c}"
    );
    rt.block_on(async { sent!(ra.enable_profile().profile_id(&profile_id)) });

    // The workload's certificate from another CA: "untrusted certificate", naming the anchor.
    let other = harness::pki::ca(&harness::unique("other-root"), true);
    let leaf = other.issue("cn-ec2-workload", false, false);
    rt.block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::China).await);
        sent!(sm
            .put_secret_value()
            .secret_id(format!("xpart/workload-key-{sfx}"))
            .secret_string(format!("{}{}", leaf.cert_pem, leaf.key_pem)));
    });
    let (o, checks, _) = doctor(&run, &plan, &[], &[], limit);
    assert_eq!(o.status.code(), Some(1));
    let chain = find(&checks, "commercial", "certificate chain");
    assert_eq!(chain["status"], "fail");
    let detail = field(&chain, "detail");
    assert!(detail.starts_with("untrusted certificate"), "{chain}");
    assert!(
        detail.contains("arn:aws:rolesanywhere:us-west-2:") && detail.contains(":trust-anchor/"),
        "{chain}"
    );
    let session = find(&checks, "commercial", "CreateSession");
    assert_eq!(session["status"], "fail");
    assert!(
        field(&session, "cause")
            .starts_with("untrusted certificate: trust anchor arn:aws:rolesanywhere:"),
        "{session}"
    );
    // Roles Anywhere recorded the refused attempt.
    let recorded = find(&checks, "commercial", "recorded CreateSession attempts");
    assert!(
        field(&recorded, "detail").contains("1 failed"),
        "{recorded}"
    );
    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// Five seconds of latency on every china request: doctor reports it and still finishes
/// within its budget.
#[test]
fn doctor_reports_a_slow_partition_within_its_budget() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    run.ok(&["apply", "--yes"], &plan);
    tb.set_faults(Side::China, "latency_ms=5000");
    let budget = 120;
    let (o, checks, took) = doctor(
        &run,
        &plan,
        &["--budget", &budget.to_string()],
        &[],
        Duration::from_secs(budget + 30),
    );
    tb.set_faults(Side::China, "off");
    assert!(took < Duration::from_secs(budget), "{took:?}");
    let c = find(&checks, "china", "latency");
    assert_eq!(c["status"], "warn", "{c}");
    let p50: u64 = number_after(field(&c, "detail"), "p50 ");
    assert!(p50 >= 5000, "{c}");
    assert!(
        failed(&checks).is_empty(),
        "{:#?}\n{}",
        failed(&checks),
        text(&o)
    );
    run.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
}

/// Under faketime ten minutes ahead, the cause is the clock: the skew against each
/// partition's `Date`, and SigV4's 5 minutes.
#[test]
fn doctor_names_a_skewed_clock_as_the_cause() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let mut c = std::process::Command::new("faketime");
    c.args([
        "-f",
        "+10m",
        env!("CARGO_BIN_EXE_xpart"),
        "doctor",
        "--format",
        "json",
    ])
    .arg(&plan)
    .args(["--var", &format!("suffix={}", run.suffix), "--state-dir"])
    .arg(&run.state)
    .envs(tb.env())
    // Timers keep the real monotonic clock; only the wall clock is ahead.
    .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let o = harness::output_within(&mut c, Duration::from_secs(120)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let checks: Vec<Json> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for side in ["china", "commercial"] {
        let c = find(&checks, side, "clock against");
        assert_eq!(c["status"], "fail", "{c}");
        let detail = field(&c, "detail");
        let secs: u64 = number_after(detail, "this machine's clock is ");
        assert!((595..=605).contains(&secs), "{c}");
        assert!(detail.ends_with("ahead of the service's"), "{c}");
        assert!(
            field(&c, "cause")
                .contains("AWS refuses requests signed more than 5 minutes off (SigV4)"),
            "{c}"
        );
    }
}

/// The budget runs out while china is still being checked (every china answer 5 s late, a
/// budget of 8 s): the checks china finished (its DNS and connect at least) are printed before
/// the verdict, and china is named as the partition that did not finish (issue #25, 10: none
/// of a stalled partition's finished checks were printed).
#[test]
fn doctor_prints_a_stalled_partitions_finished_checks_before_the_budget() {
    let tb = Testbed::private();
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    tb.set_faults(Side::China, "latency_ms=5000");
    let (o, checks, took) = doctor(
        &run,
        &plan,
        &["--budget", "8"],
        &[],
        Duration::from_secs(60),
    );
    tb.set_faults(Side::China, "off");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(took < Duration::from_secs(20), "{took:?}");
    for name in ["DNS ", "connect "] {
        assert_eq!(
            find(&checks, "china", name)["status"],
            "pass",
            "{checks:#?}"
        );
    }
    let stalled = find(&checks, "china", "partition checks");
    assert_eq!(stalled["status"], "fail", "{stalled}");
    let last = checks.last().unwrap();
    assert_eq!(last["check"], "time budget", "{checks:#?}");
    let at = |c: &Json| checks.iter().position(|x| x == c).unwrap();
    assert!(
        at(stalled) < at(last),
        "every finished check before the verdict"
    );
}
