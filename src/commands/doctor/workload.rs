//! `xpart doctor --workload`: the same questions from the workload's side, from what the
//! bootstrap left there. For each profile of the AWS config whose `credential_process` runs a
//! Roles Anywhere helper (`xpart` or `aws_signing_helper`, same flags): the helper is there
//! and runs; the certificate and key files, their owner and mode, and every check made before
//! a request (key matches certificate, validity, ARNs); the Roles Anywhere endpoint of the
//! other partition, step by step; the instance role's access to the key secret the refresher
//! reads (from `/usr/local/lib/xpart/refresh`); and one real CreateSession.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;

use super::net;
use super::verdict::Check;
use crate::credential_process::{self as cp, CredentialProcessArgs};

/// A `credential_process` line's flags, parsed as the helper's.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: CredentialProcessArgs,
}

/// One profile of the workload's AWS config that runs a Roles Anywhere helper.
struct Profile {
    name: String,
    program: String,
    args: Result<CredentialProcessArgs, String>,
}

/// The profiles of `config` (an AWS config file) whose `credential_process` runs
/// `credential-process` of a helper; only `only` when given.
fn profiles(config: &str, only: Option<&str>) -> Vec<Profile> {
    let mut out = vec![];
    let mut section: Option<String> = None;
    for line in config.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            let inner = t[1..t.len() - 1].trim();
            section = Some(
                inner
                    .strip_prefix("profile ")
                    .unwrap_or(inner)
                    .trim()
                    .to_string(),
            );
            continue;
        }
        let (Some(name), Some((k, v))) = (&section, t.split_once('=')) else {
            continue;
        };
        if k.trim() != "credential_process" || only.is_some_and(|o| o != name) {
            continue;
        }
        let words: Vec<&str> = v.split_whitespace().collect();
        if words.get(1) != Some(&"credential-process") {
            continue;
        }
        let args = Flags::try_parse_from(words[1..].iter())
            .map(|f| f.args)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string());
        out.push(Profile {
            name: name.clone(),
            program: words[0].to_string(),
            args,
        });
    }
    out
}

/// A `input NAME 'value'` line of the refresher the bootstrap saved.
fn input(script: &str, name: &str) -> Option<String> {
    let prefix = format!("input {name} '");
    script.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(&prefix)?;
        Some(rest.strip_suffix('\'')?.replace(r"'\''", "'"))
    })
}

fn user_name(uid: u32) -> String {
    crate::keyfile::owner_and_mode(Some(uid), None)
}

/// Check the workload. `config`: its AWS config file; `root`: where the bootstrap's paths are
/// (empty on a real instance).
pub async fn check(config: &Path, only: Option<&str>, root: &Path, report: &dyn Fn(Check)) {
    let t = Instant::now();
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            report(Check::new("workload", "AWS config", t).fail(
                format!("cannot read {}: {e}", config.display()),
                "no AWS config here: the bootstrap did not run, or for another user",
                "run doctor as the workload's user (sudo -u <run_as>), or pass --aws-config",
            ));
            return;
        }
    };
    let found = profiles(&text, only);
    if found.is_empty() {
        report(Check::new("workload", "AWS config", t).fail(
            format!(
                "{} has no profile whose credential_process runs a Roles Anywhere helper",
                config.display()
            ),
            "the bootstrap did not write its profile",
            "check the instance's user data log (/var/log/cloud-init-output.log)",
        ));
        return;
    }
    report(Check::new("workload", "AWS config", t).pass(format!(
        "{}: profile(s) {}",
        config.display(),
        found.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    )));
    for p in &found {
        profile(p, root, report).await;
    }
}

/// Every check of one profile, in the order the helper meets them; a check that leaves the
/// helper unable to run ends the profile's checks.
async fn profile(p: &Profile, root: &Path, report: &dyn Fn(Check)) {
    let name = format!("profile {}", p.name);
    let name = name.as_str();
    helper(name, &p.program, report);
    let args = match &p.args {
        Ok(a) => a,
        Err(e) => {
            report(
                Check::new(name, "credential_process flags", Instant::now()).fail(
                    e.clone(),
                    "the helper would refuse these flags",
                    "re-run the bootstrap: it writes the line",
                ),
            );
            return;
        }
    };
    key_files(name, args, report);
    let Some(endpoint) = certificate_and_key(name, args, report) else {
        return;
    };

    // The other partition's Roles Anywhere endpoint.
    if let Some(ep) = net::Endpoint::parse(&endpoint) {
        let (checks, _) = net::probe(name, &ep, net::Trust::Helper).await;
        for c in checks {
            report(c);
        }
    }
    refresher_secret(name, root, report).await;
    session(name, args, report).await;
}

/// The helper `program` is an executable file.
fn helper(name: &str, program: &str, report: &dyn Fn(Check)) {
    let t = Instant::now();
    let exe = Path::new(program);
    let c = Check::new(name, "helper", t);
    match std::fs::metadata(exe) {
        Ok(m) if m.is_file() && m.mode() & 0o111 != 0 => {
            report(c.pass(format!("{} ({})", exe.display(), user_name(m.uid()))))
        }
        Ok(_) => report(c.fail(
            format!("{} is not an executable file", exe.display()),
            "the credential process cannot start",
            "re-run the bootstrap, or install the helper",
        )),
        Err(e) => report(c.fail(
            format!("{}: {e}", exe.display()),
            "the credential process cannot start",
            "re-run the bootstrap (it installs the helper), or install it",
        )),
    }
}

