//! `xpart credential-process`: Roles Anywhere credentials against the local test-bed, through
//! the library, the built binary, the aws CLI, and next to a third-party client.

use crate::harness::sent;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use clap::Parser;
use serde_json::Value;
use xpart::credential_process::x509sign::{self, Certificate, Signer};
use xpart::credential_process::{
    obtain_in, run_in, CredentialError as Error, CredentialProcessArgs, Environment,
    ProcessCredentials,
};

use crate::harness::pki::{self, KeyAlg, Leaf};
use crate::harness::{
    chain, rt, tempdir, testbed, third_party, unique, Chain, Side, Testbed, SECRET,
};

const SIDES: [Side; 2] = [Side::Commercial, Side::China];

/// The flags as a user writes them: parsing them also checks that the names are
/// aws_signing_helper's.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: CredentialProcessArgs,
}

fn parse(flags: &[String]) -> CredentialProcessArgs {
    Flags::try_parse_from(
        std::iter::once("credential-process".to_string()).chain(flags.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .args
}

/// The flags for a chain, a certificate and a key, against the plain-HTTP test-bed endpoint.
fn flags(tb: &Testbed, c: &Chain, cert: &Path, key: &Path) -> Vec<String> {
    [
        "--certificate",
        cert.to_str().unwrap(),
        "--private-key",
        key.to_str().unwrap(),
        "--trust-anchor-arn",
        &c.anchor_arn,
        "--profile-arn",
        &c.profile_arn,
        "--role-arn",
        &c.role_arn,
        "--endpoint",
        tb.endpoint(c.side),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn with(mut f: Vec<String>, extra: &[&str]) -> Vec<String> {
    f.extend(extra.iter().map(|s| s.to_string()));
    f
}

/// An environment of its own: a private cache directory, no proxies, short timeouts.
fn env(dir: &Path) -> Environment {
    Environment {
        cache_dir: Some(dir.join("cache/xpart/credentials")),
        https_proxy: None,
        http_proxy: None,
        no_proxy: None,
        ca_bundle: None,
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(20),
    }
}

fn obtain(
    args: &CredentialProcessArgs,
    env: &Environment,
) -> Result<xpart::credential_process::Obtained, Error> {
    let mut diag = Vec::new();
    let r = obtain_in(args, env, &mut diag);
    let diag = String::from_utf8(diag).unwrap();
    assert!(!diag.contains("warning"), "{diag}");
    r
}

/// An SDK config that uses the obtained credentials against a partition of the test-bed.
async fn sdk_with(tb: &Testbed, side: Side, c: &ProcessCredentials) -> SdkConfig {
    let files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Config, "")
        .with_contents(EnvConfigFileKind::Credentials, "")
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .profile_files(files)
        .region(Region::new(tb.region(side).to_string()))
        .endpoint_url(tb.endpoint(side))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            Some(c.session_token.clone()),
            None,
            "xpart-credential-process-test",
        ))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await
}

async fn whoami(tb: &Testbed, side: Side, c: &ProcessCredentials) -> String {
    let sts = aws_sdk_sts::Client::new(&sdk_with(tb, side, c).await);
    sent!(sts.get_caller_identity()).arn().unwrap().to_string()
}

/// `arn:<p>:sts::<account>:assumed-role/<role name>/`, what a session of the chain's role looks like.
fn assumed_role_prefix(c: &Chain) -> String {
    format!(
        "{}/",
        c.role_arn
            .replacen(":iam::", ":sts::", 1)
            .replacen(":role/", ":assumed-role/", 1)
    )
}

fn write_leaf(leaf: &Leaf, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tempdir("cp");
    let (cert, key) = leaf.write(&dir, name);
    (dir, cert, key)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn xpart_bin() -> &'static str {
    env!("CARGO_BIN_EXE_xpart")
}

/// The body of a PEM file (its base64 lines), to check that it appears nowhere.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn credential_process_rsa_and_ecdsa_keys_on_both_partitions() {
    let tb = testbed();
    rt().block_on(async {
        for side in SIDES {
            let c = chain(tb, side).await;
            for alg in KeyAlg::ALL {
                let leaf = c.ca.issue_with("workload", alg, false);
                let (dir, cert, key) = write_leaf(&leaf, "client");
                let args = parse(&flags(tb, &c, &cert, &key));
                let e = env(&dir);
                let got = obtain(&args, &e).unwrap_or_else(|e| panic!("{side:?} {alg:?}: {e}"));
                assert!(!got.from_cache);
                let creds = &got.credentials;
                assert_eq!(creds.version, 1);
                let expires = creds.expiration_time().expect("an RFC 3339 expiration");
                let left = expires - time::OffsetDateTime::now_utc();
                assert!(
                    left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
                    "{left}"
                );

                let arn = whoami(tb, side, creds).await;
                assert!(
                    arn.starts_with(&assumed_role_prefix(&c)),
                    "{side:?} {alg:?}: {arn}"
                );
                assert!(arn.starts_with(&format!(
                    "arn:{}:sts::{}:",
                    side.partition(),
                    tb.account(side)
                )));
                let sm = aws_sdk_secretsmanager::Client::new(&sdk_with(tb, side, creds).await);
                let secret = sent!(sm.get_secret_value().secret_id(&c.secret_id));
                assert_eq!(secret.secret_string(), Some(SECRET));

                // The cache holds these credentials, privately, and no key material.
                let cache = e.cache_dir.as_ref().unwrap();
                let files: Vec<_> = std::fs::read_dir(cache)
                    .unwrap()
                    .map(|f| f.unwrap().path())
                    .collect();
                assert_eq!(files.len(), 1, "{files:?}");
                assert_eq!(std::fs::metadata(cache).unwrap().mode() & 0o777, 0o700);
                assert_eq!(std::fs::metadata(&files[0]).unwrap().mode() & 0o777, 0o600);
                let cached = std::fs::read_to_string(&files[0]).unwrap();
                assert_eq!(cached, creds.to_json());
                assert!(!cached.contains(&pem_body(&leaf.key_pem)[..40]));
            }
        }
    });
}

