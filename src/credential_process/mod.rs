//! `xpart credential-process`: IAM Roles Anywhere credentials for the AWS SDKs and CLI.
//!
//! A drop-in for `aws_signing_helper credential-process` (same flags, same one-line JSON on
//! stdout, exit code 1 with a message on stderr), for PEM certificates and unencrypted PEM
//! keys. What it adds:
//!
//! - a per-user cache (`$XDG_CACHE_HOME/xpart/credentials/`, mode 0700, files 0600 written
//!   atomically), so that SDKs that call the process often do not run into CreateSession's
//!   request quota; credentials are reused until 5 minutes before they expire, `--no-cache`
//!   bypasses it, and the private key is never part of it;
//! - errors before any network call that say what is wrong: a key that cannot be read (its
//!   owner and mode), a key that is not the certificate's, a certificate outside its validity,
//!   a region in no known partition, ARNs of different partitions;
//! - bounded time: connect and overall timeouts, and up to five attempts for throttling,
//!   5xx and connection failures.
//!
//! The signature itself is in [`x509sign`].

mod arn;
mod cache;
mod files;
mod proxy;
mod serve;
mod session;
mod update;
pub mod x509sign;

use arn::*;
use cache::*;
pub use files::read_file;
use files::*;
pub use proxy::no_proxy_matches;
use proxy::*;
pub use serve::{serve, ServeArgs};
use session::*;
pub use update::{update, UpdateArgs};

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::keyfile::owner_and_mode;
use crate::partition::Partition;
use x509sign::{Certificate, Signer};

/// Arguments of `xpart credential-process`; the names are aws_signing_helper's.
#[derive(Debug, Clone, clap::Args)]
pub struct CredentialProcessArgs {
    /// Client certificate (PEM; the first certificate in the file is used).
    #[arg(long, value_name = "PATH")]
    pub certificate: PathBuf,
    /// The certificate's private key (unencrypted PEM: PKCS#8, or traditional RSA or EC).
    #[arg(long, value_name = "PATH")]
    pub private_key: PathBuf,
    /// Intermediate CA certificates (PEM bundle), sent along as the chain.
    #[arg(long, value_name = "PATH")]
    pub intermediates: Option<PathBuf>,
    /// Trust anchor to authenticate against.
    #[arg(long, value_name = "ARN")]
    pub trust_anchor_arn: String,
    /// Profile to take the session's policies from.
    #[arg(long, value_name = "ARN")]
    pub profile_arn: String,
    /// Role to assume.
    #[arg(long, value_name = "ARN")]
    pub role_arn: String,
    /// Duration of the session in seconds (900-43200; the profile's duration caps it).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(900..=43200))]
    pub session_duration: u32,
    /// Signing region [default: the trust anchor's].
    #[arg(long)]
    pub region: Option<String>,
    /// CreateSession endpoint [default: https://rolesanywhere.<region>.<partition's DNS suffix>].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Role session name (the profile must accept custom names).
    #[arg(long, value_name = "NAME")]
    pub role_session_name: Option<String>,
    /// Do not verify the endpoint's TLS certificate.
    #[arg(long)]
    pub no_verify_ssl: bool,
    /// Use HTTPS_PROXY / HTTP_PROXY (and NO_PROXY) from the environment; ignored otherwise.
    #[arg(long)]
    pub with_proxy: bool,
    /// Neither read nor write the credential cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print the request's canonical form and the service's reply status to stderr
    /// (never credentials or key material).
    #[arg(long)]
    pub debug: bool,
}

/// `xpart credential-process`: the flags alone print credentials once, as the helper's
/// `credential-process` does; `serve` and `update` are the helper's other two modes.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CredentialProcessCommand {
    #[command(subcommand)]
    pub mode: Option<Mode>,
    #[command(flatten)]
    pub args: Option<CredentialProcessArgs>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Mode {
    /// Serve credentials on 127.0.0.1 as EC2's instance metadata service does (IMDSv2), for
    /// SDKs and tools that cannot run a credential process.
    Serve(ServeArgs),
    /// Keep a profile of the shared credentials file fresh.
    Update(UpdateArgs),
}

