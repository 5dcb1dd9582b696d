//! credential-process through the library: keys, signatures, session names, the chain, and what it refuses.

use super::*;

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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::China, KeyAlg::P256);
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
    let (c, leaf, dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::Rsa2048);
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
        let mut openssl = Command::new("openssl");
        openssl
            .args(["pkey", "-traditional", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&trad);
        crate::harness::stdout_of(&mut openssl);
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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::P256);

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
    let (c, _, _dir, cert, key) = chain_with_leaf(tb, Side::China, KeyAlg::P256);
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