#[test]
fn credential_process_run_prints_one_json_line() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::China));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let args = parse(&flags(tb, &c, &cert, &key));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run_in(&args, &env(&dir), &mut out, &mut err),
        ExitCode::SUCCESS
    );
    let out = String::from_utf8(out).unwrap();
    assert_eq!(String::from_utf8(err).unwrap(), "");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.ends_with('\n'));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Version"], 1);
    for k in [
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
    ] {
        assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k} in {out}");
    }
    // The field order of aws_signing_helper's output.
    let order: Vec<usize> = [
        "\"Version\"",
        "\"AccessKeyId\"",
        "\"SecretAccessKey\"",
        "\"SessionToken\"",
        "\"Expiration\"",
    ]
    .iter()
    .map(|k| out.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn credential_process_debug_output_shows_the_request_but_no_secrets() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let leaf = c.ca.issue_with("workload", KeyAlg::Rsa2048, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let args = parse(&with(
        flags(tb, &c, &cert, &key),
        &["--debug", "--no-cache"],
    ));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run_in(&args, &env(&dir), &mut out, &mut err),
        ExitCode::SUCCESS
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("canonical request:\nPOST\n/sessions\nprofileArn="),
        "{err}"
    );
    assert!(
        err.contains("string to sign:\nAWS4-X509-RSA-SHA256\n"),
        "{err}"
    );
    assert!(err.contains("HTTP 201"), "{err}");
    for secret in ["SecretAccessKey", "SessionToken"] {
        assert!(
            !err.contains(v[secret].as_str().unwrap()),
            "{secret} leaked to stderr"
        );
    }
    assert!(
        !err.contains(&pem_body(&leaf.key_pem)[..40]),
        "key material on stderr"
    );
    // --no-cache neither reads nor writes the cache.
    assert!(!dir.join("cache").exists());
}

/// The test-bed's own verifier (localstack/xpart_testbed/x509auth.py, Python's `cryptography`)
/// checks signatures made by xpart at a fixed date, independently of xpart's code.
#[test]
fn credential_process_signatures_verify_with_an_independent_verifier() {
    let tb = testbed();
    let ca = pki::ca(&unique("verify-root"), true);
    let inter = ca.intermediate(&unique("verify-intermediate"));
    let now = time::OffsetDateTime::from_unix_timestamp(1_714_566_896).unwrap(); // 2024-05-01T12:34:56Z
    let query = x509sign::canonical_query(&[
        (
            "profileArn",
            "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:profile/p",
        ),
        ("roleArn", "arn:aws-cn:iam::444455556666:role/a role+name"),
        (
            "trustAnchorArn",
            "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:trust-anchor/t",
        ),
    ]);
    let body = br#"{"durationSeconds":900,"roleSessionName":"s"}"#;
    let mut cases = vec![];
    let mut expected = vec![];
    for (i, alg) in KeyAlg::ALL.iter().enumerate() {
        let issuer = if i == 1 { &inter } else { &ca };
        let leaf = issuer.issue_with("verify", *alg, false);
        let der = x509sign::pem_certificates(leaf.cert_pem.as_bytes())
            .unwrap()
            .remove(0);
        let cert = Certificate::from_der(&der).unwrap();
        let chain = if i == 1 {
            vec![Certificate::from_der(
                &x509sign::pem_certificates(inter.pem.as_bytes()).unwrap()[0],
            )
            .unwrap()]
        } else {
            vec![]
        };
        let signer = Signer::from_pem(leaf.key_pem.as_bytes()).unwrap();
        let req = x509sign::Request {
            method: "POST",
            path: "/sessions",
            query: &query,
            host: "rolesanywhere.cn-north-1.amazonaws.com.cn",
            content_type: "application/json",
            body,
        };
        let sig = x509sign::sign(&req, &signer, &cert, &chain, "cn-north-1", now).unwrap();
        let headers: serde_json::Map<String, Value> = sig
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let case = serde_json::json!({"query": query, "headers": headers, "body": std::str::from_utf8(body).unwrap()});
        cases.push(case.clone());
        expected.push(format!(
            "ok {} cn-north-1 chain={}",
            cert.serial,
            chain.len()
        ));
        // The same request with another body must fail.
        let mut tampered = case;
        tampered["body"] = Value::from(r#"{"durationSeconds":43200}"#);
        cases.push(tampered);
        expected.push("AccessDeniedException Invalid signature".to_string());
    }
    let dir = tempdir("verify");
    let cases_file = dir.join("cases.json");
    std::fs::write(&cases_file, serde_json::to_string(&cases).unwrap()).unwrap();
    let script = r#"
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[1])
from xpart_testbed import x509auth
now = dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.timezone.utc)
for c in json.load(open(sys.argv[2])):
    try:
        r = x509auth.verify_request("POST", "/sessions", c["query"], c["headers"], c["body"].encode(), now)
        print("ok", r.certificate.serial_number, r.region, f"chain={len(r.chain)}")
    except x509auth.AuthError as e:
        print(e.code, e.message)