/// The certificate and key files are there, with their owner and mode; a key every user
/// can read fails.
fn key_files(name: &str, args: &CredentialProcessArgs, report: &dyn Fn(Check)) {
    for (what, path) in [
        ("certificate", &args.certificate),
        ("private key", &args.private_key),
    ] {
        let t = Instant::now();
        let c = Check::new(name, format!("{what} file"), t);
        report(match std::fs::metadata(path) {
            Ok(m) => {
                let detail = format!(
                    "{} {}",
                    path.display(),
                    crate::keyfile::owner_and_mode(Some(m.uid()), Some(m.mode()))
                );
                if what == "private key" && m.mode() & 0o004 != 0 {
                    c.fail(
                        detail,
                        "every user of this machine can read the key",
                        format!("chmod 600 {}", path.display()),
                    )
                } else {
                    c.pass(detail)
                }
            }
            Err(e) => c.fail(
                format!("{}: {e}", path.display()),
                format!("the {what} is missing"),
                "run the refresher: `sudo systemctl start xpart-refresh.service`",
            ),
        });
    }
}

/// Every check the helper makes before a request (key matches certificate, validity, ARNs):
/// the Roles Anywhere endpoint it would call; None (reported) when it would refuse.
fn certificate_and_key(
    name: &str,
    args: &CredentialProcessArgs,
    report: &dyn Fn(Check),
) -> Option<String> {
    let t = Instant::now();
    let local = cp::check_local(args);
    let c = Check::new(name, "certificate and key", t);
    match local {
        Ok((endpoint, not_after)) => {
            let days = (not_after - time::OffsetDateTime::now_utc()).whole_days();
            report(if days < 7 {
                c.warn(format!(
                    "the key is the certificate's; {days} days left: the renewal is due"
                ))
            } else {
                c.pass(format!("the key is the certificate's; {days} days left"))
            });
            Some(endpoint)
        }
        Err(e) => {
            report(c.fail(
                e.to_string(),
                "the helper would refuse before any request",
                "re-run the refresher, or fix what the message names",
            ));
            None
        }
    }
}

/// The instance role's access to the key secret, as the refresher (under `root`) reads it.
async fn refresher_secret(name: &str, root: &Path, report: &dyn Fn(Check)) {
    let refresher = root.join("usr/local/lib/xpart/refresh");
    let t = Instant::now();
    match std::fs::read_to_string(&refresher) {
        Err(_) => report(Check::new(name, "key secret", t).warn(format!(
            "{} is not here: the key secret's access is not checked",
            refresher.display()
        ))),
        Ok(script) => match (
            input(&script, "KEY_SECRET_ARN"),
            input(&script, "SECRETS_REGION"),
        ) {
            (Some(arn), Some(region)) => key_secret(name, &arn, &region, report).await,
            _ => report(
                Check::new(name, "key secret", t)
                    .warn(format!("{} names no key secret", refresher.display())),
            ),
        },
    }
}

/// One real CreateSession, through verify's; an untrusted certificate names its anchor.
async fn session(name: &str, args: &CredentialProcessArgs, report: &dyn Fn(Check)) {
    let t = Instant::now();
    let got = crate::commands::verify::create_session(args.clone()).await;
    let c = Check::new(name, "CreateSession", t);
    report(match got {
        Ok(creds) => c.pass(format!(
            "credentials for {} until {}",
            args.role_arn, creds.expiration
        )),
        Err(e) => {
            let text = e.to_string();
            let cause = if text.contains("Untrusted signing certificate") {
                format!(
                    "untrusted certificate: trust anchor {} does not vouch for this certificate",
                    args.trust_anchor_arn
                )
            } else {
                "Roles Anywhere refused the session".to_string()
            };
            c.fail(
                text,
                cause,
                "run `xpart doctor PLAN` from the operator's machine: it checks the bridge's side",
            )
        }
    });
}

async fn key_secret(name: &str, arn: &str, region: &str, report: &dyn Fn(Check)) {
    let t = Instant::now();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sm.get_secret_value().secret_id(arn).send(),
    )
    .await;
    let c = Check::new(name, "key secret", t);
    report(match got {
        // The value is dropped unread: only the access is in question.
        Ok(Ok(_)) => c.pass(format!("the instance role reads {arn}")),
        Ok(Err(e)) => {
            let e = aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string();
            c.fail(e, "the instance role cannot read the key secret: renewals will not reach this workload", "give the instance role secretsmanager:GetSecretValue on it (and kms:Decrypt of its key): `xpart apply` does")
        }
        Err(_) => c.fail(
            "no answer within 30 s",
            "Secrets Manager of this partition does not answer",
            "check the route to secretsmanager in this region",
        ),
    });
}

/// The workload's AWS config file: AWS_CONFIG_FILE, else ~/.aws/config.
pub fn default_config() -> PathBuf {
    if let Some(p) = std::env::var_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".aws/config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_that_run_a_helper_are_found_with_their_flags() {
        let config = "[default]\nregion = x\n[profile commercial]\nregion = us-west-2\ncredential_process = /usr/local/bin/xpart credential-process --certificate /c.crt --private-key /c.key --trust-anchor-arn arn:aws:rolesanywhere:us-west-2:1:trust-anchor/t --profile-arn arn:aws:rolesanywhere:us-west-2:1:profile/p --role-arn arn:aws:iam::1:role/r\n[profile other]\ncredential_process = /bin/echo {}\n";
        let found = profiles(config, None);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].name.as_str(), found[0].program.as_str()),
            ("commercial", "/usr/local/bin/xpart")
        );
        assert_eq!(
            found[0].args.as_ref().unwrap().role_arn,
            "arn:aws:iam::1:role/r"
        );
        assert!(profiles(config, Some("other")).is_empty());
        assert_eq!(
            input("  input KEY_SECRET_ARN 'arn:x'\n", "KEY_SECRET_ARN").as_deref(),
            Some("arn:x")
        );
        assert_eq!(
            input("  input A 'it'\\''s'\n", "A").as_deref(),
            Some("it's")
        );
    }
}