/// Run `xpart credential-process` in the mode asked.
pub fn run_command(c: &CredentialProcessCommand) -> ExitCode {
    match (&c.mode, &c.args) {
        (Some(Mode::Serve(a)), _) => serve(a),
        (Some(Mode::Update(a)), _) => update(a),
        (None, Some(a)) => run(a),
        (None, None) => {
            eprintln!(
                "error: credential-process needs --certificate, --private-key, \
                 --trust-anchor-arn, --profile-arn and --role-arn (or a mode: serve, update); \
                 see `xpart credential-process --help`"
            );
            ExitCode::FAILURE
        }
    }
}

/// What the process environment contributes; tests build their own.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The cache directory (`…/xpart/credentials`); `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub https_proxy: Option<String>,
    pub http_proxy: Option<String>,
    pub no_proxy: Option<String>,
    /// Extra trusted CA certificates (PEM), as the AWS SDKs take them from AWS_CA_BUNDLE.
    pub ca_bundle: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// For the whole exchange, retries included.
    pub total_timeout: Duration,
}

impl Environment {
    pub fn from_process() -> Environment {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let cache_root = var(&["XDG_CACHE_HOME"])
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var(&["HOME"]).map(|h| PathBuf::from(h).join(".cache")));
        Environment {
            cache_dir: cache_root.map(|r| r.join("xpart").join("credentials")),
            https_proxy: var(&["HTTPS_PROXY", "https_proxy"]),
            http_proxy: var(&["HTTP_PROXY", "http_proxy"]),
            no_proxy: var(&["NO_PROXY", "no_proxy"]),
            ca_bundle: var(&["AWS_CA_BUNDLE"]).map(PathBuf::from),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
        }
    }
}

/// The credential_process output (`Version` 1). `Debug` hides the secret and the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u32,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

impl fmt::Debug for ProcessCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl ProcessCredentials {
    /// The one line printed on stdout.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("credentials serialize")
    }

    pub fn expiration_time(&self) -> Option<OffsetDateTime> {
        parse_rfc3339(&self.expiration)
    }
}

/// Credentials and where they came from.
#[derive(Debug, Clone)]
pub struct Obtained {
    pub credentials: ProcessCredentials,
    pub from_cache: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Arguments that cannot work (bad ARN, mismatched partitions, bad endpoint).
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {what} {}{}: {reason}", path.display(), owner_and_mode(*owner_uid, *mode))]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        owner_uid: Option<u32>,
        mode: Option<u32>,
        reason: String,
    },
    #[error("{what} {}: {reason}", path.display())]
    BadFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "private key {} does not match certificate {} ({}): the certificate's public key is not this key's",
        key.display(), cert.display(), describe_types(*key_type, *cert_type)
    )]
    KeyMismatch {
        key: PathBuf,
        cert: PathBuf,
        key_type: x509sign::KeyType,
        cert_type: Option<x509sign::KeyType>,
    },
    #[error(
        "private key {}{} is open to every user: anyone on this machine can get the role's credentials with it; `chmod 600` it (or 640, shared with a group)",
        path.display(), owner_and_mode(Some(*owner_uid), Some(*mode))
    )]
    ExposedKey {
        path: PathBuf,
        owner_uid: u32,
        mode: u32,
    },
    #[error("certificate {} expired at {not_after} (notAfter); Roles Anywhere refuses it", path.display())]
    Expired { path: PathBuf, not_after: String },
    #[error("certificate {} is not valid before {not_before} (notBefore); Roles Anywhere refuses it", path.display())]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("region `{region}` is in no partition xpart knows ({known}); pass --endpoint to use it anyway")]
    UnknownRegion { region: String, known: String },
    #[error("CreateSession at {endpoint} failed: {code}: {message} (HTTP {status})")]
    Service {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach {endpoint}: {reason}")]
    Transport { endpoint: String, reason: String },
    #[error("unexpected CreateSession response from {endpoint}: {reason}")]
    Response { endpoint: String, reason: String },
}