"#;
    let out = crate::harness::stdout_of(
        Command::new(tb.python())
            .args(["-c", script])
            .arg(crate::harness::repo().join("localstack"))
            .arg(&cases_file),
    );
    let got: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn credential_process_traditional_pem_keys() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::China));
    for alg in [KeyAlg::Rsa2048, KeyAlg::P384] {
        let leaf = c.ca.issue_with("workload", alg, false);
        let (dir, cert, key) = write_leaf(&leaf, "client");
        let trad = dir.join("traditional.key");
        let out = Command::new("openssl")
            .args(["pkey", "-traditional", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&trad)
            .output()
            .expect("openssl on PATH");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&trad).unwrap();
        let label = if alg == KeyAlg::Rsa2048 {
            "RSA PRIVATE KEY"
        } else {
            "EC PRIVATE KEY"
        };
        assert!(text.contains(&format!("BEGIN {label}")), "{text}");
        let args = parse(&with(flags(tb, &c, &cert, &trad), &["--no-cache"]));
        let got = obtain(&args, &env(&dir)).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let arn = rt().block_on(whoami(tb, Side::China, &got.credentials));
        assert!(arn.starts_with(&assumed_role_prefix(&c)), "{arn}");
    }
}

#[test]
fn credential_process_sends_intermediates_as_the_chain() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let inter = c.ca.intermediate(&unique("intermediate"));
    let leaf = inter.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let bundle = dir.join("intermediates.pem");
    std::fs::write(&bundle, &inter.pem).unwrap();

    let without = parse(&with(flags(tb, &c, &cert, &key), &["--no-cache"]));
    match obtain(&without, &env(&dir)) {
        Err(Error::Service {
            code,
            message,
            status,
            ..
        }) => {
            assert_eq!((code.as_str(), status), ("AccessDeniedException", 403));
            assert_eq!(message, "Untrusted signing certificate");
        }
        other => panic!("without the chain: {other:?}"),
    }
    let with_chain = parse(&with(
        flags(tb, &c, &cert, &key),
        &["--no-cache", "--intermediates", bundle.to_str().unwrap()],
    ));
    let got = obtain(&with_chain, &env(&dir)).unwrap();
    let arn = rt().block_on(whoami(tb, Side::Commercial, &got.credentials));
    assert!(arn.starts_with(&assumed_role_prefix(&c)), "{arn}");
}

#[test]
fn credential_process_role_session_name() {
    let tb = testbed();
    rt().block_on(async {
        let c = chain(tb, Side::China).await;
        let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
        let (dir, cert, key) = write_leaf(&leaf, "client");
        let args = parse(&with(
            flags(tb, &c, &cert, &key),
            &[
                "--no-cache",
                "--role-session-name",
                "xpart-named-session",
                "--session-duration",
                "900",
            ],
        ));
        // The profile does not accept custom names yet: the service says so.
        match obtain(&args, &env(&dir)) {
            Err(Error::Service { code, .. }) => assert_eq!(code, "ValidationException"),
            other => panic!("{other:?}"),
        }
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(Side::China).await);
        sent!(ra
            .update_profile()
            .profile_id(&c.profile_id)
            .accept_role_session_name(true));
        let got = obtain(&args, &env(&dir)).unwrap();
        let arn = whoami(tb, Side::China, &got.credentials).await;
        assert_eq!(
            arn,
            format!("{}xpart-named-session", assumed_role_prefix(&c))
        );
        let left = got.credentials.expiration_time().unwrap() - time::OffsetDateTime::now_utc();
        assert!(
            left <= Duration::from_secs(900) && left > Duration::from_secs(800),
            "{left}"
        );
    });
}

#[test]
fn credential_process_and_a_third_party_client_use_the_same_profile() {
    let tb = testbed();
    for side in SIDES {
        let c = rt().block_on(chain(tb, side));
        let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
        let theirs = third_party(tb, &c, &leaf, false);
        assert_eq!(theirs["ok"], true, "{theirs}");
        let (dir, cert, key) = write_leaf(&leaf, "client");
        let got = obtain(&parse(&flags(tb, &c, &cert, &key)), &env(&dir)).unwrap();
        let ours = rt().block_on(whoami(tb, side, &got.credentials));
        // The same certificate makes the same session: the same assumed-role ARN.
        assert_eq!(theirs["arn"].as_str(), Some(ours.as_str()), "{side:?}");
        assert!(ours.starts_with(&assumed_role_prefix(&c)), "{ours}");
    }
}

