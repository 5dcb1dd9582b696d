//! Shared test helpers: the local test-bed (shared or private), unique names, SDK configs, test PKI.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A name no other test (or earlier run) uses: tests run in parallel against one test-bed.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xffff
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Commercial,
    China,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Commercial => "commercial",
            Side::China => "china",
        }
    }
    pub fn profile(self) -> &'static str {
        match self {
            Side::Commercial => "xpart-commercial",
            Side::China => "xpart-china",
        }
    }
    pub fn partition(self) -> &'static str {
        match self {
            Side::Commercial => "aws",
            Side::China => "aws-cn",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Side::Commercial => "COMMERCIAL",
            Side::China => "CHINA",
        }
    }
}

/// A running test-bed, described by the `export` lines `localstack/up` printed.
#[derive(Debug)]
pub struct Testbed {
    pub vars: BTreeMap<String, String>,
    /// Set for a private test-bed: its state dir, stopped on drop.
    private_state: Option<PathBuf>,
}

impl Testbed {
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

    /// An engine context for resource `id` of plan `plan` in one partition of this test-bed,
    /// for testing resource type modules directly. Local state goes to a fresh temp dir.
    pub async fn ctx(&self, side: Side, plan: &str, id: &str) -> xpart::engine::resource::Ctx {
        use std::sync::Arc;
        use xpart::engine::resource::{Ctx, Options, PartCtx};
        let spec: xpart::plan::types::PartitionEntry = serde_yaml::from_str(&format!(
            "region: {}\nprofile: {}\ntimeouts: {{operation_ms: 60000}}",
            self.region(side),
            side.profile()
        ))
        .unwrap();
        let def = xpart::plan::PartitionDef::new(
            side.name(),
            xpart::partition::Partition::of_region(self.region(side)).unwrap(),
            spec,
        );
        let clients = xpart::aws::Clients::connect(
            &def,
            &xpart::aws::ConnectOptions {
                profile: None,
                config_file: Some(self.config_file().into()),
                log: None,
            },
        )
        .await;
        let dir = tempdir("ctx");
        let part = Arc::new({
            let p = PartCtx::new(def, clients);
            p.account.set(self.account(side).to_string()).unwrap();
            p
        });
        Ctx {
            owner: xpart::plan::PlanIdentity::new(plan, plan),
            id: id.to_string(),
            parts: Arc::new([(side.name().to_string(), part.clone())].into()),
            part: Some(part),
            base: dir.clone(),
            state_dir: dir.join(".xpart").join(plan),
            opts: Arc::new(Options::default()),
            notify: Arc::new(|_, _| {}),
            refs: Default::default(),
            scan: None,
            referenced: Default::default(),
            ext: Default::default(),
        }
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
        let out = Command::new(self.python())
            .args([
                "-c",
                "import sys,urllib.request as u;print(u.urlopen(u.Request(sys.argv[1],method=sys.argv[2]),timeout=5).read().decode())",
                &url,
                method,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
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

/// `cx` before the engine's identity check has answered: the caller's account is not known
/// yet (reads run alongside that check), so anything that needs it panics.
pub fn without_account(cx: &xpart::engine::resource::Ctx) -> xpart::engine::resource::Ctx {
    let p = cx.part();
    let mut c = cx.clone();
    c.part = Some(std::sync::Arc::new(xpart::engine::resource::PartCtx::new(
        p.def.clone(),
        p.clients.clone(),
    )));
    c
}

/// What `create` or `update` returned (`got`) is what `read` finds right after (done without
/// the account): outputs, attributes, ownership and handle; after the work the call left
/// running (a key's alias), as a run awaits it before it ends. Returns that read.
pub async fn assert_read_back<T: xpart::engine::resource::Resource>(
    p: &T,
    cx: &xpart::engine::resource::Ctx,
    got: &xpart::engine::resource::Live,
) -> xpart::engine::resource::Live {
    if let Some(part) = &cx.part {
        for (id, work) in part.tails() {
            work.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{id}: the work create left failed: {e}"));
        }
    }
    let read = T::read(p, &without_account(cx))
        .await
        .unwrap()
        .expect("read finds what was made");
    assert_eq!(
        &read, got,
        "read (left) vs what create/update returned (right)"
    );
    read
}

/// How a bounded child process ended.
pub struct Bounded {
    pub output: std::process::Output,
    /// Killed (SIGKILL) at the asked moment while it was still running; false when it had
    /// finished by then on its own.
    pub killed: bool,
}

/// Run `cmd` with stdin closed and stdout and stderr collected; `kill -9` it at `kill_at` if
/// given, and in any case at `limit`, which is an error carrying what it printed so far: no
/// child process may hang a test.
pub fn run_bounded(
    cmd: &mut Command,
    kill_at: Option<Duration>,
    limit: Duration,
) -> Result<Bounded, String> {
    use std::io::Read;
    use std::process::Stdio;
    let start = std::time::Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    // Both pipes drained at once, so a chatty child never blocks on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = vec![];
            let _ = r.read_to_end(&mut b);
            b
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    // std has no wait with a timeout; polling `try_wait` keeps the child ours to kill (a
    // watcher thread killing by pid could hit a reused pid once the child is reaped).
    let (status, killed, over) = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| format!("waiting for {cmd:?}: {e}"))?
        {
            break (s, false, false);
        }
        let t = start.elapsed();
        let due = kill_at.is_some_and(|k| t >= k);
        if due || t >= limit {
            let _ = child.kill();
            let s = child
                .wait()
                .map_err(|e| format!("waiting for {cmd:?}: {e}"))?;
            break (s, due, !due);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    if over {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            let n = s.chars().count();
            s.chars().skip(n.saturating_sub(3000)).collect::<String>()
        };
        return Err(format!(
            "{:?} did not finish within {limit:?} and was killed\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
            cmd.get_args().collect::<Vec<_>>(),
            tail(&output.stdout),
            tail(&output.stderr)
        ));
    }
    Ok(Bounded { output, killed })
}

/// [`run_bounded`] without a planned kill.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Result<std::process::Output, String> {
    run_bounded(cmd, None, limit).map(|b| b.output)
}

/// Inputs no reader may take whole, in `dir`: a FIFO (never ends) and a sparse 9 GiB file
/// (takes no disk).
pub fn unbounded_files(dir: &Path) -> (PathBuf, PathBuf) {
    let fifo = dir.join("fifo.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = dir.join("huge.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(9 << 30)
        .unwrap();
    (fifo, huge)
}

pub fn tempdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("xpart-{prefix}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running tokio runtime for tests that call the SDK.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Test PKI made with rcgen.
pub mod pki {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    };
    use time::{Duration as TDuration, OffsetDateTime};

    pub struct Ca {
        pub pem: String,
        params: CertificateParams,
        key: KeyPair,
    }

    pub struct Leaf {
        pub cert_pem: String,
        pub key_pem: String,
    }

    impl Leaf {
        /// Write `name.pem` and `name.key` (mode 0600) into `dir`.
        pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
            use std::os::unix::fs::OpenOptionsExt;
            let c = dir.join(format!("{name}.pem"));
            let k = dir.join(format!("{name}.key"));
            std::fs::write(&c, &self.cert_pem).unwrap();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&k)
                .unwrap();
            std::io::Write::write_all(&mut f, self.key_pem.as_bytes()).unwrap();
            (c, k)
        }
    }

    fn dn(cn: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "xpart tests");
        dn.push(DnType::CommonName, cn);
        dn
    }

