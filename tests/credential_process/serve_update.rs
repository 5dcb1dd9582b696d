//! `serve` and `update`: credentials kept fresh across a renewal, and the AWS helper's own profile line.

use super::*;

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
    let (c, _, _dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::P256);
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
    let (c, _, dir, cert, key) = chain_with_leaf(tb, Side::Commercial, KeyAlg::P256);
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
    let config = profile_config(&dir, "helper", tb.region(side), &line);
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
