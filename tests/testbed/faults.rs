//! The fault layer and the test-bed's life: latency, lost responses, transient errors, stalls, seeds, up/down.

use super::*;

#[test]
fn latency_is_per_partition() {
    let tb = Testbed::with_faults(Side::China, "latency_ms=800");
    rt().block_on(async {
        let china = aws_sdk_sts::Client::new(&tb.sdk(Side::China).await);
        let commercial = aws_sdk_sts::Client::new(&tb.sdk(Side::Commercial).await);
        // Warm both connections' code paths once so only latency is measured.
        sent!(commercial.get_caller_identity());
        let t = Instant::now();
        sent!(china.get_caller_identity());
        let slow = t.elapsed();
        let t = Instant::now();
        sent!(commercial.get_caller_identity());
        let fast = t.elapsed();
        assert!(slow >= Duration::from_millis(800), "china took {slow:?}");
        assert!(
            fast < Duration::from_millis(800),
            "commercial took {fast:?}"
        );
    });
}

#[test]
fn lost_response_on_run_instances_yields_one_instance() {
    let tb = Testbed::private();
    // The first RunInstances is processed, then its reply is lost: the SDK retries with
    // the same ClientToken, and EC2 idempotency must return the same reservation.
    tb.set_faults(
        Side::China,
        "lost_response=1 match=RunInstances max_faults=1",
    );
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tb.sdk(Side::China).await);
        let token = unique("token");
        let out = sent!(ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .client_token(&token));
        let id = out.instances()[0].instance_id().unwrap().to_string();
        let stats = tb.stats(Side::China);
        assert_eq!(stats["injected"]["lost_response"], 1, "{stats}");
        assert_eq!(stats["calls"]["RunInstances"], 2, "{stats}");
        let found = sent!(ec2.describe_instances().filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("client-token")
                .values(&token)
                .build(),
        ));
        let ids: Vec<_> = found
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id())
            .collect();
        assert_eq!(ids, vec![id.as_str()]);
    });
}

#[test]
fn lost_response_with_the_aws_cli_yields_one_instance() {
    let tb = Testbed::private();
    tb.set_faults(
        Side::China,
        "lost_response=1 match=RunInstances max_faults=1",
    );
    let token = unique("cli-token");
    let (ok, out, err) = cli(
        &tb,
        &[
            "--profile",
            "xpart-china",
            "ec2",
            "run-instances",
            "--image-id",
            "ami-12c6146b",
            "--count",
            "1",
            "--client-token",
            &token,
        ],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let id = v["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, err) = cli(
        &tb,
        &[
            "--profile",
            "xpart-china",
            "ec2",
            "describe-instances",
            "--filters",
            &format!("Name=client-token,Values={token}"),
        ],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<_> = v["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Instances"].as_array().unwrap().iter())
        .map(|i| i["InstanceId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![id]);
    assert_eq!(tb.stats(Side::China)["injected"]["lost_response"], 1);
}

#[test]
fn transient_faults_are_injected_and_retried() {
    let tb = Testbed::private();
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(&tb.sdk(Side::Commercial).await);
        for kind in ["http_500", "http_503", "throttle", "reset"] {
            tb.set_faults(Side::Commercial, &format!("{kind}=1 max_faults=2"));
            // Three attempts by default: two faults, then success.
            sts.get_caller_identity()
                .send()
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            let stats = tb.stats(Side::Commercial);
            assert_eq!(stats["injected"][kind], 2, "{kind}: {stats}");
        }
        // Without retries the fault reaches the caller, with the protocol's error code.
        let once = aws_sdk_sts::Client::new(
            &tb.sdk_with(Side::Commercial, aws_config::retry::RetryConfig::disabled())
                .await,
        );
        tb.set_faults(Side::Commercial, "throttle=1 max_faults=1");
        let err = once.get_caller_identity().send().await.unwrap_err();
        let code = err
            .as_service_error()
            .and_then(|e| aws_sdk_sts::error::ProvideErrorMetadata::code(e));
        assert_eq!(code, Some("Throttling"), "{err:?}");
    });
}

#[test]
fn stall_holds_the_request() {
    let tb = Testbed::with_faults(Side::China, "stall=1 stall_s=2 max_faults=1");
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(&tb.sdk(Side::China).await);
        let t = Instant::now();
        sent!(sts.get_caller_identity());
        assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(tb.stats(Side::China)["injected"]["stall"], 1);
    });
}

#[test]
fn faults_are_repeatable_for_a_seed() {
    let tb = Testbed::private();
    rt().block_on(async {
        let sts = aws_sdk_sts::Client::new(
            &tb.sdk_with(Side::China, aws_config::retry::RetryConfig::disabled())
                .await,
        );
        let mut runs = vec![];
        for _ in 0..2 {
            // Writing the settings again restarts the draws.
            tb.set_faults(Side::China, "seed=7 http_503=0.5");
            let mut pattern = vec![];
            for _ in 0..16 {
                pattern.push(sts.get_caller_identity().send().await.is_ok());
            }
            runs.push(pattern);
            std::thread::sleep(Duration::from_millis(20)); // a new mtime for the rewrite
        }
        assert_eq!(runs[0], runs[1]);
        assert!(
            runs[0].contains(&true) && runs[0].contains(&false),
            "{:?}",
            runs[0]
        );
    });
}

#[test]
fn down_stops_everything_up_started() {
    let tb = Testbed::private();
    let state = tb.state();
    let pids: Vec<u32> = ["commercial", "china"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(state.join(format!("{n}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    assert_eq!(
        running_for(&state).len(),
        2,
        "both servers name the state directory"
    );
    let out = tb.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for pid in &pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| c.contains("xpart_testbed.server"))
            .unwrap_or(false);
        assert!(!alive, "pid {pid} still running after down");
    }
    let left = running_for(&state);
    assert!(left.is_empty(), "still running after down: {left:?}");
}

/// The processes whose command line names `state`: every server `up` starts is given its ready
/// file there. Nothing started for a test-bed may live on after `down`. (A port probe would
/// race: the freed port may already belong to a sibling test-bed whose fault proxy closes
/// connections without a reply.)
fn running_for(state: &std::path::Path) -> Vec<String> {
    // With the slash: a sibling state dir may share this one as a prefix (…-1 and …-12).
    let mark = format!("{}/", state.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&mark)
                .then(|| format!("{}: {cmd}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// TerminateInstances retried after a lost reply succeeds, as in AWS (moto alone fails it).
#[test]
fn lost_response_on_terminate_instances_still_succeeds() {
    let tb = Testbed::private();
    rt().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&tb.sdk(Side::China).await);
        let out = sent!(ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1));
        let id = out.instances()[0].instance_id().unwrap().to_string();
        tb.set_faults(
            Side::China,
            "lost_response=1 match=TerminateInstances max_faults=1",
        );
        let out = sent!(ec2.terminate_instances().instance_ids(&id));
        let stats = tb.stats(Side::China);
        assert_eq!(stats["calls"]["TerminateInstances"], 2, "{stats}");
        let state = out.terminating_instances()[0]
            .current_state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_string();
        // moto's reply names the state "shutting-down" either way; AWS says "terminated".
        assert!(
            ["shutting-down", "terminated"].contains(&state.as_str()),
            "{state}"
        );
    });
}