    /// CA parameters valid for 30 days; `proper = false` leaves out basicConstraints and keyUsage.
    fn ca_params(cn: &str, proper: bool) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(cn);
        params.not_before = OffsetDateTime::now_utc() - TDuration::days(1);
        params.not_after = OffsetDateTime::now_utc() + TDuration::days(30);
        if proper {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        params
    }

    /// A root CA as Roles Anywhere wants it; `proper = false` leaves out basicConstraints.
    pub fn ca(cn: &str, proper: bool) -> Ca {
        let params = ca_params(cn, proper);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { pem, params, key }
    }

    /// A CA with CA:TRUE but without keyCertSign.
    pub fn ca_without_cert_sign(cn: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    /// The key type of a client certificate.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum KeyAlg {
        Rsa2048,
        P256,
        P384,
    }

    impl KeyAlg {
        pub const ALL: [KeyAlg; 3] = [KeyAlg::Rsa2048, KeyAlg::P256, KeyAlg::P384];

        /// A fresh key pair of this type (RSA made by aws-lc-rs, as rcgen cannot generate it).
        pub fn generate(self) -> KeyPair {
            match self {
                KeyAlg::Rsa2048 => {
                    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                    let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                        .unwrap();
                    let der = AsDer::<Pkcs8V1Der>::as_der(&k).unwrap().as_ref().to_vec();
                    KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), &rcgen::PKCS_RSA_SHA256)
                        .unwrap()
                }
                KeyAlg::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
                KeyAlg::P384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
            }
        }
    }

    impl Ca {
        /// A client certificate with a key of type `alg`; `expired` puts its validity in the past.
        pub fn issue_with(&self, cn: &str, alg: KeyAlg, expired: bool) -> Leaf {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name = dn(cn);
            params.is_ca = IsCa::ExplicitNoCa;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let now = OffsetDateTime::now_utc();
            if expired {
                params.not_before = now - TDuration::days(10);
                params.not_after = now - TDuration::days(1);
            } else {
                params.not_before = now - TDuration::hours(1);
                params.not_after = now + TDuration::days(10);
            }
            let key = alg.generate();
            let issuer = Issuer::from_params(&self.params, &self.key);
            let cert = params.signed_by(&key, &issuer).unwrap();
            Leaf {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            }
        }

        /// An intermediate CA signed by this one (its `pem` is the intermediate's certificate).
        pub fn intermediate(&self, cn: &str) -> Ca {
            let params = ca_params(cn, true);
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
            let issuer = Issuer::from_params(&self.params, &self.key);
            let pem = params.signed_by(&key, &issuer).unwrap().pem();
            Ca { pem, params, key }
        }
    }

    impl Ca {
        /// A client certificate; `p384` picks the curve; `expired` puts its validity in the past.
        pub fn issue(&self, cn: &str, p384: bool, expired: bool) -> Leaf {
            self.issue_with(cn, if p384 { KeyAlg::P384 } else { KeyAlg::P256 }, expired)
        }
    }
}

