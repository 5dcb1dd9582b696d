//! The engine's guards: Ctrl-C stops cleanly, the expected account, `--tune`. (One writer per
//! plan, and unlock: `safety::safety_unlock_refuses_a_live_lock_and_its_hint_works_pasted`.)

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::harness::{self, plan_file, text, Run, Side, Testbed};

/// Ctrl-C: nothing new starts, calls in flight finish, exit 1 with a hint; apply again converges.
#[test]
fn engine_guard_interrupt_stops_scheduling_and_a_rerun_converges() {
    let tb = Testbed::with_faults(Side::China, "seed=2 latency_ms=400");
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    let mut child = run
        .cmd(&["apply", "--yes"], &plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = vec![];
    // Ready once some resource is being created.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains(": creating") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains(": creating")), "{seen:?}");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    let all = format!("{}\n{}", seen.join("\n"), rest.join("\n"));
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(all.contains("interrupted"), "{all}");
    assert!(all.contains("again to finish"), "{all}");
    run.ok(&["apply", "--yes"], &plan);
    tb.set_faults(Side::China, "off");
    run.converged_then_destroyed(&plan);
}

/// A plan that expects another account is refused before anything is read or written.
#[test]
fn engine_guard_expected_account_mismatch_is_refused() {
    let tb = harness::testbed();
    let run = Run::new(tb);
    let src = std::fs::read_to_string(plan_file("china-to-commercial.yaml")).unwrap();
    let edited = src.replacen(
        "    profile: xpart-commercial\n",
        "    profile: xpart-commercial\n    account: \"999999999999\"\n",
        1,
    );
    assert_ne!(src, edited);
    let plan = run.state.join("china-to-commercial.yaml");
    std::fs::write(&plan, edited).unwrap();
    let o = run.run(&["apply", "--yes"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("999999999999")
            && err.contains(tb.account(Side::Commercial))
            && err.contains("commercial"),
        "{err}"
    );
    for side in [Side::Commercial, Side::China] {
        assert!(run.inventory(side, &plan).is_empty());
    }
}

/// `--tune` overrides the plan's timeouts: a china attempt bound below the latency times out,
/// named by partition, well inside the default bounds.
#[test]
fn engine_guard_tune_flags_override_the_plans_timeouts() {
    let tb = Testbed::with_faults(Side::China, "seed=3 latency_ms=1500");
    let run = Run::new(&tb);
    let plan = plan_file("china-to-commercial.yaml");
    let start = std::time::Instant::now();
    let o = run.run(
        &[
            "plan",
            "--tune",
            "china.attempt_ms=300",
            "--tune",
            "china.max_attempts=2",
            "--tune",
            "china.operation_ms=2000",
        ],
        &plan,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("china") && err.contains("timed out"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    let o = run.run(&["plan", "--tune", "china.max_attempts=x"], &plan);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
