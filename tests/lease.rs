//! The plan's lease in the cloud: two runs from two directories (two machines) never both
//! write; a dead holder's lease is taken over, at once on its own host and after its life from
//! anywhere; `xpart unlock` shows it and breaks it only with `--force`; of two breakers, one
//! wins.

use crate::harness::sent;

use std::process::Stdio;
use std::time::Duration;

use xpart::engine::lease::{secret_name, Holder, Record};

use crate::harness::{
    self, assert_exactly_once, assert_nothing_left, plan_file, rt, text, Run, Side, Testbed,
};

/// The plan's lease record, or None.
fn lease_of(tb: &Testbed, identity: &str) -> Option<Record> {
    serde_json::from_str(&tb.lease_value(identity)?).ok()
}

/// Plant a lease held by a run on another machine that renewed it just now, living `ttl`.
fn plant(tb: &Testbed, identity: &str, ttl: u64) -> Record {
    let record = Record {
        lease: "0123456789abcdef0123456789abcdef".into(),
        holder: Holder {
            caller: format!(
                "arn:aws:sts::{}:assumed-role/ci/runner",
                tb.account(Side::Commercial)
            ),
            host: "another-machine".into(),
            pid: 4242,
            command: "apply".into(),
            since: "2026-11-29T00:00:00Z".into(),
            process: None,
        },
        ttl_seconds: ttl,
        released: false,
    };
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::Commercial).await);
        sent!(sm
            .create_secret()
            .name(secret_name(identity))
            .secret_string(serde_json::to_string(&record).unwrap()));
    });
    record
}

/// Wait (bounded: 30 s, polled) until the lease's last renewal looks older than `life` as the
/// engine judges it: by the creation time of the secret's current version, the service's clock.
fn await_unrenewed(tb: &Testbed, identity: &str, life: Duration) {
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::Commercial).await);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = sent!(sm.get_secret_value().secret_id(secret_name(identity)));
            let renewed = std::time::SystemTime::try_from(*got.created_date().unwrap()).unwrap();
            if renewed.elapsed().unwrap_or_default() > life {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the lease stays renewed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Two applies of a new plan started at once from two directories (as from two machines,
/// which share nothing local): exactly one of each resource, and the run that lost says who
/// holds the plan. Neither leaves its lease behind.
#[test]
fn two_applies_at_once_from_two_directories_write_once() {
    let tb = Testbed::private();
    // China slow enough that the two runs overlap.
    tb.set_faults(Side::China, "seed=5 latency_ms=300");
    let a = Run::new(&tb);
    let b = Run {
        tb: &tb,
        state: harness::tempdir("state-b"),
        suffix: a.suffix.clone(),
    };
    let plan = plan_file("china-to-commercial.yaml");
    let spawn = |r: &Run| {
        r.cmd(&["apply", "--yes"], &plan)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(&a), spawn(&b));
    let outs = [first, second].map(|c| c.wait_with_output().unwrap());
    // Both start within milliseconds and an apply takes seconds: one holds the plan while the
    // other asks, so exactly one goes ahead.
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "{}\n{}", text(&outs[0]), text(&outs[1]));
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(1), "{}", text(o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("is being changed by another run") && err.contains("apply by arn:aws:"),
            "{err}"
        );
    }
    tb.set_faults(Side::China, "off");
    assert_exactly_once(&a, &plan);
    assert_eq!(
        lease_of(&tb, &a.plan_name(&plan)),
        None,
        "the lease outlived the runs"
    );
    // Teardown from the directory that applied (its local PKI files are what the plan
    // compares the trust anchor with).
    let winner = if outs[0].status.success() { &a } else { &b };
    winner.ok(&["destroy", "--yes", "--force-delete-secrets"], &plan);
    assert_nothing_left(&a, &plan);
}

/// A lease renewed just now by a run elsewhere stops an apply, naming its holder; once its
/// life has passed without a renewal, the next apply watches it for one more life and takes
/// it.
#[test]
fn a_lease_held_elsewhere_stops_a_run_until_it_expires() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = vpc_only();
    let identity = run.plan_name(&plan);
    plant(tb, &identity, 2);
    let o = harness::bounded(&mut run.cmd(&["apply", "--yes"], &plan));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("on another-machine (pid 4242)") && err.contains("xpart unlock"),
        "{err}"
    );
    // The lease's life is what is under test: let it pass without a renewal.
    await_unrenewed(tb, &identity, Duration::from_secs(2));
    let o = harness::bounded(&mut run.cmd(&["apply", "--yes"], &plan));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("taking it if it is not renewed within 2s"),
        "{err}"
    );
    let o = harness::bounded(&mut run.cmd(&["destroy", "--yes"], &plan));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(lease_of(tb, &identity), None);
}

/// `xpart unlock` shows a live lease and refuses to break it; with `--force` it breaks it, and
/// of two breakers at once exactly one does; then an apply goes ahead at once.
#[test]
fn unlock_breaks_a_live_lease_only_with_force_and_one_breaker_wins() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let plan = vpc_only();
    let identity = run.plan_name(&plan);
    plant(tb, &identity, 600);
    let o = harness::bounded(&mut run.cmd(&["unlock"], &plan));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is leased to apply by") && err.contains("--force"),
        "{err}"
    );
    assert!(!lease_of(tb, &identity).unwrap().released);
    let breakers = [0, 1].map(|_| {
        run.cmd(&["unlock", "--force"], &plan)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let outs = breakers.map(|c| c.wait_with_output().unwrap());
    let broke = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("broke the lease"))
        .count();
    assert_eq!(broke, 1, "{}\n{}", text(&outs[0]), text(&outs[1]));
    assert!(outs.iter().all(|o| o.status.success()));
    assert!(lease_of(tb, &identity).unwrap().released);
    let o = harness::bounded(&mut run.cmd(&["apply", "--yes"], &plan));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = harness::bounded(&mut run.cmd(&["destroy", "--yes"], &plan));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A small plan: one VPC in china, the lease in commercial.
fn vpc_only() -> std::path::PathBuf {
    let dir = harness::tempdir("lease-plan");
    let p = dir.join("lease-vpc.yaml");
    std::fs::write(
        &p,
        "version: 1
name: lease-vpc-${var.suffix}
vars:
  suffix: {}
partitions:
  commercial:
    region: us-west-2
    profile: xpart-commercial
  china:
    region: cn-north-1
    profile: xpart-china
resources:
  vpc:
    type: ec2.vpc
    partition: china
    properties:
      name: lease-vpc-${var.suffix}
      cidr: 10.40.0.0/16
",
    )
    .unwrap();
    p
}