/// A Roles Anywhere trust-anchor source from a PEM bundle.
pub fn ra_source(pem: &str) -> aws_sdk_rolesanywhere::types::Source {
    use aws_sdk_rolesanywhere::types::{Source, SourceData, TrustAnchorType};
    Source::builder()
        .source_type(TrustAnchorType::CertificateBundle)
        .source_data(SourceData::X509CertificateData(pem.to_string()))
        .build()
}

/// What one side needs for CreateSession: a CA-backed anchor, a role that trusts
/// Roles Anywhere (bound to the anchor), a profile, and a secret.
pub struct Chain {
    pub side: Side,
    pub ca: pki::Ca,
    pub anchor_id: String,
    pub anchor_arn: String,
    pub profile_id: String,
    pub profile_arn: String,
    pub role_arn: String,
    pub secret_id: String,
}

pub const SECRET: &str = "hello-from-the-other-partition";

pub async fn chain(tb: &Testbed, side: Side) -> Chain {
    let conf = tb.sdk(side).await;
    let ra = aws_sdk_rolesanywhere::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let ca = pki::ca(&unique("root"), true);
    let ta = ra
        .create_trust_anchor()
        .name(unique("ta"))
        .source(ra_source(&ca.pem))
        .enabled(true)
        .send()
        .await
        .unwrap()
        .trust_anchor
        .unwrap();
    let anchor_arn = ta.trust_anchor_arn().unwrap().to_string();
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
            "Condition": {"ArnEquals": {"aws:SourceArn": anchor_arn}}
        }]
    });
    let role = iam
        .create_role()
        .role_name(unique("reader"))
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let profile = ra
        .create_profile()
        .name(unique("profile"))
        .role_arns(role.arn())
        .enabled(true)
        .send()
        .await
        .unwrap()
        .profile
        .unwrap();
    let secret = sm
        .create_secret()
        .name(unique("secret"))
        .secret_string(SECRET)
        .send()
        .await
        .unwrap();
    Chain {
        side,
        ca,
        anchor_id: ta.trust_anchor_id().unwrap().to_string(),
        anchor_arn,
        profile_id: profile.profile_id().unwrap().to_string(),
        profile_arn: profile.profile_arn().unwrap().to_string(),
        role_arn: role.arn().to_string(),
        secret_id: secret.arn().unwrap().to_string(),
    }
}

