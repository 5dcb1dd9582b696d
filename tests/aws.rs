//! The client factory: profiles per partition, the account guard, and bounded waits.

use std::time::{Duration, Instant};

use xpart::aws::{Clients, ConnectOptions};
use xpart::plan::{self, LoadOptions};

use crate::harness::{rt, testbed, Side, Testbed};

/// A two-partition plan text with optional extra lines under the china partition.
fn plan(china_extra: &str, commercial_account: Option<&str>) -> plan::Plan {
    let acct = commercial_account
        .map(|a| format!(", account: \"{a}\""))
        .unwrap_or_default();
    let text = format!(
        "version: 1\nname: t\npartitions:\n  commercial: {{region: us-west-2, profile: xpart-commercial{acct}}}\n  china:\n    region: cn-north-1\n    profile: xpart-china\n{china_extra}resources: {{}}\n"
    );
    let (spec, findings) = plan::load("t.yaml", &text, &LoadOptions::default());
    assert!(findings.iter().all(|f| !f.is_error()), "{findings:#?}");
    spec.unwrap()
}

fn opts(tb: &Testbed) -> ConnectOptions {
    ConnectOptions {
        profile: None,
        config_file: Some(tb.config_file().into()),
        log: None,
    }
}

#[test]
fn each_partition_gets_its_own_clients_and_identity() {
    let tb = testbed();
    let spec = plan("", None);
    rt().block_on(async {
        for (name, side) in [("commercial", Side::Commercial), ("china", Side::China)] {
            let c = Clients::connect(&spec.partitions[name], &opts(tb)).await;
            let id = c.check_account(None).await.unwrap();
            assert_eq!(id.account, tb.account(side));
            assert!(
                id.arn.starts_with(&format!("arn:{}:", side.partition())),
                "{}",
                id.arn
            );
        }
    });
}

#[test]
fn a_wrong_expected_account_is_refused() {
    let tb = testbed();
    let spec = plan("", Some("999999999999"));
    rt().block_on(async {
        let c = Clients::connect(&spec.partitions["commercial"], &opts(tb)).await;
        let err = c
            .check_account(spec.partitions["commercial"].account.as_deref())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("999999999999") && msg.contains(tb.account(Side::Commercial)),
            "{msg}"
        );
        assert!(
            msg.contains("commercial") && msg.contains("us-west-2"),
            "names partition and region: {msg}"
        );
    });
}

#[test]
fn a_hanging_partition_fails_within_its_bound() {
    let tb = Testbed::private();
    // Every China request stalls for 30 s; the plan allows 1 s per attempt, 2 attempts, 4 s in all.
    tb.set_faults(Side::China, "stall=1 stall_s=30");
    let spec = plan("    retry: {max_attempts: 2, initial_backoff_ms: 100, max_backoff_ms: 200}\n    timeouts: {attempt_ms: 1000, operation_ms: 4000}\n", None);
    rt().block_on(async {
        let c = Clients::connect(&spec.partitions["china"], &opts(&tb)).await;
        let t = Instant::now();
        let err = c.identity().await.unwrap_err();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(6), "took {took:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(
            err.to_string().contains("china") && err.to_string().contains("cn-north-1"),
            "{err}"
        );
    });
}
