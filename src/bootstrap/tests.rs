//! Unit tests of the user data: rendering, digests, pinned downloads and the checks on settings.

use super::*;
use crate::partition::Partition;
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn def() -> PartitionDef {
    PartitionDef::new(
        "china",
        Partition::AwsCn,
        serde_yaml::from_str("region: cn-north-1").unwrap(),
    )
}

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn settings() -> Json {
    json!({
        "run_as": "ubuntu",
        "key_secret": "arn:aws-cn:secretsmanager:cn-north-1:444455556666:secret:xpart/workload-key-dev-AbCdEf",
        "certificate": CERT,
        "trust_anchor_arn": "arn:aws:rolesanywhere:us-west-2:111122223333:trust-anchor/ta",
        "profile_arn": "arn:aws:rolesanywhere:us-west-2:111122223333:profile/p",
        "role_arn": "arn:aws:iam::111122223333:role/xpart-secret-reader-dev",
        "target_region": "us-west-2",
        "aws_profile": "commercial",
    })
}

fn with(k: &str, v: Json) -> Json {
    let mut s = settings();
    s[k] = v;
    s
}

/// The values `bash` sees for `vars` after running the script's header.
fn header_values(script: &str, vars: &[&str]) -> Vec<String> {
    let header = &script[..script.find(BODY).unwrap()];
    let mut src = header.to_string();
    for v in vars {
        src.push_str(&format!("printf '%s\\0' \"${v}\"\n"));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&src)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(String::from)
        .collect()
}

#[test]
fn renders_inputs_above_the_body() {
    let script = user_data(&settings(), &def()).unwrap();
    assert!(script.starts_with("#!/bin/bash\n"));
    assert!(script.ends_with(BODY));
    assert!(script.contains("set -euo pipefail\numask 077\n"));
    assert!(script.contains("\n  input RUN_AS 'ubuntu'\n"));
    assert!(script.contains("\n  input SECRETS_REGION 'cn-north-1'\n"));
    assert!(script.contains(&format!("\n  input HELPER_URL '{DEFAULT_HELPER_URL}'\n")));
    assert!(
        DEFAULT_HELPER_URL.ends_with("/releases/1.8.3/X86_64/Linux/Amzn2023/aws_signing_helper")
    );
    let got = header_values(
        &script,
        &["ROOT", "CERT_PEM", "HELPER", "XPART_URL", "ROLE_ARN"],
    );
    assert_eq!(
        got,
        [
            "",
            CERT,
            "aws_signing_helper",
            "",
            settings()["role_arn"].as_str().unwrap()
        ]
    );
    // The same settings give the same script (its hash is compared with the live one).
    assert_eq!(script, user_data(&settings(), &def()).unwrap());
}

#[test]
fn every_download_a_plan_names_comes_with_its_digest() {
    let digest = "AB".repeat(32);
    for (url_key, sha_key, url) in [
        (
            "helper_url",
            "helper_sha256",
            "https://mirror.example.cn/aws_signing_helper",
        ),
        (
            "xpart_url",
            "xpart_sha256",
            "s3://tools-bucket/xpart/0.1.0/xpart",
        ),
        (
            "awscli_url",
            "awscli_sha256",
            "https://mirror.example.cn/awscli.zip",
        ),
    ] {
        let e = user_data(&with(url_key, json!(url)), &def()).unwrap_err();
        assert!(
            e.contains(&format!(
                "bootstrap.{sha_key} is required with bootstrap.{url_key}"
            )),
            "{e}"
        );
        let mut s = with(url_key, json!(url));
        s[sha_key] = json!(digest);
        let script = user_data(&s, &def()).unwrap();
        let var = sha_key.to_ascii_uppercase();
        // Lower case, as sha256sum prints it.
        assert_eq!(
            header_values(&script, &[&var]),
            [digest.to_ascii_lowercase()]
        );
        // Not known while planning: not held against the plan yet.
        let mut s = with(url_key, json!(url));
        s[sha_key] = json!(format!("{}", crate::unknown::Unknown::TEXT));
        check(&s).unwrap();
    }
    // The defaults need none.
    user_data(&settings(), &def()).unwrap();
    for (key, bad) in [
        ("helper_sha256", "abc"),
        ("helper_sha256", &"g".repeat(64)),
        ("xpart_url", "s3://bucket-only"),
        ("xpart_url", "s3://b/k with space"),
        ("xpart_url", "http://plain.example/x"),
        ("awscli_url", "s3://b/awscli.zip"),
    ] {
        let e = user_data(&with(key, json!(bad)), &def()).unwrap_err();
        assert!(
            e.starts_with(&format!("bootstrap.{key} must be")),
            "{key}={bad}: {e}"
        );
    }
}

