//! The China EC2 workload's user data: a bash script that installs the workload's Roles Anywhere
//! certificate and key, the credential helper, and an AWS CLI profile for the target partition.
//!
//! The script is a fixed body, `src/bootstrap/bootstrap.sh` (linted by shellcheck on its own and
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
mod tests;