#[test]
fn credential_process_refuses_what_cannot_work() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let good = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&good, "client");

    // A certificate of another CA: the service refuses it, exit code 1, its error on stderr.
    let other = pki::ca(&unique("other-root"), true).issue_with("workload", KeyAlg::P256, false);
    let (_, ocert, okey) = write_leaf(&other, "other");
    let args = parse(&flags(tb, &c, &ocert, &okey));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        run_in(&args, &env(&dir), &mut out, &mut err),
        ExitCode::FAILURE
    );
    assert!(out.is_empty());
    let err = String::from_utf8(err).unwrap();
    assert_eq!(
        err,
        format!(
            "error: CreateSession at {} failed: AccessDeniedException: Untrusted signing certificate (HTTP 403)\n",
            tb.endpoint(Side::Commercial)
        )
    );

    // The checks below happen before any request: the endpoint is a closed port, so a
    // request would fail with a connection error instead of these messages.
    let closed = format!("http://127.0.0.1:{}", {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let offline = |cert: &Path, key: &Path| {
        let mut f = flags(tb, &c, cert, key);
        let i = f.iter().position(|a| a == "--endpoint").unwrap();
        f[i + 1] = closed.clone();
        parse(&f)
    };
    // Sanity: a good certificate and key against the closed port is a connection error.
    match obtain(&offline(&cert, &key), &env(&dir)) {
        Err(Error::Transport { .. }) => {}
        other => panic!("{other:?}"),
    }

    // A key that is not the certificate's.
    let mismatch = obtain(&offline(&cert, &okey), &env(&dir)).unwrap_err();
    assert!(
        matches!(mismatch, Error::KeyMismatch { .. }),
        "{mismatch:?}"
    );
    assert_eq!(
        mismatch.to_string(),
        format!(
            "private key {} does not match certificate {} (both EC P-256): the certificate's public key is not this key's",
            okey.display(),
            cert.display()
        )
    );
    let rsa = c.ca.issue_with("workload", KeyAlg::Rsa2048, false);
    let (_, _, rsa_key) = write_leaf(&rsa, "rsa");
    let msg = obtain(&offline(&cert, &rsa_key), &env(&dir))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("(key RSA, certificate EC P-256)"), "{msg}");

    // An expired certificate, with its notAfter.
    let expired = c.ca.issue_with("workload", KeyAlg::P256, true);
    let (_, ecert, ekey) = write_leaf(&expired, "expired");
    let not_after =
        Certificate::from_der(&x509sign::pem_certificates(expired.cert_pem.as_bytes()).unwrap()[0])
            .unwrap()
            .not_after;
    let err = obtain(&offline(&ecert, &ekey), &env(&dir)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
    assert!(
        msg.starts_with(&format!(
            "certificate {} expired at {:04}-",
            ecert.display(),
            not_after.year()
        )),
        "{msg}"
    );
    assert!(msg.contains("(notAfter)"), "{msg}");

    // A file that is no key, and a missing one.
    let msg = obtain(&offline(&cert, &cert), &env(&dir))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "private key {}: no PEM private key in it (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            cert.display()
        )
    );
    let missing = dir.join("missing.key");
    let msg = obtain(&offline(&cert, &missing), &env(&dir))
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "cannot read private key {}: No such file or directory",
            missing.display()
        )
    );

    // A region in no known partition, without --endpoint.
    let mut f = flags(tb, &c, &cert, &key);
    let i = f.iter().position(|a| a == "--endpoint").unwrap();
    f.drain(i..i + 2);
    for (flag, arn) in [
        ("--trust-anchor-arn", &c.anchor_arn),
        ("--profile-arn", &c.profile_arn),
    ] {
        let j = f.iter().position(|a| a == flag).unwrap();
        f[j + 1] = arn.replace(tb.region(Side::Commercial), "us-nowhere-9");
    }
    let err = obtain(&parse(&f), &env(&dir)).unwrap_err();
    assert!(matches!(err, Error::UnknownRegion { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("region `us-nowhere-9` is in no partition xpart knows"),
        "{err}"
    );
}

#[test]
fn credential_process_unreadable_key_names_owner_and_mode() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::China));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (_dir, cert, key) = write_leaf(&leaf, "client");
    if is_root() {
        // Root reads any file, so run the built binary as `nobody` against root's 0600 key:
        // the seed runbook's failure. The error's formatting is also unit-tested in the module.
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                xpart_bin(),
                "credential-process",
            ])
            .args(with(flags(tb, &c, &cert, &key), &["--no-cache"]))
            .env_remove("XDG_CACHE_HOME")
            .output()
            .expect("setpriv (util-linux)");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "error: cannot read private key {} (owner root, mode 0600): Permission denied\n",
                key.display()
            )
        );
    } else {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
        let me = xpart::keyfile::user_name(std::fs::metadata(&key).unwrap().uid());
        let args = parse(&with(flags(tb, &c, &cert, &key), &["--no-cache"]));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run_in(&args, &env(&_dir), &mut out, &mut err),
            ExitCode::FAILURE
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            format!(
                "error: cannot read private key {} (owner {me}, mode 0000): Permission denied\n",
                key.display()
            )
        );
    }
}

fn stat(tb: &Testbed, side: Side, what: &str, name: &str) -> u64 {
    tb.stats(side)[what][name].as_u64().unwrap_or(0)
}