/// Run iam-rolesanywhere-session (a third-party client) against the chain.
pub fn third_party(tb: &Testbed, c: &Chain, leaf: &pki::Leaf, tamper: bool) -> serde_json::Value {
    let dir = tempdir("ira");
    let (cert, key) = leaf.write(&dir, "client");
    let to = ThirdParty {
        side: c.side,
        profile_arn: &c.profile_arn,
        role_arn: &c.role_arn,
        anchor_arn: &c.anchor_arn,
        secret_id: &c.secret_id,
    };
    third_party_files(tb, &to, &cert, &key, tamper)
}

/// Where the third-party client goes: a chain's ARNs.
pub struct ThirdParty<'a> {
    pub side: Side,
    pub profile_arn: &'a str,
    pub role_arn: &'a str,
    pub anchor_arn: &'a str,
    pub secret_id: &'a str,
}

/// `third_party` with a certificate and key in files.
pub fn third_party_files(
    tb: &Testbed,
    c: &ThirdParty,
    cert: &Path,
    key: &Path,
    tamper: bool,
) -> serde_json::Value {
    let host = tb
        .tls_endpoint(c.side)
        .trim_start_matches("https://")
        .to_string();
    let mut cmd = Command::new(tb.python());
    cmd.arg(repo().join("tests/clients/ira_session.py"))
        .args(["--endpoint", &host])
        .args(["--ca-bundle", tb.var("XPART_TESTBED_CA_BUNDLE")])
        .args(["--region", tb.region(c.side)])
        .args(["--profile-arn", c.profile_arn, "--role-arn", c.role_arn])
        .args(["--trust-anchor-arn", c.anchor_arn])
        .args([
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .args([
            "--service-endpoint",
            tb.endpoint(c.side),
            "--secret-id",
            c.secret_id,
        ])
        .envs(tb.env());
    if tamper {
        cmd.arg("--tamper");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "client crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// `find_owned` as the engine calls it (`cx`'s plan and partition, no resource id) lists
/// `live` (what `read` returned) under `cx.id`: the same outputs and ownership, and each of its
/// attributes and handle fields but those in `except` (the plan decides them, and an orphan's
/// plan is not known). It may show attributes `read` leaves out for the plan's sake.
pub async fn assert_found_as_read<T: xpart::engine::resource::Resource>(
    cx: &xpart::engine::resource::Ctx,
    live: &xpart::engine::resource::Live,
    except: &[&str],
) {
    let mut all = cx.clone();
    all.id = String::new();
    let found = T::find_owned(&all).await.unwrap();
    let mine: Vec<_> = found.iter().filter(|(id, _)| *id == cx.id).collect();
    assert_eq!(
        mine.len(),
        1,
        "find_owned lists `{}` once: {found:#?}",
        cx.id
    );
    let got = &mine[0].1;
    assert_eq!(got.outputs, live.outputs);
    assert!(got.owned);
    for (k, v) in &live.attrs {
        if !except.contains(&k.as_str()) {
            assert_eq!(
                got.attrs.get(k),
                Some(v),
                "attribute {k}: {got:#?} vs {live:#?}"
            );
        }
    }
    let fields = |h: &serde_json::Value| -> serde_json::Value {
        match h {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(k, _)| !except.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            other => other.clone(),
        }
    };
    assert_eq!(
        fields(got.handle_json()),
        fields(live.handle_json()),
        "handle"
    );
}

/// `find_owned` no longer lists `cx.id` (deleted, or on its way out).
pub async fn assert_not_found<T: xpart::engine::resource::Resource>(
    cx: &xpart::engine::resource::Ctx,
) {
    let mut all = cx.clone();
    all.id = String::new();
    let found = T::find_owned(&all).await.unwrap();
    assert!(
        found.iter().all(|(id, _)| *id != cx.id),
        "`{}` is still listed: {found:#?}",
        cx.id
    );
}
