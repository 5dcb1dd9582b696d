//! The China EC2 workload's user data: a bash script that installs the workload's Roles Anywhere
//! certificate and key, the credential helper, and an AWS CLI profile for the target partition.
//!
//! The script is a fixed body, `src/bootstrap.sh` (linted by shellcheck on its own and
//! rendered), below a header of inputs, one `input NAME 'value'` line each, values in single
//! quotes. A variable already set in the script's environment wins over its rendered value, so
//! tests run the very script an instance gets, with `ROOT` (a scratch dir every path goes
//! under), `RUN_AS` and the test-bed's endpoints set from outside.
//!
//! User data is readable by anything on the instance that can reach the metadata service, so it
//! carries no secret: the client key travels through Secrets Manager (`key_secret`, read with
//! the instance role), and a private key found in the settings is refused.
//!
//! Settings (the instance's `bootstrap` mapping): `run_as`, `key_secret`,
//! `trust_anchor_arn`, `profile_arn`, `role_arn`, `target_region` and `aws_profile` are
//! required; `certificate` (without it the key secret carries the certificate too, so a
//! renewal never changes the user data), `helper` (`aws_signing_helper`, the default, or
//! `xpart`), `helper_url`, `xpart_url` (https, or `s3://bucket/key` in the workload's own
//! partition, so nothing need cross the firewall at boot), `awscli_url`, their
//! `helper_sha256`, `xpart_sha256` and `awscli_sha256` (required with a URL the plan names:
//! every binary downloaded is checked before anything is installed) and `refresh_minutes` are
//! optional.

use serde_json::Value as Json;

use crate::plan::PartitionDef;

/// EC2's limit on user data, before base64.
pub const MAX_USER_DATA: usize = 16 * 1024;

/// Where aws_signing_helper 1.8.3 is: the newest release the field reports name (1.8.3 stops
/// `serve` on SIGTERM), at the path form the seed runbook found to work (`releases/<version>/
/// X86_64/Linux/Amzn2023/`; other paths answer S3's AccessDenied).
pub const DEFAULT_HELPER_URL: &str =
    "https://rolesanywhere.amazonaws.com/releases/1.8.3/X86_64/Linux/Amzn2023/aws_signing_helper";

/// The SHA-256 of the binary at `DEFAULT_HELPER_URL`, as AWS publishes it beside the link
/// ("Get temporary security credentials from IAM Roles Anywhere"): None until someone who can
/// reach that page fills it in. Without it, the default download is made and said to be
/// unchecked (`helper_sha256` in the plan checks it).
pub const DEFAULT_HELPER_SHA256: Option<&str> = None;

/// AWS CLI v2, installed when the image has no `aws` (Ubuntu's images have none).
pub const DEFAULT_AWSCLI_URL: &str = "https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip";

/// The script's body: everything below the inputs.
pub const BODY: &str = include_str!("bootstrap.sh");

/// What a setting's value may be.
#[derive(Clone, Copy)]
enum Check {
    /// A user name: it becomes a path and an owner.
    User,
    Arn,
    Region,
    /// An AWS config profile name.
    Profile,
    Certificate,
    Helper,
    /// An https URL, or empty for none.
    Url,
    /// An https URL or an S3 object (`s3://bucket/key`, fetched with the instance role in the
    /// workload's own partition), or empty for none.
    Fetch,
    /// A SHA-256 digest (64 hex digits), or empty for none.
    Sha256,
    /// 1 to 1440 minutes.
    Minutes,
}

/// One plan setting: its key, the shell variable it sets, and its default (None: required).
struct Setting {
    key: &'static str,
    var: &'static str,
    default: Option<&'static str>,
    kind: Check,
}

const SETTINGS: &[Setting] = &[
    Setting {
        key: "run_as",
        var: "RUN_AS",
        default: None,
        kind: Check::User,
    },
    Setting {
        key: "key_secret",
        var: "KEY_SECRET_ARN",
        default: None,
        kind: Check::Arn,
    },
    Setting {
        key: "certificate",
        var: "CERT_PEM",
        // Empty: the key secret holds the certificate too (a PEM bundle), so a renewal
        // changes the secret and never the user data.
        default: Some(""),
        kind: Check::Certificate,
    },
    Setting {
        key: "trust_anchor_arn",
        var: "TRUST_ANCHOR_ARN",
        default: None,
        kind: Check::Arn,
    },
    Setting {
        key: "profile_arn",
        var: "PROFILE_ARN",
        default: None,
        kind: Check::Arn,
    },
    Setting {
        key: "role_arn",
        var: "ROLE_ARN",
        default: None,
        kind: Check::Arn,
    },
    Setting {
        key: "target_region",
        var: "TARGET_REGION",
        default: None,
        kind: Check::Region,
    },
    Setting {
        key: "aws_profile",
        var: "AWS_PROFILE_NAME",
        default: None,
        kind: Check::Profile,
    },
    Setting {
        key: "helper",
        var: "HELPER",
        default: Some("aws_signing_helper"),
        kind: Check::Helper,
    },
    Setting {
        key: "helper_url",
        var: "HELPER_URL",
        default: Some(DEFAULT_HELPER_URL),
        kind: Check::Fetch,
    },
    Setting {
        key: "helper_sha256",
        var: "HELPER_SHA256",
        default: Some(""),
        kind: Check::Sha256,
    },
    Setting {
        key: "xpart_url",
        var: "XPART_URL",
        default: Some(""),
        kind: Check::Fetch,
    },
    Setting {
        key: "xpart_sha256",
        var: "XPART_SHA256",
        default: Some(""),
        kind: Check::Sha256,
    },
    Setting {
        key: "awscli_url",
        var: "AWSCLI_URL",
        default: Some(DEFAULT_AWSCLI_URL),
        kind: Check::Url,
    },
    Setting {
        key: "awscli_sha256",
        var: "AWSCLI_SHA256",
        default: Some(""),
        kind: Check::Sha256,
    },
    Setting {
        key: "refresh_minutes",
        var: "REFRESH_MINUTES",
        default: Some("15"),
        kind: Check::Minutes,
    },
];