#[test]
fn credential_process_cache_saves_create_session_calls() {
    let tb = Testbed::private();
    let side = Side::Commercial;
    let c = rt().block_on(chain(&tb, side));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let e = env(&dir);
    let calls = || stat(&tb, side, "calls", "POST /sessions");
    assert_eq!(calls(), 0);

    let first = obtain(&parse(&flags(&tb, &c, &cert, &key)), &e).unwrap();
    assert!(!first.from_cache);
    assert_eq!(calls(), 1);
    let second = obtain(&parse(&flags(&tb, &c, &cert, &key)), &e).unwrap();
    assert!(second.from_cache);
    assert_eq!(second.credentials, first.credentials);
    assert_eq!(
        calls(),
        1,
        "the second call within validity makes no CreateSession request"
    );

    let fresh = obtain(
        &parse(&with(flags(&tb, &c, &cert, &key), &["--no-cache"])),
        &e,
    )
    .unwrap();
    assert!(!fresh.from_cache);
    assert_eq!(calls(), 2, "--no-cache makes one");
    assert_ne!(
        fresh.credentials.access_key_id,
        first.credentials.access_key_id
    );
    // --no-cache did not replace the cached entry.
    let third = obtain(&parse(&flags(&tb, &c, &cert, &key)), &e).unwrap();
    assert_eq!(
        (third.from_cache, third.credentials),
        (true, first.credentials.clone())
    );

    // Another duration is another cache entry.
    let other = obtain(
        &parse(&with(
            flags(&tb, &c, &cert, &key),
            &["--session-duration", "900"],
        )),
        &e,
    )
    .unwrap();
    assert!(!other.from_cache);
    assert_eq!(calls(), 3);

    // Credentials within 5 minutes of expiry are not reused.
    let files: Vec<_> = std::fs::read_dir(e.cache_dir.as_ref().unwrap())
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    let soon = time::OffsetDateTime::now_utc() + Duration::from_secs(240);
    for f in &files {
        let mut v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        v["Expiration"] = Value::from(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            soon.year(),
            u8::from(soon.month()),
            soon.day(),
            soon.hour(),
            soon.minute(),
            soon.second()
        ));
        std::fs::write(f, v.to_string()).unwrap();
    }
    let renewed = obtain(&parse(&flags(&tb, &c, &cert, &key)), &e).unwrap();
    assert!(!renewed.from_cache);
    assert_eq!(calls(), 4);

    // The key is still checked on a cache hit: a key that does not match is refused.
    let stranger = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (_, _, skey) = write_leaf(&stranger, "stranger");
    let err = obtain(&parse(&flags(&tb, &c, &cert, &skey)), &e).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    assert_eq!(calls(), 4);
}

#[test]
fn credential_process_retries_throttling_and_resets_and_bounds_a_stall() {
    let tb = Testbed::private();
    let side = Side::China;
    let c = rt().block_on(chain(&tb, side));
    let leaf = c.ca.issue_with("workload", KeyAlg::P384, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let args = parse(&with(flags(&tb, &c, &cert, &key), &["--no-cache"]));
    let calls = || stat(&tb, side, "calls", "POST /sessions");

    for (kind, fault) in [
        ("throttle", "throttle=1 max_faults=1 match=sessions"),
        ("reset", "reset=1 max_faults=1 match=sessions"),
        ("http_503", "http_503=1 max_faults=2 match=sessions"),
    ] {
        tb.set_faults(side, fault);
        let before = calls();
        let got = obtain(&args, &env(&dir)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(got.credentials.version, 1);
        let injected = stat(&tb, side, "injected", kind);
        assert!(injected >= 1, "{kind}: {}", tb.stats(side));
        assert_eq!(
            calls() - before,
            injected + 1,
            "{kind}: one more attempt than faults"
        );
    }

    // Five throttles in a row: the service's error, after five attempts.
    tb.set_faults(side, "throttle=1 max_faults=5 match=sessions");
    let before = calls();
    match obtain(&args, &env(&dir)) {
        Err(Error::Service { code, .. }) => assert_eq!(code, "ThrottlingException"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls() - before, 5);

    // A stalled CreateSession ends at the overall timeout, not when the service answers.
    tb.set_faults(side, "stall=1 stall_s=30 match=sessions");
    let mut e = env(&dir);
    e.total_timeout = Duration::from_secs(2);
    let t = Instant::now();
    let err = obtain(&args, &e).unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 2s"), "{err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    tb.set_faults(side, "off");
}

/// A CONNECT proxy on loopback that records the targets it was asked for.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(vec![]));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut head = vec![];
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(line.clone());
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                // Loopback only.
                let upstream = match (
                    line.starts_with("CONNECT 127.0.0.1:"),
                    TcpStream::connect(&target),
                ) {
                    (true, Ok(u)) => u,
                    _ => {
                        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                        return;
                    }
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c_in, mut u_out) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut u_out);
                    let _ = u_out.shutdown(std::net::Shutdown::Write);
                });
                let mut u_in = upstream;
                let _ = std::io::copy(&mut u_in, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = up.join();
            });
        }
    });
    (url, seen)
}

#[test]
fn credential_process_uses_proxies_only_with_the_flag() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let base = with(flags(tb, &c, &cert, &key), &["--no-cache"]);
    let host_port = tb
        .endpoint(Side::Commercial)
        .trim_start_matches("http://")
        .to_string();
    let dead = format!("http://127.0.0.1:{}", {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });

    // Without --with-proxy, proxy variables are ignored (here: a dead proxy).
    let mut e = env(&dir);
    e.http_proxy = Some(dead.clone());
    e.https_proxy = Some(dead.clone());
    obtain(&parse(&base), &e).expect("proxies ignored without --with-proxy");

    // With it, the (dead) proxy is used...
    let err = obtain(&parse(&with(base.clone(), &["--with-proxy"])), &e).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");

    // ...unless NO_PROXY exempts the endpoint,
    e.no_proxy = Some("localhost,127.0.0.0/8".into());
    obtain(&parse(&with(base.clone(), &["--with-proxy"])), &e).expect("NO_PROXY");

    // and a working proxy carries the request (HTTP_PROXY for an http:// endpoint).
    let (proxy, seen) = connect_proxy();
    let mut e = env(&dir);
    e.http_proxy = Some(proxy);
    e.https_proxy = Some(dead);
    let got = obtain(&parse(&with(base, &["--with-proxy"])), &e).unwrap();
    assert_eq!(got.credentials.version, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!("CONNECT {host_port} HTTP/1.1")]
    );
}

