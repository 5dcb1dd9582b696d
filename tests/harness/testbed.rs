//! The local test-bed as tests see it: the `export` lines `localstack/up` printed, SDK configs
//! from its shared-config profiles, its `/__testbed/` counters, and private test-beds for tests
//! that inject faults (so faults never disturb the tests sharing the default one).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};

use super::{repo, tempdir, Side};

/// A running test-bed, described by the `export` lines `localstack/up` printed.
#[derive(Debug)]
pub struct Testbed {
    pub vars: BTreeMap<String, String>,
    /// Set for a private test-bed: its state dir, stopped on drop.
    private_state: Option<PathBuf>,
}

impl Testbed {
    /// The value of plan `identity`'s lease secret as the commercial partition (the lease
    /// partition of the shipped plans) holds it, or None.
    pub fn lease_value(&self, identity: &str) -> Option<String> {
        super::rt().block_on(async {
            let sm = aws_sdk_secretsmanager::Client::new(&self.sdk(Side::Commercial).await);
            let got = sm
                .get_secret_value()
                .secret_id(xpart::engine::lease::secret_name(identity))
                .send()
                .await
                .ok()?;
            got.secret_string().map(str::to_string)
        })
    }

    fn up(extra_env: &[(String, String)]) -> Testbed {
        let out = Command::new("bash")
            .arg(repo().join("localstack/up"))
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run localstack/up");
        assert!(
            out.status.success(),
            "localstack/up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut vars = BTreeMap::new();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let Some(rest) = line.strip_prefix("export ") else {
                continue;
            };
            let (k, v) = rest.split_once('=').unwrap();
            vars.insert(k.to_string(), v.trim_matches('\'').to_string());
        }
        for (k, v) in &vars {
            if k.ends_with("ENDPOINT") {
                assert!(
                    v.starts_with("http://127.0.0.1:") || v.starts_with("https://127.0.0.1:"),
                    "the test-bed must only be on loopback: {k}={v}"
                );
            }
        }
        Testbed {
            vars,
            private_state: None,
        }
    }

    pub fn var(&self, k: &str) -> &str {
        self.vars
            .get(k)
            .unwrap_or_else(|| panic!("localstack/up exported no {k}"))
    }
    pub fn endpoint(&self, side: Side) -> &str {
        self.var(&format!("XPART_TESTBED_{}_ENDPOINT", side.key()))
    }
    pub fn tls_endpoint(&self, side: Side) -> &str {
        self.var(&format!("XPART_TESTBED_{}_TLS_ENDPOINT", side.key()))
    }
    pub fn account(&self, side: Side) -> &str {
        self.var(&format!("XPART_TESTBED_{}_ACCOUNT", side.key()))
    }
    pub fn region(&self, side: Side) -> &str {
        self.var(&format!("XPART_TESTBED_{}_REGION", side.key()))
    }
    pub fn config_file(&self) -> &str {
        self.var("AWS_CONFIG_FILE")
    }
    pub fn python(&self) -> &str {
        self.var("XPART_TESTBED_PYTHON")
    }
    pub fn state(&self) -> PathBuf {
        PathBuf::from(self.var("XPART_TESTBED_STATE"))
    }

    /// Environment for child processes (the aws CLI, xpart, Python clients).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<_> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Never let a developer's real credentials or profile leak into a test.
        env.push(("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()));
        env.push(("AWS_PROFILE".into(), "xpart-commercial".into()));
        env
    }

    /// The binary with this test-bed's environment and `args`.
    pub fn xpart(&self, args: &[&str]) -> Command {
        let mut c = super::xpart();
        c.args(args).envs(self.env());
        c
    }

    /// An SDK config from the generated shared-config profile, with timeouts so no test hangs.
    pub async fn sdk(&self, side: Side) -> SdkConfig {
        self.sdk_with(side, aws_config::retry::RetryConfig::standard())
            .await
    }

    pub async fn sdk_with(&self, side: Side, retry: aws_config::retry::RetryConfig) -> SdkConfig {
        let files = ProfileFiles::builder()
            .with_file(ProfileFileKind::Config, self.config_file())
            .with_contents(ProfileFileKind::Credentials, "")
            .build();
        aws_config::defaults(BehaviorVersion::latest())
            .profile_files(files)
            .profile_name(side.profile())
            .retry_config(retry)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await
    }

    /// Write a fault setting for one partition (see localstack/faults); private test-beds only,
    /// so faults never disturb tests that share the default test-bed.
    pub fn set_faults(&self, side: Side, spec: &str) {
        assert!(
            self.private_state.is_some(),
            "faults only on a private test-bed"
        );
        let path = self.state().join(format!("faults-{}.json", side.name()));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, spec).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    /// Requests and injected faults counted by a partition's fault layer.
    pub fn stats(&self, side: Side) -> serde_json::Value {
        self.stats_request(side, "GET")
    }

    /// Calls of operation `op` a partition's fault layer counted since its last reset.
    pub fn calls(&self, side: Side, op: &str) -> u64 {
        self.stats(side)["calls"][op].as_u64().unwrap_or(0)
    }

    /// Wait (bounded: 30 s, polled) until a partition has counted `n` more calls of `op` than
    /// `since`: a readiness check for "the code under test has asked", not a fixed wait.
    pub fn await_calls(&self, side: Side, op: &str, since: u64, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.calls(side, op) < since + n {
            assert!(
                std::time::Instant::now() < deadline,
                "{side:?} saw fewer than {n} more {op} calls within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Forget a partition's counts (what `stats` reports is then this test's alone).
    pub fn reset_stats(&self, side: Side) {
        self.stats_request(side, "DELETE");
    }

    /// Refusals the partition's consistency mode answered, by service (`kms`, `ec2`, `sts`);
    /// `reset` forgets them after reading.
    pub fn consistency_refusals(&self, side: Side, reset: bool) -> serde_json::Value {
        self.testbed_request(side, "consistency", if reset { "DELETE" } else { "GET" })
    }

    /// Requests the partition's quotas throttled, by quota group; `reset` forgets them after
    /// reading.
    pub fn quota_throttles(&self, side: Side, reset: bool) -> serde_json::Value {
        self.testbed_request(side, "quotas", if reset { "DELETE" } else { "GET" })
    }

    /// Wait (bounded: 5 s, polled) until the partition's request-rate quotas are all rested,
    /// so that what runs next starts with its full rate, as a command does that follows no
    /// other within a second.
    pub fn await_rested_quotas(&self, side: Side) {
        for _ in 0..50 {
            if self.testbed_request(side, "quotas/rested", "GET")["rested"] == true {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the {side:?} quotas did not rest within 5 s");
    }

    fn stats_request(&self, side: Side, method: &str) -> serde_json::Value {
        self.testbed_request(side, "stats", method)
    }

    fn testbed_request(&self, side: Side, what: &str, method: &str) -> serde_json::Value {
        let url = format!("{}/__testbed/{what}", self.endpoint(side));
        let out = super::stdout_of(Command::new(self.python()).args([
            "-c",
            "import sys,urllib.request as u;print(u.urlopen(u.Request(sys.argv[1],method=sys.argv[2]),timeout=5).read().decode())",
            &url,
            method,
        ]));
        serde_json::from_slice(&out).unwrap()
    }

    /// A private test-bed with the faults `spec` on `side` from the start.
    pub fn with_faults(side: Side, spec: &str) -> Testbed {
        let tb = Testbed::private();
        tb.set_faults(side, spec);
        tb
    }

    /// A second, private test-bed on free ports with its own state dir, stopped on drop.
    pub fn private() -> Testbed {
        let dir = tempdir("testbed");
        // Port 0: each server binds a free port itself and `up` exports it, so two
        // private test-beds never race for a port picked in advance.
        let env = vec![
            ("XPART_TESTBED_STATE".to_string(), dir.display().to_string()),
            ("XPART_TESTBED_COMMERCIAL_PORT".into(), "0".into()),
            ("XPART_TESTBED_CHINA_PORT".into(), "0".into()),
            ("XPART_TESTBED_COMMERCIAL_TLS_PORT".into(), "0".into()),
            ("XPART_TESTBED_CHINA_TLS_PORT".into(), "0".into()),
        ];
        let mut tb = Testbed::up(&env);
        tb.private_state = Some(dir);
        tb
    }

    /// Stop a private test-bed now (also done on drop).
    pub fn down(&self) -> std::process::Output {
        let state = self
            .private_state
            .as_ref()
            .expect("only private test-beds are stopped by tests");
        Command::new("bash")
            .arg(repo().join("localstack/down"))
            .env("XPART_TESTBED_STATE", state)
            .output()
            .expect("run localstack/down")
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if self.private_state.is_some() {
            let _ = self.down();
        }
    }
}

/// The shared test-bed: brought up once (or reused when already running).
pub fn testbed() -> &'static Testbed {
    static TB: OnceLock<Testbed> = OnceLock::new();
    TB.get_or_init(|| Testbed::up(&[]))
}