/// `s` in single quotes, each `'` as `'\''`: nothing in it is expanded by the shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The characters the script lets stand unquoted on the credential_process line.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@+=,-".contains(c))
}

fn check_value(key: &str, kind: Check, v: &str) -> Result<(), String> {
    let ok = match kind {
        Check::User => {
            v.len() <= 32
                && v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        }
        Check::Arn => v.starts_with("arn:") && plain(v),
        Check::Region => {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }
        Check::Profile => {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }
        Check::Certificate => {
            v.is_empty() || v.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
        }
        Check::Minutes => {
            v.parse::<u16>().is_ok_and(|m| (1..=1440).contains(&m)) && !v.starts_with('0')
        }
        Check::Helper => v == "xpart" || v == "aws_signing_helper",
        Check::Url => {
            v.is_empty() || (v.starts_with("https://") && !v.chars().any(|c| c.is_whitespace()))
        }
        Check::Fetch => {
            v.is_empty()
                || (v.starts_with("https://") && !v.chars().any(|c| c.is_whitespace()))
                || v.strip_prefix("s3://").is_some_and(|rest| {
                    rest.split_once('/')
                        .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
                        && plain(v)
                })
        }
        Check::Sha256 => {
            v.is_empty() || (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        }
    };
    if ok {
        return Ok(());
    }
    let what = match kind {
        Check::User => "a user name (lowercase letters, digits, _ and -)",
        Check::Arn => "an ARN (arn:…, without spaces or quotes)",
        Check::Region => "a region name",
        Check::Profile => "a profile name (letters, digits, _ . -)",
        Check::Certificate => "a PEM certificate (-----BEGIN CERTIFICATE-----…)",
        Check::Helper => "xpart or aws_signing_helper",
        Check::Url => "an https:// URL",
        Check::Fetch => "an https:// URL or an S3 object (s3://bucket/key)",
        Check::Sha256 => "a SHA-256 digest (64 hex digits)",
        Check::Minutes => "a whole number of minutes, 1 to 1440",
    };
    Err(format!("bootstrap.{key} must be {what}; got {v:?}"))
}

/// Check bootstrap `settings` as far as they are known: no private key, no unknown or missing
/// setting, and every value that is known well-formed. Values still reading `unknown::Unknown`
/// pass, so this works while planning, before the references are created.
pub fn check(settings: &Json) -> Result<(), String> {
    inputs(settings, true).map(|_| ())
}

/// The shell variables for `settings`, defaults filled in; `allow_unknown` lets values that
/// are not known yet through unchecked.
fn inputs(settings: &Json, allow_unknown: bool) -> Result<Vec<(&'static str, String)>, String> {
    let Json::Object(map) = settings else {
        return Err("bootstrap: expected a mapping of settings".into());
    };
    if let Some(path) = private_key(settings, "bootstrap") {
        return Err(format!(
            "{path} holds a private key; user data is readable on the instance, so pass the key \
             through a secret (key_secret) instead"
        ));
    }
    if let Some(k) = map
        .keys()
        .find(|k| !SETTINGS.iter().any(|s| s.key == k.as_str()))
    {
        let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        return Err(format!(
            "bootstrap.{k} is not a setting; the settings are {}",
            known.join(", ")
        ));
    }
    let mut out = Vec::new();
    for s in SETTINGS {
        let value = match (map.get(s.key), s.default) {
            (None | Some(Json::Null), Some(d)) => d.to_string(),
            (None | Some(Json::Null), None) => {
                return Err(format!("bootstrap.{} is required", s.key))
            }
            (Some(Json::String(v)), _) => v.clone(),
            (Some(v @ (Json::Number(_) | Json::Bool(_))), _) => v.to_string(),
            (Some(_), _) => return Err(format!("bootstrap.{} must be a string", s.key)),
        };
        if crate::unknown::Unknown::within(&value) {
            if allow_unknown {
                continue;
            }
            return Err(format!("bootstrap.{} is not known before apply", s.key));
        }
        check_value(s.key, s.kind, &value)?;
        out.push((s.var, value));
    }
    pinned(&mut out)?;
    Ok(out)
}

/// Every download the script makes is checked against a SHA-256 from the plan, except the
/// defaults (the helper's digest is built in when known; the AWS CLI's default URL is its
/// "latest", whose digest changes with each release): a URL the plan names comes with its
/// digest. Digests go to the script in lower case. A setting not known yet (while planning) is
/// not in `vars`, and so not held against the rule.
fn pinned(vars: &mut [(&'static str, String)]) -> Result<(), String> {
    for (url_var, sha_var, default) in [
        ("HELPER_URL", "HELPER_SHA256", DEFAULT_HELPER_URL),
        ("XPART_URL", "XPART_SHA256", ""),
        ("AWSCLI_URL", "AWSCLI_SHA256", DEFAULT_AWSCLI_URL),
    ] {
        let url = vars
            .iter()
            .find(|(v, _)| *v == url_var)
            .map(|(_, u)| u.clone());
        let Some(slot) = vars.iter_mut().find(|(v, _)| *v == sha_var) else {
            continue;
        };
        slot.1 = slot.1.to_ascii_lowercase();
        if slot.1.is_empty() && url.as_deref() == Some(DEFAULT_HELPER_URL) {
            slot.1 = DEFAULT_HELPER_SHA256.unwrap_or_default().to_string();
        }
        if slot.1.is_empty() && url.is_some_and(|u| !u.is_empty() && u != default) {
            // The settings' keys are their variables' names in lower case.
            return Err(format!(
                "bootstrap.{} is required with bootstrap.{}: the script checks every binary it \
                 downloads against the SHA-256 the plan gives (`sha256sum FILE`)",
                sha_var.to_ascii_lowercase(),
                url_var.to_ascii_lowercase()
            ));
        }
    }
    Ok(())
}

/// The user data script for an instance in partition `def` with bootstrap `settings` (the
/// instance's `bootstrap` mapping, references rendered: the caller never passes
/// `unknown::Unknown`, and gets an error if it does).
pub fn user_data(settings: &Json, def: &PartitionDef) -> Result<String, String> {
    let mut vars: Vec<(&str, String)> = vec![("ROOT", String::new())];
    vars.extend(inputs(settings, false)?);
    vars.extend([
        ("SECRETS_REGION", def.region.clone()),
        // For tests: the test-bed's Secrets Manager and S3, and flags for the helper (`--endpoint …`).
        ("SECRETS_ENDPOINT_URL", String::new()),
        ("S3_ENDPOINT_URL", String::new()),
        ("CREDENTIAL_PROCESS_EXTRA", String::new()),
    ]);
    let script = format!("{}\n{BODY}", header(def, &vars));
    if script.contains("PRIVATE KEY-----") {
        return Err("bootstrap: the user data would hold a private key".into());
    }
    if script.len() > MAX_USER_DATA {
        return Err(format!(
            "bootstrap: the user data is {} bytes; EC2 takes at most {MAX_USER_DATA}",
            script.len()
        ));
    }
    Ok(script)
}

/// The script's first lines: shell options and the inputs.
fn header(def: &PartitionDef, inputs: &[(&str, String)]) -> String {
    let mut h = format!(
        "#!/bin/bash\n\
         # Written by xpart for an instance in {} ({}): installs the workload's Roles Anywhere\n\
         # certificate, key (from Secrets Manager), credential helper and AWS CLI profile.\n\
         # No secrets here.\n\
         set -euo pipefail\n\
         umask 077\n\
         \n\
         # Inputs: a variable already set in the environment wins over the value here.\n\
         input() {{ [ -n \"${{!1+set}}\" ] || printf -v \"$1\" '%s' \"$2\"; }}\n\
         # shellcheck disable=SC2016 # the values are literal: nothing in them is expanded\n\
         {{\n",
        def.region,
        def.partition.id(),
    );
    for (var, value) in inputs {
        h.push_str(&format!("  input {var} {}\n", sh_quote(value)));
    }
    h.push_str("}\n");
    h
}

/// The path of the first string that holds a PEM private key.
fn private_key(v: &Json, path: &str) -> Option<String> {
    match v {
        Json::String(s) => s.contains("PRIVATE KEY-----").then(|| path.to_string()),
        Json::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| private_key(x, &format!("{path}[{i}]"))),
        Json::Object(m) => m
            .iter()
            .find_map(|(k, x)| private_key(x, &format!("{path}.{k}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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
        assert!(DEFAULT_HELPER_URL
            .ends_with("/releases/1.8.3/X86_64/Linux/Amzn2023/aws_signing_helper"));
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
        let marker =
            std::env::temp_dir().join(format!("xpart-bootstrap-pwned-{}", std::process::id()));
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
        let err =
            user_data(&with("certificate", json!(format!("{CERT}{key}"))), &def()).unwrap_err();
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
}