#[test]
fn credential_process_over_tls() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::China));
    let leaf = c.ca.issue_with("workload", KeyAlg::Rsa2048, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let mut f = with(flags(tb, &c, &cert, &key), &["--no-cache"]);
    let i = f.iter().position(|a| a == "--endpoint").unwrap();
    f[i + 1] = tb.tls_endpoint(Side::China).to_string();

    // The test-bed's CA is in no system store: verification fails...
    let err = obtain(&parse(&f), &env(&dir)).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate")
            || err.to_string().contains("UnknownIssuer"),
        "{err}"
    );
    // ...unless AWS_CA_BUNDLE names it,
    let mut e = env(&dir);
    e.ca_bundle = Some(PathBuf::from(tb.var("XPART_TESTBED_CA_BUNDLE")));
    let got = obtain(&parse(&f), &e).unwrap();
    let arn = rt().block_on(whoami(tb, Side::China, &got.credentials));
    assert!(arn.starts_with(&assumed_role_prefix(&c)), "{arn}");
    // or verification is off.
    obtain(&parse(&with(f, &["--no-verify-ssl"])), &env(&dir)).unwrap();
}

// ---- The built binary (needs the `credential-process` subcommand wired in src/cli.rs) ----

#[test]
fn credential_process_binary_prints_json_and_caches() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let leaf = c.ca.issue_with("workload", KeyAlg::P384, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let run = |extra: &[&str]| -> Value {
        let out = assert_cmd::Command::new(xpart_bin())
            .arg("credential-process")
            .args(with(flags(tb, &c, &cert, &key), extra))
            .env("XDG_CACHE_HOME", dir.join("xdg"))
            .timeout(Duration::from_secs(60))
            .assert()
            .success();
        let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(out.get_output().stderr.is_empty());
        serde_json::from_str(&stdout).unwrap()
    };
    let first = run(&[]);
    assert_eq!(first["Version"], 1);
    let creds: ProcessCredentials = serde_json::from_value(first.clone()).unwrap();
    let arn = rt().block_on(whoami(tb, Side::Commercial, &creds));
    assert!(arn.starts_with(&assumed_role_prefix(&c)), "{arn}");
    // The cache under XDG_CACHE_HOME, 0700 / 0600.
    let cache = dir.join("xdg/xpart/credentials");
    assert_eq!(std::fs::metadata(&cache).unwrap().mode() & 0o777, 0o700);
    assert_eq!(run(&[]), first, "the second run is served from the cache");
    assert_ne!(run(&["--no-cache"])["AccessKeyId"], first["AccessKeyId"]);

    // Refused by the service: exit code 1 and its error on stderr.
    let other = pki::ca(&unique("other-root"), true).issue_with("workload", KeyAlg::P256, false);
    let (_, ocert, okey) = write_leaf(&other, "other");
    let out = assert_cmd::Command::new(xpart_bin())
        .arg("credential-process")
        .args(flags(tb, &c, &ocert, &okey))
        .env("XDG_CACHE_HOME", dir.join("xdg"))
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1);
    assert!(out.get_output().stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains("AccessDeniedException: Untrusted signing certificate"),
        "{stderr}"
    );
}

#[test]
fn credential_process_feeds_the_aws_cli() {
    let tb = testbed();
    for side in SIDES {
        let c = rt().block_on(chain(tb, side));
        let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
        let (dir, cert, key) = write_leaf(&leaf, "client");
        let line = std::iter::once(xpart_bin().to_string())
            .chain(std::iter::once("credential-process".to_string()))
            .chain(flags(tb, &c, &cert, &key))
            .collect::<Vec<_>>()
            .join(" ");
        let config = dir.join("aws-config");
        std::fs::write(
            &config,
            format!(
                "[profile x]\nregion = {}\ncredential_process = {line}\n",
                tb.region(side)
            ),
        )
        .unwrap();
        let run = || {
            Command::new("aws")
                .args(["--profile", "x", "secretsmanager", "get-secret-value"])
                .args(["--secret-id", &c.secret_id])
                .args([
                    "--endpoint-url",
                    tb.endpoint(side),
                    "--region",
                    tb.region(side),
                ])
                .env("AWS_CONFIG_FILE", &config)
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env("XDG_CACHE_HOME", dir.join("xdg"))
                .env_remove("AWS_PROFILE")
                .env_remove("AWS_DEFAULT_PROFILE")
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN")
                .output()
                .expect("aws CLI on PATH")
        };
        let out = run();
        assert!(
            out.status.success(),
            "{side:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["SecretString"], SECRET);
        // The binary cached what it handed the CLI.
        let cached = std::fs::read_dir(dir.join("xdg/xpart/credentials"))
            .unwrap()
            .count();
        assert_eq!(cached, 1);
    }
}

// ---- the long-running modes: serve and update ------------------------------------------

/// A long-running `xpart credential-process` mode; its stderr lines as they come. Stopped
/// with SIGTERM when dropped (and killed if that does not stop it).
struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Daemon {
    fn start(args: &[String], env: &[(&str, &Path)]) -> Daemon {
        let mut c = Command::new(xpart_bin());
        c.arg("credential-process")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("start xpart");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines }
    }

    /// The first stderr line containing `needle`, within `limit`.
    fn line_with(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        let mut seen = vec![];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no line with {needle:?} within {limit:?}; saw: {seen:#?}"),
            }
        }
    }

    /// SIGTERM, and how it ended (None: still running after `limit`, then killed).
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client process with only the credential source `set` gives it: no profile, no keys, no
/// instance metadata elsewhere.
fn bare(cmd: &mut Command, set: &[(&str, &str)]) {
    for k in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    for (k, v) in set {
        cmd.env(k, v);
    }
}

