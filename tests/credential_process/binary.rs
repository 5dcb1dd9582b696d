//! credential-process as a binary: its cache, retries, proxies, TLS, and the aws CLI reading it.

use super::*;

fn stat(tb: &Testbed, side: Side, what: &str, name: &str) -> u64 {
    tb.stats(side)[what][name].as_u64().unwrap_or(0)
}

#[test]
fn credential_process_cache_saves_create_session_calls() {
    let tb = Testbed::private();
    let side = Side::Commercial;
    let (c, _, dir, cert, key) = chain_with_leaf(&tb, side, KeyAlg::P256);
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
    let (c, _, dir, cert, key) = chain_with_leaf(&tb, side, KeyAlg::P384);
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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::P256);
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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::China, KeyAlg::Rsa2048);
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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::P384);
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
        let (c, _, dir, cert, key) = chain_with_leaf(tb, side, KeyAlg::P256);
        let line = std::iter::once(xpart_bin().to_string())
            .chain(std::iter::once("credential-process".to_string()))
            .chain(flags(tb, &c, &cert, &key))
            .collect::<Vec<_>>()
            .join(" ");
        let config = profile_config(&dir, "x", tb.region(side), &line);
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