impl CredentialError {
    /// A failure of the service or the path to it (throttling, 5xx, transport) rather than an
    /// answer about the request: it says nothing of whether the request would be allowed.
    pub fn is_outage(&self) -> bool {
        match self {
            CredentialError::Service { status, code, .. } => retryable_status(*status, Some(code)),
            CredentialError::Transport { .. } => true,
            _ => false,
        }
    }
}

fn describe_types(key: x509sign::KeyType, cert: Option<x509sign::KeyType>) -> String {
    match cert {
        Some(c) if c == key => format!("both {key}"),
        Some(c) => format!("key {key}, certificate {c}"),
        None => format!("key {key}, certificate of another key type"),
    }
}

use crate::input::io_reason;

/// Run `xpart credential-process`: the JSON line on stdout, or a message on stderr and exit 1.
pub fn run(args: &CredentialProcessArgs) -> ExitCode {
    run_in(
        args,
        &Environment::from_process(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}

/// [`run`] with an explicit environment and output streams.
pub fn run_in(
    args: &CredentialProcessArgs,
    env: &Environment,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    match obtain_in(args, env, err) {
        Ok(got) => {
            if writeln!(out, "{}", got.credentials.to_json()).is_err() {
                return ExitCode::FAILURE;
            }
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Obtain credentials with the process environment; warnings and `--debug` output go to stderr.
pub fn obtain(args: &CredentialProcessArgs) -> Result<Obtained, CredentialError> {
    obtain_in(args, &Environment::from_process(), &mut std::io::stderr())
}

/// Everything checked before the request: what the cache and the request are made of.
#[derive(Debug)]
struct Prepared {
    region: String,
    endpoint: Endpoint,
    cert: Certificate,
    chain: Vec<Certificate>,
    signer: Signer,
}

/// Obtain credentials: local checks, then the cache, then CreateSession.
/// `diag` receives warnings (an unusable cache) and `--debug` output.
pub fn obtain_in(
    args: &CredentialProcessArgs,
    env: &Environment,
    diag: &mut dyn Write,
) -> Result<Obtained, CredentialError> {
    obtain_kept(args, env, diag, None)
}

/// [`obtain_in`], keeping the credentials in `memo` instead of the per-user cache when given
/// (the long-running modes: one process, no files). The certificate and key are read again on
/// every call: credentials are reused only while they came from the certificate now in the
/// file (it is part of the key), so a certificate the renewal path replaced is used at once.
pub(crate) fn obtain_kept(
    args: &CredentialProcessArgs,
    env: &Environment,
    diag: &mut dyn Write,
    memo: Option<&Memo>,
) -> Result<Obtained, CredentialError> {
    let p = prepare(args, OffsetDateTime::now_utc())?;
    if let Some(memo) = memo {
        let key = cache_key(args, &p);
        if let Some(credentials) = memo.get(&key, OffsetDateTime::now_utc()) {
            return Ok(Obtained {
                credentials,
                from_cache: true,
            });
        }
        let credentials = create_session(args, env, &p, diag)?;
        memo.put(&key, &credentials);
        return Ok(Obtained {
            credentials,
            from_cache: false,
        });
    }
    let cache = if args.no_cache {
        None
    } else {
        match &env.cache_dir {
            Some(dir) => match Cache::open(dir) {
                Ok(c) => Some(c),
                Err(why) => {
                    let _ = writeln!(diag, "warning: credential cache not used: {why}");
                    None
                }
            },
            None => None,
        }
    };
    let key = cache_key(args, &p);
    if let Some(cache) = &cache {
        if let Some(credentials) = cache.get(&key, OffsetDateTime::now_utc()) {
            if args.debug {
                let _ = writeln!(
                    diag,
                    "debug: credentials from the cache ({})",
                    cache.dir.display()
                );
            }
            return Ok(Obtained {
                credentials,
                from_cache: true,
            });
        }
    }
    let credentials = create_session(args, env, &p, diag)?;
    if let Some(cache) = &cache {
        if let Err(why) = cache.put(&key, &credentials) {
            let _ = writeln!(diag, "warning: credentials not cached: {why}");
        }
    }
    Ok(Obtained {
        credentials,
        from_cache: false,
    })
}

/// Every check made before CreateSession (files readable and private, key matching the
/// certificate, certificate within its validity, ARNs of one partition), without a request:
/// the CreateSession endpoint these flags reach, and the certificate's notAfter.
pub fn check_local(
    args: &CredentialProcessArgs,
) -> Result<(String, OffsetDateTime), CredentialError> {
    let p = prepare(args, OffsetDateTime::now_utc())?;
    Ok((p.endpoint.url.clone(), p.cert.not_after))
}

/// A time as AWS writes it (RFC 3339, UTC, whole seconds).
fn fmt_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parse an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), the form AWS writes
/// expirations in.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn prepare(args: &CredentialProcessArgs, now: OffsetDateTime) -> Result<Prepared, CredentialError> {
    if !(900..=43200).contains(&args.session_duration) {
        return Err(CredentialError::Invalid(format!(
            "--session-duration {} is outside 900-43200 seconds",
            args.session_duration
        )));
    }
    let (region, partition) = check_arns(args)?;
    let endpoint = match (&args.endpoint, partition) {
        (Some(url), _) => parse_endpoint(url)?,
        (None, Some(p)) => parse_endpoint(&format!(
            "https://{}",
            p.endpoint_host("rolesanywhere", &region)
        ))?,
        (None, None) => {
            let known = Partition::ALL
                .iter()
                .map(|p| format!("{p}: {}", p.regions().join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(CredentialError::UnknownRegion { region, known });
        }
    };

    let cert_path = &args.certificate;
    let pem = read_file("certificate", cert_path)?;
    let bad_cert = |reason: String| CredentialError::BadFile {
        what: "certificate",
        path: cert_path.clone(),
        reason,
    };
    let der = x509sign::pem_certificates(&pem)
        .map_err(bad_cert)?
        .into_iter()
        .next()
        .ok_or_else(|| bad_cert("no PEM CERTIFICATE block in it".into()))?;
    let cert = Certificate::from_der(&der).map_err(bad_cert)?;
    if cert.key_type.is_none() {
        return Err(bad_cert(
            "its key is neither RSA nor EC P-256/P-384, the key types Roles Anywhere accepts"
                .into(),
        ));
    }
    if now > cert.not_after {
        return Err(CredentialError::Expired {
            path: cert_path.clone(),
            not_after: fmt_time(cert.not_after),
        });
    }
    if now < cert.not_before {
        return Err(CredentialError::NotYetValid {
            path: cert_path.clone(),
            not_before: fmt_time(cert.not_before),
        });
    }

    let mut chain = vec![];
    if let Some(path) = &args.intermediates {
        let pem = read_file("intermediates", path)?;
        let bad = |reason: String| CredentialError::BadFile {
            what: "intermediates",
            path: path.clone(),
            reason,
        };
        let ders = x509sign::pem_certificates(&pem).map_err(bad)?;
        if ders.is_empty() {
            return Err(bad("no PEM CERTIFICATE block in it".into()));
        }
        for der in ders {
            chain.push(Certificate::from_der(&der).map_err(bad)?);
        }
    }

    let key_path = &args.private_key;
    let key_pem = read_file("private key", key_path)?;
    let signer = Signer::from_pem(&key_pem).map_err(|e| CredentialError::BadFile {
        what: "private key",
        path: key_path.clone(),
        reason: e.to_string(),
    })?;
    drop(key_pem);
    refuse_exposed_key(key_path)?;
    if !signer.matches(&cert) {
        return Err(CredentialError::KeyMismatch {
            key: key_path.clone(),
            cert: cert_path.clone(),
            key_type: signer.key_type(),
            cert_type: cert.key_type,
        });
    }
    Ok(Prepared {
        region,
        endpoint,
        cert,
        chain,
        signer,
    })
}

#[cfg(test)]
mod tests;