/// boto3 (tests/clients/imds_read.py) reads the chain's secret with only `set` as its
/// credential source: its answer (secret, access key, provider, and the probe's statuses).
fn boto3_reads(tb: &Testbed, c: &Chain, set: &[(&str, &str)], probe: Option<&str>) -> Value {
    let mut cmd = Command::new(tb.python());
    cmd.arg(crate::harness::repo().join("tests/clients/imds_read.py"))
        .args([
            "--endpoint",
            tb.endpoint(c.side),
            "--region",
            tb.region(c.side),
        ])
        .args(["--secret-id", &c.secret_id]);
    if let Some(p) = probe {
        cmd.args(["--probe", p]);
    }
    serde_json::from_slice(&run_bare(cmd, set, "boto3")).unwrap()
}

/// Run a client with only `set` as its credential source (`bare`), bounded; its stdout, once
/// it succeeded.
fn run_bare(mut cmd: Command, set: &[(&str, &str)], what: &str) -> Vec<u8> {
    bare(&mut cmd, set);
    let out = crate::harness::output_within(&mut cmd, Duration::from_secs(60)).unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The aws CLI against the chain's partition with only `set` as its credential source: its
/// text output.
fn aws_text(tb: &Testbed, side: Side, args: &[&str], set: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args([
            "--endpoint-url",
            tb.endpoint(side),
            "--region",
            tb.region(side),
        ])
        .args(["--output", "text"]);
    String::from_utf8_lossy(&run_bare(cmd, set, "aws CLI"))
        .trim()
        .to_string()
}

/// The aws CLI reads the chain's secret with only `set` as its credential source.
fn cli_reads(tb: &Testbed, c: &Chain, set: &[(&str, &str)]) -> String {
    let id = c.secret_id.as_str();
    let args = [
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        id,
        "--query",
        "SecretString",
    ];
    aws_text(tb, c.side, &args, set)
}

/// What the renewal path does: a new certificate and key from the same CA, each written
/// whole and renamed over the old file.
fn renew(c: &Chain, cert: &Path, key: &Path) {
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let dir = tempdir("renew");
    let (new_cert, new_key) = leaf.write(&dir, "client");
    for (from, to) in [(&new_key, key), (&new_cert, cert)] {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
}

/// `serve`: boto3's instance-metadata provider and the aws CLI, pointed at it, read the
/// secret (IMDSv2: a token first; no token, a forwarded request or a bad TTL are refused);
/// after the renewal path replaced the certificate, the same server hands out credentials of
/// a new session, which both still read with; SIGTERM stops it at once with exit 0.
#[test]
fn serve_feeds_the_instance_metadata_provider_and_follows_a_renewal() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (_dir, cert, key) = write_leaf(&leaf, "client");
    let mut args = vec!["serve".to_string(), "--port".into(), "0".into()];
    args.extend(flags(tb, &c, &cert, &key));
    let mut d = Daemon::start(&args, &[]);
    let line = d.line_with("serving credentials on", Duration::from_secs(30));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .to_string();
    let set = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str())];

    let first = boto3_reads(tb, &c, &set, Some(&url));
    assert_eq!(first["secret"], SECRET);
    assert_eq!(first["method"], "iam-role", "{first}");
    assert_eq!(
        first["probe"],
        serde_json::json!({"no_token": 401, "forwarded": 400, "bad_ttl": 400, "bad_token": 401})
    );
    assert_eq!(cli_reads(tb, &c, &set), SECRET);
    // The same credentials while they are fresh and the certificate is the same.
    assert_eq!(
        boto3_reads(tb, &c, &set, None)["access_key"],
        first["access_key"]
    );

    renew(&c, &cert, &key);
    let after = boto3_reads(tb, &c, &set, None);
    assert_eq!(after["secret"], SECRET);
    assert_ne!(
        after["access_key"], first["access_key"],
        "a new session for the new certificate"
    );
    assert_eq!(cli_reads(tb, &c, &set), SECRET);

    let ended = d.terminate(Duration::from_secs(5));
    assert!(
        ended.is_some_and(|s| s.success()),
        "SIGTERM stops serve: {ended:?}"
    );
}

