//! A plan's lease in the states a hostile run left it in (issue #25): a lease secret that is
//! not a lease, one scheduled for deletion, and one whose holder is gone from this machine,
//! or only looks so (the same hostname in another pid namespace).

use xpart::engine::lease::{secret_name, Holder, Process, Record};

use crate::harness::{plan_file, rt, testbed, text, Run, Side, Testbed};

fn put_lease(tb: &Testbed, identity: &str, value: &str) {
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::Commercial).await);
        sm.create_secret()
            .name(secret_name(identity))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    })
}

/// A lease secret that is not a lease names the way to delete it at once; deleted with the
/// default recovery window, it is named by apply, destroy and `unlock --force` with the
/// commands that restore it or delete it for good (each said only "InvalidRequestException
/// … marked deleted" before).
#[test]
fn a_lease_secret_pending_deletion_is_named_with_its_fix() {
    let tb = testbed();
    let run = Run::new(tb);
    let plan = plan_file("china-to-commercial.yaml");
    let identity = run.plan_name(&plan);
    let name = secret_name(&identity);
    put_lease(tb, &identity, "not json {");
    let o = run.run(&["apply", "--yes"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&name) && err.contains("--force-delete-without-recovery"),
        "{err}"
    );
    // Deleted the ordinary way: with a recovery window.
    rt().block_on(async {
        let sm = aws_sdk_secretsmanager::Client::new(&tb.sdk(Side::Commercial).await);
        sm.delete_secret().secret_id(&name).send().await.unwrap();
    });
    for args in [
        &["apply", "--yes"][..],
        &["destroy", "--yes"],
        &["unlock", "--force"],
    ] {
        let o = run.run(args, &plan);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        for said in [
            name.as_str(),
            "scheduled for deletion",
            "secretsmanager restore-secret",
            "--force-delete-without-recovery",
        ] {
            assert!(err.contains(said), "{args:?} does not say `{said}`:\n{err}");
        }
    }
}

/// This process's proof of place, as the engine records it for a holder.
fn here(pid: u32, started: u64) -> Holder {
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
    Holder {
        caller: "arn:aws:sts::111122223333:assumed-role/ci/runner".into(),
        host: read("/proc/sys/kernel/hostname"),
        pid,
        command: "apply".into(),
        since: "2026-12-01T00:00:00Z".into(),
        process: Some(Process {
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            pid_namespace: std::fs::read_link("/proc/self/ns/pid")
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            started,
        }),
    }
}

fn record(holder: Holder) -> String {
    serde_json::to_string(&Record {
        lease: "0123456789abcdef0123456789abcdef".into(),
        holder,
        ttl_seconds: 600,
        released: false,
    })
    .unwrap()
}

/// `xpart unlock` breaks, without `--force`, a lease whose holder is proven gone from this
/// machine (as apply takes it over); one held under this hostname from another pid namespace
/// (another container) it leaves alone, as a live holder's.
#[test]
fn unlock_breaks_a_dead_holders_lease_and_not_a_look_alike() {
    let tb = testbed();
    let plan = plan_file("china-to-commercial.yaml");
    // A pid that was this machine's and is free now: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();

    let run = Run::new(tb);
    let identity = run.plan_name(&plan);
    put_lease(tb, &identity, &record(here(gone, 1)));
    let o = run.ok(&["unlock"], &plan);
    assert!(text(&o).contains("broke the lease"), "{}", text(&o));
    let after: Record = serde_json::from_str(&tb.lease_value(&identity).unwrap()).unwrap();
    assert!(after.released, "the lease is free after unlock");

    let run = Run::new(tb);
    let identity = run.plan_name(&plan);
    let mut elsewhere = here(gone, 1);
    elsewhere.process.as_mut().unwrap().pid_namespace = "pid:[1]".into(); // no process lives in a namespace of inode 1
    let planted = record(elsewhere);
    put_lease(tb, &identity, &planted);
    let o = run.run(&["unlock"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("leased to"), "{}", text(&o));
    assert_eq!(tb.lease_value(&identity).as_deref(), Some(planted.as_str()));
    run.ok(&["unlock", "--force"], &plan);
}