#[test]
fn hostile_values_cannot_break_out_of_their_quotes() {
    let marker = std::env::temp_dir().join(format!("xpart-bootstrap-pwned-{}", std::process::id()));
    let m = marker.display();
    let hostile = [
        format!("'; touch {m}; '"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("\"; touch {m}; \""),
        format!("x'\\''\ntouch {m}\n'"),
        format!("'\n\ntouch {m} #\\"),
        "${HOME} $PATH \\ \\' '' ''' \t end".to_string(),
    ];
    for h in &hostile {
        let quoted = sh_quote(h);
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("v={quoted}; printf '%s' \"$v\""))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *h);
        // Through the whole header too, in the one free-form setting.
        let cert = format!("{CERT}{h}");
        let script = user_data(&with("certificate", json!(cert)), &def()).unwrap();
        assert_eq!(header_values(&script, &["CERT_PEM"]), [cert]);
    }
    assert!(!marker.exists(), "a value ran as a command");
    // Values that end up in paths, on the credential_process line or in the config file are
    // refused rather than quoted.
    for (k, v) in [
        ("run_as", "ubuntu; rm -rf /"),
        ("run_as", "../etc"),
        ("role_arn", "arn:aws:iam::1:role/x\n[profile evil]"),
        ("trust_anchor_arn", "arn:aws:x $(id)"),
        ("aws_profile", "commercial]\ncredential_process = evil"),
        ("target_region", "us-west-2\nfoo"),
        ("helper", "curl"),
        ("helper_url", "http://example.com/helper"),
        ("certificate", "not a certificate"),
    ] {
        let err = user_data(&with(k, json!(v)), &def()).unwrap_err();
        assert!(err.contains(&format!("bootstrap.{k}")), "{k}={v:?}: {err}");
    }
}

#[test]
fn refuses_private_keys() {
    let key = format!(
        "-----BEGIN {}-----\nabc\n-----END PRIVATE KEY-----\n",
        "PRIVATE KEY"
    );
    let err = user_data(&json!({"key": key}), &def()).unwrap_err();
    assert!(
        err.contains("bootstrap.key") && err.contains("private key"),
        "{err}"
    );
    let err = user_data(&with("certificate", json!(format!("{CERT}{key}"))), &def()).unwrap_err();
    assert!(err.contains("bootstrap.certificate"), "{err}");
    let ec = key.replace("PRIVATE KEY", "EC PRIVATE KEY");
    assert!(user_data(&with("aws_profile", json!(ec)), &def()).is_err());
    // The body checks for a key by its pieces, never by the whole marker.
    assert!(!BODY.contains("PRIVATE KEY-----"));
}

#[test]
fn refuses_missing_unknown_and_unresolved_settings() {
    let mut s = settings();
    s.as_object_mut().unwrap().remove("role_arn");
    assert!(user_data(&s, &def())
        .unwrap_err()
        .contains("bootstrap.role_arn is required"));
    let err = user_data(&with("helpr", json!("xpart")), &def()).unwrap_err();
    assert!(err.contains("bootstrap.helpr is not a setting"), "{err}");
    let err = user_data(
        &with("role_arn", Json::from(crate::unknown::Unknown)),
        &def(),
    )
    .unwrap_err();
    assert!(err.contains("not known"), "{err}");
    assert!(user_data(&json!("run_as"), &def()).is_err());
    assert!(user_data(&with("role_arn", json!(["a"])), &def()).is_err());
    // While planning: what is known is checked, what is not passes.
    assert!(check(&with("role_arn", Json::from(crate::unknown::Unknown))).is_ok());
    assert!(check(&json!({"role_arn": crate::unknown::Unknown::TEXT}))
        .unwrap_err()
        .contains("is required"));
    assert!(check(&with("aws_profile", json!("a b")))
        .unwrap_err()
        .contains("bootstrap.aws_profile"));
    let big = format!("{CERT}{}", "A".repeat(MAX_USER_DATA));
    assert!(user_data(&with("certificate", json!(big)), &def())
        .unwrap_err()
        .contains("at most"));
}

