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
mod tests {
    use super::*;

    /// From `date -u -d <iso> +%s`: 2024-05-01T12:34:56Z, 12:00:00Z.
    fn ts(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }
    const T123456: i64 = 1_714_566_896;
    const T120000: i64 = 1_714_564_800;

    #[test]
    fn unreadable_key_message_names_file_owner_and_mode() {
        let e = CredentialError::Unreadable {
            what: "private key",
            path: "/etc/ira/client.key".into(),
            owner_uid: Some(0),
            mode: Some(0o100600),
            reason: io_reason(&std::io::Error::from_raw_os_error(13)),
        };
        assert_eq!(
            e.to_string(),
            "cannot read private key /etc/ira/client.key (owner root, mode 0600): Permission denied"
        );
        let missing = CredentialError::Unreadable {
            what: "certificate",
            path: "/nope".into(),
            owner_uid: None,
            mode: None,
            reason: io_reason(&std::io::Error::from_raw_os_error(2)),
        };
        assert_eq!(
            missing.to_string(),
            "cannot read certificate /nope: No such file or directory"
        );
    }

    #[test]
    fn rfc3339_parses_what_aws_writes() {
        assert_eq!(parse_rfc3339("2024-05-01T12:34:56Z"), Some(ts(T123456)));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:34:56.789Z"),
            Some(ts(T123456) + Duration::from_millis(789))
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T20:34:56+08:00"),
            Some(ts(T123456))
        );
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:34:56",
            "2024-05-01T12:34:56.Z",
            "x024-05-01T12:34:56Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            fmt_time(ts(T123456).to_offset(::time::UtcOffset::from_hms(8, 0, 0).unwrap())),
            "2024-05-01T12:34:56Z"
        );
    }

    #[test]
    fn cached_credentials_are_used_until_five_minutes_before_expiry() {
        let now = ts(T120000);
        assert!(usable(now + Duration::from_secs(3600), now));
        assert!(usable(now + Duration::from_secs(301), now));
        assert!(!usable(now + Duration::from_secs(300), now));
        assert!(!usable(now - Duration::from_secs(1), now));
    }

    #[test]
    fn service_errors_are_read_from_header_or_body() {
        assert_eq!(
            service_error(
                Some("AccessDeniedException:http://internal.amazon.com/coral/x/"),
                r#"{"message":"Untrusted signing certificate"}"#
            ),
            (
                Some("AccessDeniedException".into()),
                Some("Untrusted signing certificate".into())
            )
        );
        assert_eq!(
            service_error(
                None,
                r#"{"__type":"com.amazon.coral#ValidationException","Message":"m"}"#
            ),
            (Some("ValidationException".into()), Some("m".into()))
        );
        assert_eq!(service_error(None, "<html>"), (None, None));
        assert!(retryable_status(400, Some("ThrottlingException")));
        assert!(retryable_status(503, None));
        assert!(!retryable_status(403, Some("AccessDeniedException")));
    }

    #[test]
    fn credentials_are_parsed_and_printed_as_credential_process_wants() {
        let c = parse_credentials(
            r#"{"credentialSet":[{"credentials":{"accessKeyId":"AKIA","secretAccessKey":"s3cr3t",
                "sessionToken":"tok","expiration":"2024-05-01T13:00:00Z"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.to_json(),
            r#"{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"s3cr3t","SessionToken":"tok","Expiration":"2024-05-01T13:00:00Z"}"#
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("tok\""), "{dbg}");
        assert!(parse_credentials(r#"{"credentialSet":[]}"#).is_err());
        assert!(parse_credentials("nope").is_err());
    }

    fn args(ta: &str, profile: &str, role: &str) -> CredentialProcessArgs {
        CredentialProcessArgs {
            certificate: "/nonexistent/cert.pem".into(),
            private_key: "/nonexistent/key.pem".into(),
            intermediates: None,
            trust_anchor_arn: ta.into(),
            profile_arn: profile.into(),
            role_arn: role.into(),
            session_duration: 3600,
            region: None,
            endpoint: None,
            role_session_name: None,
            no_verify_ssl: false,
            with_proxy: false,
            no_cache: true,
            debug: false,
        }
    }

    const TA_CN: &str = "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:trust-anchor/t";
    const PR_CN: &str = "arn:aws-cn:rolesanywhere:cn-north-1:444455556666:profile/p";
    const ROLE_CN: &str = "arn:aws-cn:iam::444455556666:role/r";

    #[test]
    fn region_and_endpoint_come_from_the_trust_anchor() {
        let a = args(TA_CN, PR_CN, ROLE_CN);
        let (region, partition) = check_arns(&a).unwrap();
        assert_eq!(
            (region.as_str(), partition),
            ("cn-north-1", Some(Partition::AwsCn))
        );
        // Local checks come first: the endpoint is derived, then the missing certificate is named.
        let err = prepare(&a, OffsetDateTime::now_utc()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read certificate /nonexistent/cert.pem: No such file or directory"
        );
        let ep = parse_endpoint("https://rolesanywhere.cn-north-1.amazonaws.com.cn").unwrap();
        assert_eq!(
            (ep.authority.as_str(), ep.port, ep.https),
            ("rolesanywhere.cn-north-1.amazonaws.com.cn", 443, true)
        );
        let ep = parse_endpoint("http://127.0.0.1:14567/").unwrap();
        assert_eq!(
            (
                ep.authority.as_str(),
                ep.host.as_str(),
                ep.port,
                ep.url.as_str()
            ),
            (
                "127.0.0.1:14567",
                "127.0.0.1",
                14567,
                "http://127.0.0.1:14567"
            )
        );
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("https://x/prefix").is_err());
        assert!(parse_endpoint("https://u:p@x").is_err());
    }

    #[test]
    fn arguments_that_cannot_work_are_refused_before_any_request() {
        let unknown = args(
            "arn:aws:rolesanywhere:xx-nowhere-1:1:trust-anchor/t",
            "arn:aws:rolesanywhere:xx-nowhere-1:1:profile/p",
            "arn:aws:iam::1:role/r",
        );
        let err = prepare(&unknown, OffsetDateTime::now_utc()).unwrap_err();
        assert!(
            matches!(err, CredentialError::UnknownRegion { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("region `xx-nowhere-1` is in no partition xpart knows (aws: us-east-1"),
            "{msg}"
        );
        assert!(msg.contains("aws-cn: cn-north-1, cn-northwest-1"), "{msg}");
        // With an explicit endpoint an unknown region is the endpoint's business.
        let mut with_ep = unknown.clone();
        with_ep.endpoint = Some("https://ra.example".into());
        assert!(matches!(
            prepare(&with_ep, OffsetDateTime::now_utc()).unwrap_err(),
            CredentialError::Unreadable { .. }
        ));

        let cross = args(TA_CN, PR_CN, "arn:aws:iam::111122223333:role/r");
        let msg = check_arns(&cross).unwrap_err().to_string();
        assert!(
            msg.contains("partition aws-cn but the role in aws"),
            "{msg}"
        );
        let wrong_region = args(
            "arn:aws:rolesanywhere:cn-north-1:1:trust-anchor/t",
            "arn:aws:rolesanywhere:cn-north-1:1:profile/p",
            "arn:aws:iam::1:role/r",
        );
        let msg = check_arns(&wrong_region).unwrap_err().to_string();
        assert_eq!(
            msg,
            "region cn-north-1 is in partition aws-cn but the ARNs are in aws"
        );
        let mut other_region = args(TA_CN, PR_CN, ROLE_CN);
        other_region.region = Some("cn-northwest-1".into());
        assert!(check_arns(&other_region)
            .unwrap_err()
            .to_string()
            .contains("differs from the trust anchor's region"));
        let split = args(
            TA_CN,
            "arn:aws-cn:rolesanywhere:cn-northwest-1:444455556666:profile/p",
            ROLE_CN,
        );
        assert!(check_arns(&split)
            .unwrap_err()
            .to_string()
            .contains("must be in one region"));
        let swapped = args(PR_CN, TA_CN, ROLE_CN);
        assert!(check_arns(&swapped)
            .unwrap_err()
            .to_string()
            .contains("is not a Roles Anywhere trust anchor"));
        assert!(check_arns(&args("nope", PR_CN, ROLE_CN))
            .unwrap_err()
            .to_string()
            .contains("is not an ARN"));
        let mut short = args(TA_CN, PR_CN, ROLE_CN);
        short.session_duration = 60;
        assert!(prepare(&short, OffsetDateTime::now_utc())
            .unwrap_err()
            .to_string()
            .contains("900-43200"));
    }

    #[test]
    fn no_proxy_follows_go_rules() {
        assert!(no_proxy_matches("*", "anything", 443));
        assert!(no_proxy_matches(
            "amazonaws.com.cn",
            "rolesanywhere.cn-north-1.amazonaws.com.cn",
            443
        ));
        assert!(no_proxy_matches(
            "amazonaws.com.cn",
            "amazonaws.com.cn",
            443
        ));
        assert!(no_proxy_matches(
            " .amazonaws.com.cn",
            "x.amazonaws.com.cn",
            443
        ));
        assert!(!no_proxy_matches(
            ".amazonaws.com.cn",
            "amazonaws.com.cn",
            443
        ));
        assert!(!no_proxy_matches(
            "amazonaws.com",
            "rolesanywhere.cn-north-1.amazonaws.com.cn",
            443
        ));
        assert!(!no_proxy_matches("notamazonaws.com", "amazonaws.com", 443));
        assert!(no_proxy_matches("10.0.0.0/8,127.0.0.1", "127.0.0.1", 80));
        assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3", 80));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.1.2.3", 80));
        assert!(no_proxy_matches("example.com:8443", "example.com", 8443));
        assert!(!no_proxy_matches("example.com:8443", "example.com", 443));
        assert!(no_proxy_matches("::1", "::1", 443));
        assert!(!no_proxy_matches("", "example.com", 443));
        assert_eq!(
            redact_proxy("http://user:pw@proxy:3128"),
            "http://…@proxy:3128"
        );
    }

    #[test]
    fn proxies_are_used_only_with_the_flag() {
        let env = Environment {
            cache_dir: None,
            https_proxy: Some("proxy.internal:3128".into()),
            http_proxy: Some("http://plain.internal:3128".into()),
            no_proxy: Some("skip.example".into()),
            ca_bundle: None,
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(1),
        };
        let mut a = args(TA_CN, PR_CN, ROLE_CN);
        let https = parse_endpoint("https://ra.example").unwrap();
        assert!(proxy_for(&a, &env, &https).unwrap().is_none());
        a.with_proxy = true;
        let p = proxy_for(&a, &env, &https).unwrap().unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.internal", 3128));
        let http = parse_endpoint("http://ra.example").unwrap();
        assert_eq!(
            proxy_for(&a, &env, &http).unwrap().unwrap().host(),
            "plain.internal"
        );
        let skipped = parse_endpoint("https://ra.skip.example").unwrap();
        assert!(proxy_for(&a, &env, &skipped).unwrap().is_none());
    }

    #[test]
    fn the_cache_is_private_and_atomic() {
        let dir = std::env::temp_dir().join(format!("xpart-cache-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cdir = dir.join("xpart/credentials");
        let cache = Cache::open(&cdir).unwrap();
        assert_eq!(std::fs::metadata(&cdir).unwrap().mode() & 0o777, 0o700);
        let now = OffsetDateTime::now_utc();
        let mut creds = ProcessCredentials {
            version: 1,
            access_key_id: "AKIA".into(),
            secret_access_key: "s".into(),
            session_token: "t".into(),
            expiration: fmt_time(now + Duration::from_secs(3600)),
        };
        assert!(cache.get("k", now).is_none());
        cache.put("k", &creds).unwrap();
        let file = cdir.join("k.json");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert_eq!(cache.get("k", now), Some(creds.clone()));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&cdir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("k.json")]);
        // Close to expiry: not handed out.
        creds.expiration = fmt_time(now + Duration::from_secs(200));
        cache.put("k", &creds).unwrap();
        assert!(cache.get("k", now).is_none());
        // A file others can read is not trusted.
        creds.expiration = fmt_time(now + Duration::from_secs(3600));
        cache.put("k", &creds).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.get("k", now).is_none());
        // A directory left open is made private again.
        std::fs::set_permissions(&cdir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cache::open(&cdir).unwrap();
        assert_eq!(std::fs::metadata(&cdir).unwrap().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