/// The access key id of `profile` in a shared credentials file, if it has one.
fn profile_key(path: &Path, profile: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{profile}]");
        } else if inside {
            if let Some(v) = t.strip_prefix("aws_access_key_id = ") {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// `update`: `--once` writes the profile (mode 0600) and keeps the file's other profiles; the
/// aws CLI and boto3 read the secret through it. Left running, it writes credentials of a new
/// session soon after the renewal path replaced the certificate, which both still read with.
#[test]
fn update_keeps_a_credentials_file_profile_fresh_across_a_renewal() {
    let tb = testbed();
    let c = rt().block_on(chain(tb, Side::Commercial));
    let leaf = c.ca.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let file = dir.join("aws/credentials");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        "# a colleague's\n[keep]\naws_access_key_id = KEEPME\nregion = x\n",
    )
    .unwrap();
    let env = [("AWS_SHARED_CREDENTIALS_FILE", file.as_path())];

    let mut once = Command::new(xpart_bin());
    once.args(["credential-process", "update", "--once", "--profile", "ra"])
        .args(flags(tb, &c, &cert, &key))
        .env("AWS_SHARED_CREDENTIALS_FILE", &file);
    let out = crate::harness::output_within(&mut once, Duration::from_secs(60)).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# a colleague's\n[keep]\naws_access_key_id = KEEPME\nregion = x\n"),
        "{text}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    let first = profile_key(&file, "ra").expect("the profile is written");
    let set = [
        ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
        ("AWS_PROFILE", "ra"),
    ];
    assert_eq!(cli_reads(tb, &c, &set), SECRET);
    let got = boto3_reads(tb, &c, &set, None);
    assert_eq!(
        (got["secret"].as_str(), got["access_key"].as_str()),
        (Some(SECRET), Some(first.as_str()))
    );

    // Left running: it keeps the profile and follows the renewal.
    let d = Daemon::start(
        &[
            vec!["update".to_string(), "--profile".into(), "ra".into()],
            flags(tb, &c, &cert, &key),
        ]
        .concat(),
        &env,
    );
    d.line_with("profile [ra]", Duration::from_secs(30));
    let running = profile_key(&file, "ra").unwrap();
    renew(&c, &cert, &key);
    d.line_with("profile [ra]", Duration::from_secs(30));
    let renewed = profile_key(&file, "ra").unwrap();
    assert_ne!(renewed, running, "new credentials after the renewal");
    assert_eq!(cli_reads(tb, &c, &set), SECRET);
    assert_eq!(
        boto3_reads(tb, &c, &set, None)["access_key"],
        renewed.as_str()
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("KEEPME"));
}

/// aws_signing_helper's README, section "credential-process": its example command, verbatim.
const HELPER_EXAMPLE: &str = r#"/path/to/aws_signing_helper credential-process \
    --certificate credential-process-data/client-cert.pem \
    --private-key credential-process-data/client-key.pem \
    --role-arn <your-role-arn> \
    --trust-anchor-arn ${TA_ARN} \
    --profile-arn ${PROFILE_ARN}"#;

/// The same section's sentence on the optional flags, verbatim.
const HELPER_OPTIONAL: &str = "Optional parameters that can be used are `--debug` (to provide debugging output about the request sent), `--no-verify-ssl` (to skip verification of the SSL certificate on the endpoint called), `--intermediates` (the path to intermediate certificates), `--with-proxy` (to make the binary proxy aware), `--endpoint` (the endpoint to call), `--region` (the region to scope the request to), `--session-duration` (the duration of the vended session), and `--role-session-name` (an identifier of the role session).";

/// A `credential_process` line written for aws_signing_helper, with every flag its README
/// documents for files (the example's five and the eight optional ones: thirteen), works
/// with xpart by changing the program name alone: the aws CLI reads the secret through it, as
/// the named session, through the intermediate CA.
#[test]
fn a_profile_line_written_for_the_helper_works_with_xpart() {
    let tb = testbed();
    let side = Side::Commercial;
    let c = rt().block_on(async {
        let c = chain(tb, side).await;
        let ra = aws_sdk_rolesanywhere::Client::new(&tb.sdk(side).await);
        sent!(ra
            .update_profile()
            .profile_id(&c.profile_id)
            .accept_role_session_name(true));
        c
    });
    let inter = c.ca.intermediate(&unique("intermediate"));
    let leaf = inter.issue_with("workload", KeyAlg::P256, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    let bundle = dir.join("intermediates.pem");
    std::fs::write(&bundle, &inter.pem).unwrap();

    // The example, its placeholders filled in, on one line as a profile holds it.
    let example = HELPER_EXAMPLE
        .replace("\\\n", " ")
        .replace(
            "credential-process-data/client-cert.pem",
            cert.to_str().unwrap(),
        )
        .replace(
            "credential-process-data/client-key.pem",
            key.to_str().unwrap(),
        )
        .replace("<your-role-arn>", &c.role_arn)
        .replace("${TA_ARN}", &c.anchor_arn)
        .replace("${PROFILE_ARN}", &c.profile_arn);
    let optional: Vec<&str> = HELPER_OPTIONAL
        .split('`')
        .filter(|w| w.starts_with("--"))
        .collect();
    assert_eq!(optional.len(), 8, "{optional:?}");
    let value = |flag: &str| -> Option<String> {
        match flag {
            "--debug" | "--no-verify-ssl" | "--with-proxy" => None,
            "--intermediates" => Some(bundle.to_str().unwrap().into()),
            "--endpoint" => Some(tb.endpoint(side).into()),
            "--region" => Some(tb.region(side).into()),
            "--session-duration" => Some("900".into()),
            "--role-session-name" => Some("helper-line".into()),
            other => panic!("a flag of the helper's README this test does not know: {other}"),
        }
    };
    let mut line = example.split_whitespace().collect::<Vec<_>>().join(" ");
    for flag in &optional {
        line.push(' ');
        line.push_str(flag);
        if let Some(v) = value(flag) {
            line.push(' ');
            line.push_str(&v);
        }
    }
    let flags: std::collections::BTreeSet<&str> =
        line.split(' ').filter(|w| w.starts_with("--")).collect();
    assert_eq!(flags.len(), 13, "{flags:?}");
    // The program name is all that changes.
    let line = line.replacen("/path/to/aws_signing_helper", xpart_bin(), 1);
    let config = dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile helper]\nregion = {}\ncredential_process = {line}\n",
            tb.region(side)
        ),
    )
    .unwrap();
    let xdg = dir.join("xdg");
    let set = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_PROFILE", "helper"),
        ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
    ];
    let arn = aws_text(
        tb,
        side,
        &["sts", "get-caller-identity", "--query", "Arn"],
        &set,
    );
    assert_eq!(arn, format!("{}helper-line", assumed_role_prefix(&c)));
    assert_eq!(cli_reads(tb, &c, &set), SECRET);
}
