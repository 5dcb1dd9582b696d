//! The local test-bed itself, by topic: partitions here; Roles Anywhere emulation, faults and
//! up/down, races, and consistency in the modules below (one file per topic, under the house
//! limit of 800 lines).

use crate::harness::{refused, sent};

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_rolesanywhere::types::Tag;
use serde_json::Value;

use crate::harness::{
    chain, pki, ra_source, rt, testbed, third_party, unique, Side, Testbed, SECRET,
};

mod consistency;
mod faults;
mod races;
mod roles_anywhere;

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
