//! `xpart credential-process`: Roles Anywhere credentials against the local test-bed, through
//! the library, the built binary, the aws CLI, and next to a third-party client. The shared
//! helpers are here; the tests, by topic, in the modules below (each under 800 lines).

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

mod binary;
mod in_process;
mod serve_update;

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

/// A Roles Anywhere chain on `side` and a workload certificate of `alg` from its CA, written
/// to files: the chain, the certificate, and the leaf's directory, certificate and key paths.
fn chain_with_leaf(
    tb: &Testbed,
    side: Side,
    alg: KeyAlg,
) -> (Chain, Leaf, PathBuf, PathBuf, PathBuf) {
    let c = rt().block_on(chain(tb, side));
    let leaf = c.ca.issue_with("workload", alg, false);
    let (dir, cert, key) = write_leaf(&leaf, "client");
    (c, leaf, dir, cert, key)
}

/// An aws config file in `dir` with one profile, `name`, whose credential_process is `line`.
fn profile_config(dir: &Path, name: &str, region: &str, line: &str) -> PathBuf {
    let config = dir.join("aws-config");
    let text = format!("[profile {name}]\nregion = {region}\ncredential_process = {line}\n");
    std::fs::write(&config, text).unwrap();
    config
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