// ---- the script itself, with stand-ins for aws and the helper ----

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpart-bootstrap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Run the rendered script under ROOT=`dir/root` with a stand-in `aws` (it prints a key)
/// and `xpart` on PATH.
/// `run` with the test endpoint, which must succeed.
fn run_ok(dir: &Path, script: &str) -> std::process::Output {
    let out = run(
        dir,
        script,
        &[("CREDENTIAL_PROCESS_EXTRA", "--endpoint http://127.0.0.1:1")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(dir: &Path, script: &str, env: &[(&str, &str)]) -> std::process::Output {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let key = format!(
        "-----BEGIN {}-----\nMIIEkey\n-----END {}-----",
        "PRIVATE KEY", "PRIVATE KEY"
    );
    executable(
        &bin.join("aws"),
        &format!("#!/bin/sh\nprintf '%s\\n' '{key}'\n"),
    );
    executable(&bin.join("xpart"), "#!/bin/sh\nexit 1\n");
    std::fs::write(dir.join("script"), script).unwrap();
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        bin.display()
    );
    Command::new("bash")
        .arg(dir.join("script"))
        .env_clear()
        .env("PATH", path)
        .env("ROOT", dir.join("root"))
        .env("RUN_AS", user())
        .env("HELPER", "xpart")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_script_writes_one_credential_process_line_and_keeps_other_profiles() {
    let dir = scratch("config");
    let script = user_data(&settings(), &def()).unwrap();
    let aws = dir.join(format!("root/home/{}/.aws", user()));
    std::fs::create_dir_all(&aws).unwrap();
    // An old section of the same name, written as the runbook did (continuation lines),
    // between two profiles that must stay.
    std::fs::write(
        aws.join("config"),
        "[default]\nregion = cn-north-1\n\n[profile commercial]\nregion = us-east-1\n\
         credential_process = /usr/local/bin/aws_signing_helper credential-process \\\n  --certificate /etc/ira/client.crt\n\n\
         [profile other]\nregion = eu-west-1\n",
    )
    .unwrap();
    let out = run_ok(&dir, &script);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("MIIEkey"),
        "the key is never printed"
    );
    let config = std::fs::read_to_string(aws.join("config")).unwrap();
    let home = aws.parent().unwrap().display().to_string();
    let xpart = dir.join("bin/xpart").display().to_string();
    let want_line = format!(
        "credential_process = {xpart} credential-process --certificate {home}/.aws/xpart/current/client.crt \
         --private-key {home}/.aws/xpart/current/client.key --trust-anchor-arn {} --profile-arn {} --role-arn {} \
         --endpoint http://127.0.0.1:1",
        settings()["trust_anchor_arn"].as_str().unwrap(),
        settings()["profile_arn"].as_str().unwrap(),
        settings()["role_arn"].as_str().unwrap(),
    );
    assert_eq!(
        config,
        format!(
            "[default]\nregion = cn-north-1\n\n[profile other]\nregion = eu-west-1\n\n\
             [profile commercial]\nregion = us-west-2\n{want_line}\n"
        )
    );
    let meta = std::fs::metadata(aws.join("config")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let key = std::fs::read_to_string(aws.join("xpart/current/client.key")).unwrap();
    assert!(key.ends_with("-----\n") && key.contains("MIIEkey"), "{key}");
    assert_eq!(
        std::fs::read_to_string(aws.join("xpart/current/client.crt")).unwrap(),
        CERT
    );
    // Again: the same files, and no temporary files left behind.
    run_ok(&dir, &script);
    assert_eq!(std::fs::read_to_string(aws.join("config")).unwrap(), config);
    let names = |d: &Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    // The same pair: one directory, `current` pointing at it, no copies beside.
    let pair = std::fs::read_link(aws.join("xpart/current")).unwrap();
    assert_eq!(
        names(&aws.join("xpart")),
        ["current".to_string(), pair.display().to_string()]
    );
    assert_eq!(
        names(&aws.join("xpart/current")),
        ["client.crt", "client.key"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_script_checks_values_set_from_outside() {
    let dir = scratch("refuse");
    let script = user_data(&settings(), &def()).unwrap();
    for (var, v) in [
        ("TRUST_ANCHOR_ARN", "arn:aws:x\n[profile evil]"),
        ("AWS_PROFILE_NAME", "a b"),
        ("HELPER", "curl"),
        ("ROOT", "relative/dir"),
        ("CREDENTIAL_PROCESS_EXTRA", "--endpoint $(id)"),
        ("RUN_AS", ""),
    ] {
        let out = run(&dir, &script, &[(var, v)]);
        assert!(!out.status.success(), "{var}={v:?} was accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(var),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !dir.join("root").exists(),
        "nothing is written before the inputs are checked"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
