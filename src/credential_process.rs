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

pub mod x509sign;

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::partition::Partition;
use x509sign::{Certificate, Signer};

/// Credentials are reused from the cache until this long before they expire.
pub const CACHE_MARGIN: Duration = Duration::from_secs(5 * 60);
/// CreateSession attempts (one call, then retries of throttling, 5xx and transport errors):
/// five, as a China endpoint behind a lossy path needs, each bounded by the total timeout.
const ATTEMPTS: u32 = 5;

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
pub enum Error {
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

impl Error {
    /// A failure of the service or the path to it (throttling, 5xx, transport) rather than an
    /// answer about the request: it says nothing of whether the request would be allowed.
    pub fn is_outage(&self) -> bool {
        match self {
            Error::Service { status, code, .. } => retryable_status(*status, Some(code)),
            Error::Transport { .. } => true,
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

fn owner_and_mode(uid: Option<u32>, mode: Option<u32>) -> String {
    match (uid, mode) {
        (Some(uid), Some(mode)) => {
            format!(" (owner {}, mode {:04o})", user_name(uid), mode & 0o7777)
        }
        _ => String::new(),
    }
}

/// The user name of a uid from /etc/passwd, or the number.
pub fn user_name(uid: u32) -> String {
    user_name_in(
        &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
        uid,
    )
}

fn user_name_in(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _ = f.next()?;
            let id: u32 = f.next()?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| uid.to_string())
}

use crate::input::io_reason;

/// Read a file, or say why not: with the owner and mode when the file exists.
/// Regular files of at most `input::MAX_PEM` bytes only: a device or a huge file is refused
/// before anything is read into memory.
pub fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read(what, path, crate::input::MAX_PEM).map_err(|e| match e {
        crate::input::InputError::Io { reason, .. } => {
            let meta = std::fs::metadata(path).ok();
            Error::Unreadable {
                what,
                path: path.to_path_buf(),
                owner_uid: meta.as_ref().map(|m| m.uid()),
                mode: meta.as_ref().map(|m| m.mode()),
                reason,
            }
        }
        other => Error::BadFile {
            what,
            path: path.to_path_buf(),
            reason: match other {
                crate::input::InputError::NotAFile { kind, .. } => {
                    format!("{kind}, not a regular file")
                }
                _ => format!("larger than {} bytes", crate::input::MAX_PEM),
            },
        },
    })
}

/// Refuse a private key file every user may read or write (as ssh does): whoever reads it
/// gets the role. Group access stays allowed, the way to share a key with a service user.
fn refuse_exposed_key(path: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // read just now; a file gone since is the signer's problem
    };
    if meta.is_file() && meta.mode() & 0o006 != 0 {
        return Err(Error::ExposedKey {
            path: path.to_path_buf(),
            owner_uid: meta.uid(),
            mode: meta.mode(),
        });
    }
    Ok(())
}

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
pub fn obtain(args: &CredentialProcessArgs) -> Result<Obtained, Error> {
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
) -> Result<Obtained, Error> {
    let p = prepare(args, OffsetDateTime::now_utc())?;
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

/// An ARN's fields.
struct Arn<'a> {
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    resource: &'a str,
}

fn parse_arn<'a>(flag: &str, arn: &'a str) -> Result<Arn<'a>, Error> {
    let bad = || {
        Error::Invalid(format!("--{flag} `{arn}` is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)"))
    };
    let mut f = arn.splitn(6, ':');
    if f.next() != Some("arn") {
        return Err(bad());
    }
    let (Some(partition), Some(service), Some(region), Some(_account), Some(resource)) =
        (f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Err(bad());
    };
    if partition.is_empty() || service.is_empty() || resource.is_empty() {
        return Err(bad());
    }
    Ok(Arn {
        partition,
        service,
        region,
        resource,
    })
}

fn check_arns(args: &CredentialProcessArgs) -> Result<(String, Option<Partition>), Error> {
    let ta = parse_arn("trust-anchor-arn", &args.trust_anchor_arn)?;
    let profile = parse_arn("profile-arn", &args.profile_arn)?;
    let role = parse_arn("role-arn", &args.role_arn)?;
    if ta.service != "rolesanywhere" || !ta.resource.starts_with("trust-anchor/") {
        return Err(Error::Invalid(format!(
            "--trust-anchor-arn `{}` is not a Roles Anywhere trust anchor (…:rolesanywhere:<region>:<account>:trust-anchor/<id>)",
            args.trust_anchor_arn
        )));
    }
    if profile.service != "rolesanywhere" || !profile.resource.starts_with("profile/") {
        return Err(Error::Invalid(format!(
            "--profile-arn `{}` is not a Roles Anywhere profile (…:rolesanywhere:<region>:<account>:profile/<id>)",
            args.profile_arn
        )));
    }
    if role.service != "iam" || !role.resource.starts_with("role/") {
        return Err(Error::Invalid(format!(
            "--role-arn `{}` is not an IAM role (arn:<partition>:iam::<account>:role/<name>)",
            args.role_arn
        )));
    }
    if ta.region != profile.region {
        return Err(Error::Invalid(format!(
            "the trust anchor is in region {} but the profile in {}: they must be in one region",
            ta.region, profile.region
        )));
    }
    for (what, arn) in [("profile", &profile), ("role", &role)] {
        if arn.partition != ta.partition {
            return Err(Error::Invalid(format!(
                "the trust anchor is in partition {} but the {what} in {}: Roles Anywhere only vends \
                 credentials within one partition",
                ta.partition, arn.partition
            )));
        }
    }
    let region = args.region.clone().unwrap_or_else(|| ta.region.to_string());
    if region.is_empty() {
        return Err(Error::Invalid(
            "no region: the trust anchor ARN has none and --region is not set".into(),
        ));
    }
    if region != ta.region {
        return Err(Error::Invalid(format!(
            "--region {region} differs from the trust anchor's region {}: CreateSession must be \
             called in the trust anchor's region",
            ta.region
        )));
    }
    let partition = Partition::of_region(&region);
    if let Some(p) = partition {
        if p.id() != ta.partition {
            return Err(Error::Invalid(format!(
                "region {region} is in partition {p} but the ARNs are in {}",
                ta.partition
            )));
        }
    }
    Ok((region, partition))
}

/// Where CreateSession goes.
#[derive(Debug, Clone)]
struct Endpoint {
    /// As given or derived, without a trailing slash (for messages).
    url: String,
    https: bool,
    /// `host` or `host:port` as written: the Host header.
    authority: String,
    host: String,
    port: u16,
}

fn parse_endpoint(url: &str) -> Result<Endpoint, Error> {
    let bad = |why: &str| Error::Invalid(format!("--endpoint `{url}`: {why}"));
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("the scheme must be https:// or http://")),
    };
    let auth = uri.authority().ok_or_else(|| bad("no host"))?;
    if auth.as_str().contains('@') {
        return Err(bad("user information is not allowed"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("give the endpoint's base URL only (no path or query)"));
    }
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    Ok(Endpoint {
        url: url.trim_end_matches('/').to_string(),
        https,
        authority: auth.as_str().to_string(),
        host: host.to_string(),
        port: auth.port_u16().unwrap_or(if https { 443 } else { 80 }),
    })
}

fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the form AWS writes expirations in.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let date = time::Date::from_calendar_date(
        num(0..4)? as i32,
        time::Month::try_from(num(5..7)? as u8).ok()?,
        num(8..10)? as u8,
    )
    .ok()?;
    let mut nanos = 0u32;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let t = time::Time::from_hms_nano(
        num(11..13)? as u8,
        num(14..16)? as u8,
        num(17..19)? as u8,
        nanos,
    )
    .ok()?;
    let offset = match s.get(i..)? {
        "Z" | "z" => time::UtcOffset::UTC,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let h = num(i + 1..i + 3)? as i8;
            let m = num(i + 4..i + 6)? as i8;
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
        _ => return None,
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

fn prepare(args: &CredentialProcessArgs, now: OffsetDateTime) -> Result<Prepared, Error> {
    if !(900..=43200).contains(&args.session_duration) {
        return Err(Error::Invalid(format!(
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
            return Err(Error::UnknownRegion { region, known });
        }
    };

    let cert_path = &args.certificate;
    let pem = read_file("certificate", cert_path)?;
    let bad_cert = |reason: String| Error::BadFile {
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
        return Err(Error::Expired {
            path: cert_path.clone(),
            not_after: fmt_time(cert.not_after),
        });
    }
    if now < cert.not_before {
        return Err(Error::NotYetValid {
            path: cert_path.clone(),
            not_before: fmt_time(cert.not_before),
        });
    }

    let mut chain = vec![];
    if let Some(path) = &args.intermediates {
        let pem = read_file("intermediates", path)?;
        let bad = |reason: String| Error::BadFile {
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
    let signer = Signer::from_pem(&key_pem).map_err(|e| Error::BadFile {
        what: "private key",
        path: key_path.clone(),
        reason: e.to_string(),
    })?;
    drop(key_pem);
    refuse_exposed_key(key_path)?;
    if !signer.matches(&cert) {
        return Err(Error::KeyMismatch {
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over everything that decides which credentials CreateSession returns.
fn cache_key(args: &CredentialProcessArgs, p: &Prepared) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let duration = args.session_duration.to_string();
    for field in [
        b"xpart credential-process cache v1".as_slice(),
        &p.cert.der,
        args.trust_anchor_arn.as_bytes(),
        args.profile_arn.as_bytes(),
        args.role_arn.as_bytes(),
        p.region.as_bytes(),
        p.endpoint.url.as_bytes(),
        duration.as_bytes(),
        args.role_session_name.as_deref().unwrap_or("").as_bytes(),
        &[u8::from(args.role_session_name.is_some())],
    ] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field);
    }
    hex(ctx.finish().as_ref())
}

/// The per-user credential cache: a 0700 directory of 0600 JSON files named by the key.
struct Cache {
    dir: PathBuf,
}

impl Cache {
    fn open(dir: &Path) -> Result<Cache, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {}", dir.display(), io_reason(&e)))?;
        let meta = std::fs::symlink_metadata(dir)
            .map_err(|e| format!("cannot inspect {}: {}", dir.display(), io_reason(&e)))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        // Only the owner (or root) can change the mode: success means the directory is ours.
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                format!(
                    "{} (owner {}, mode {:04o}) cannot be made private: {}",
                    dir.display(),
                    user_name(meta.uid()),
                    meta.mode() & 0o7777,
                    io_reason(&e)
                )
            })?;
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn get(&self, key: &str, now: OffsetDateTime) -> Option<ProcessCredentials> {
        let path = self.path(key);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.mode() & 0o077 != 0 {
            return None;
        }
        let text = std::fs::read(&path).ok()?;
        let creds: ProcessCredentials = serde_json::from_slice(&text).ok()?;
        let expires = creds.expiration_time()?;
        (creds.version == 1 && usable(expires, now)).then_some(creds)
    }

    fn put(&self, key: &str, creds: &ProcessCredentials) -> Result<(), String> {
        let path = self.path(key);
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let tmp = self
            .dir
            .join(format!(".{key}.{}.{nanos}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(creds.to_json().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {}", path.display(), io_reason(&e))
        })
    }
}

/// Whether credentials expiring at `expires` may still be handed out at `now`.
pub fn usable(expires: OffsetDateTime, now: OffsetDateTime) -> bool {
    expires - now > CACHE_MARGIN
}

/// Whether NO_PROXY exempts `host:port` (Go's rules: `*`, domains with their subdomains,
/// `.domain` for subdomains only, IP addresses and CIDR ranges, each optionally with `:port`).
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip: Option<std::net::IpAddr> = host.parse().ok();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Some(ip), Ok(net), Ok(bits)) = (
                host_ip,
                net.parse::<std::net::IpAddr>(),
                bits.parse::<u32>(),
            ) {
                if in_cidr(ip, net, bits) {
                    return true;
                }
            }
            continue;
        }
        // `host:port`, `[v6]:port`, a bare v6 address, or a bare name.
        let (name, entry_port) = if let Ok(ip) = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            (ip.to_string(), None)
        } else if let Some((n, p)) = entry.rsplit_once(':') {
            match p.parse::<u16>() {
                Ok(p) => (
                    n.trim_start_matches('[').trim_end_matches(']').to_string(),
                    Some(p),
                ),
                Err(_) => continue,
            }
        } else {
            (entry.clone(), None)
        };
        if entry_port.is_some_and(|p| p != port) {
            continue;
        }
        if let (Some(ip), Ok(e)) = (host_ip, name.parse::<std::net::IpAddr>()) {
            if ip == e {
                return true;
            }
            continue;
        }
        let name = name.trim_start_matches('*').trim_end_matches('.');
        if let Some(suffix) = name.strip_prefix('.') {
            if host.ends_with(&format!(".{suffix}")) {
                return true;
            }
        } else if host == name || host.ends_with(&format!(".{name}")) {
            return true;
        }
    }
    false
}

fn in_cidr(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(a), V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (V6(a), V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A proxy URL with any password hidden, for messages.
fn redact_proxy(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        (None, Some(at)) => format!("…@{}", &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn proxy_for(
    args: &CredentialProcessArgs,
    env: &Environment,
    ep: &Endpoint,
) -> Result<Option<ureq::Proxy>, Error> {
    if !args.with_proxy {
        return Ok(None);
    }
    let raw = if ep.https {
        &env.https_proxy
    } else {
        &env.http_proxy
    };
    let Some(raw) = raw.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if env
        .no_proxy
        .as_deref()
        .is_some_and(|np| no_proxy_matches(np, &ep.host, ep.port))
    {
        return Ok(None);
    }
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let var = if ep.https {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    ureq::Proxy::new(&url).map(Some).map_err(|e| {
        Error::Invalid(format!(
            "{var} `{}` is not a usable proxy: {e}",
            redact_proxy(&url)
        ))
    })
}

fn agent(
    args: &CredentialProcessArgs,
    env: &Environment,
    ep: &Endpoint,
) -> Result<ureq::Agent, Error> {
    use ureq::tls::{Certificate as TlsCert, RootCerts, TlsConfig, TlsProvider};
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .disable_verification(args.no_verify_ssl);
    if ep.https && !args.no_verify_ssl {
        let mut roots: Vec<TlsCert<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|c| TlsCert::from_der(c.as_ref()).to_owned())
            .collect();
        if let Some(bundle) = &env.ca_bundle {
            let pem = read_file("CA bundle (AWS_CA_BUNDLE)", bundle)?;
            let ders = x509sign::pem_certificates(&pem).map_err(|reason| Error::BadFile {
                what: "CA bundle (AWS_CA_BUNDLE)",
                path: bundle.clone(),
                reason,
            })?;
            roots.extend(ders.iter().map(|d| TlsCert::from_der(d).to_owned()));
        }
        if roots.is_empty() {
            return Err(Error::Transport {
                endpoint: ep.url.clone(),
                reason:
                    "no trusted CA certificates on this system (set SSL_CERT_FILE or AWS_CA_BUNDLE)"
                        .into(),
            });
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&roots));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .proxy(proxy_for(args, env, ep)?)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(env.connect_timeout))
        .user_agent(format!(
            "xpart/{} credential-process",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .new_agent())
}

/// The body of an AWS JSON error: its type (`x-amzn-ErrorType`, else `__type`) and message.
fn service_error(header_type: Option<&str>, body: &str) -> (Option<String>, Option<String>) {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let code = header_type
        .map(str::to_string)
        .or_else(|| field("__type").or_else(|| field("code")))
        .map(|c| {
            // `Code:http://…` (header) or `namespace#Code` (body).
            let c = c.split(':').next().unwrap_or(&c).to_string();
            c.rsplit('#').next().unwrap_or(&c).to_string()
        })
        .filter(|c| !c.is_empty());
    let message = field("message").or_else(|| field("Message"));
    (code, message)
}

fn retryable_status(status: u16, code: Option<&str>) -> bool {
    status == 429
        || status >= 500
        || matches!(
            code,
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
            )
        )
}

fn create_session(
    args: &CredentialProcessArgs,
    env: &Environment,
    p: &Prepared,
    diag: &mut dyn Write,
) -> Result<ProcessCredentials, Error> {
    let ep = &p.endpoint;
    let query = x509sign::canonical_query(&[
        ("profileArn", &args.profile_arn),
        ("roleArn", &args.role_arn),
        ("trustAnchorArn", &args.trust_anchor_arn),
    ]);
    let mut body = serde_json::json!({"durationSeconds": args.session_duration});
    if let Some(name) = &args.role_session_name {
        body["roleSessionName"] = serde_json::Value::from(name.as_str());
    }
    let body = serde_json::to_vec(&body).expect("JSON body");
    let url = format!(
        "{}://{}/sessions?{query}",
        if ep.https { "https" } else { "http" },
        ep.authority
    );
    let agent = agent(args, env, ep)?;
    let deadline = Instant::now() + env.total_timeout;
    let mut last: Option<Error> = None;
    for attempt in 1..=ATTEMPTS {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        if attempt > 1 {
            // 100 ms, 200 ms, 400 ms, 800 ms with jitter, never past the deadline.
            let mut r = [0u8; 1];
            let _ = aws_lc_rs::rand::fill(&mut r);
            let pause = Duration::from_millis((100u64 << (attempt - 2)) + u64::from(r[0]) % 100);
            if pause >= remaining {
                break;
            }
            std::thread::sleep(pause);
        }
        let req = x509sign::Request {
            method: "POST",
            path: "/sessions",
            query: &query,
            host: &ep.authority,
            content_type: "application/json",
            body: &body,
        };
        let sig = x509sign::sign(
            &req,
            &p.signer,
            &p.cert,
            &p.chain,
            &p.region,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| Error::Invalid(format!("cannot sign the request: {e}")))?;
        if args.debug {
            let _ = writeln!(
                diag,
                "debug: POST {url} (attempt {attempt})\ndebug: canonical request:\n{}\ndebug: string to sign:\n{}",
                sig.canonical_request, sig.string_to_sign
            );
        }
        let mut rb = agent
            .post(&url)
            .config()
            .timeout_global(Some(deadline.saturating_duration_since(Instant::now())))
            .build();
        for (k, v) in &sig.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let mut resp = match rb.send(&body[..]) {
            Ok(r) => r,
            Err(e) => {
                let timed_out = matches!(e, ureq::Error::Timeout(_));
                let reason = match &e {
                    ureq::Error::Timeout(_) => {
                        format!("no answer within {:?} ({e})", env.total_timeout)
                    }
                    _ => e.to_string(),
                };
                if args.debug {
                    let _ = writeln!(diag, "debug: attempt {attempt}: {reason}");
                }
                last = Some(Error::Transport {
                    endpoint: ep.url.clone(),
                    reason,
                });
                if timed_out {
                    break;
                }
                continue;
            }
        };
        let status = resp.status().as_u16();
        let header_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = match resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => {
                last = Some(Error::Transport {
                    endpoint: ep.url.clone(),
                    reason: format!("reading the reply: {e}"),
                });
                continue;
            }
        };
        if args.debug {
            let _ = writeln!(
                diag,
                "debug: HTTP {status}{}",
                header_type
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            );
        }
        if (200..300).contains(&status) {
            return parse_credentials(&text).map_err(|reason| Error::Response {
                endpoint: ep.url.clone(),
                reason,
            });
        }
        let (code, message) = service_error(header_type.as_deref(), &text);
        let retry = retryable_status(status, code.as_deref());
        last = Some(Error::Service {
            endpoint: ep.url.clone(),
            status,
            code: code.unwrap_or_else(|| format!("HTTP{status}")),
            message: message.unwrap_or_else(|| {
                let t = text.trim();
                if t.is_empty() {
                    "(no message)".to_string()
                } else {
                    t.chars().take(300).collect()
                }
            }),
        });
        if !retry {
            break;
        }
    }
    Err(last.unwrap_or_else(|| Error::Transport {
        endpoint: ep.url.clone(),
        reason: format!("no answer within {:?}", env.total_timeout),
    }))
}

fn parse_credentials(text: &str) -> Result<ProcessCredentials, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "the reply is not JSON".to_string())?;
    let c = v
        .get("credentialSet")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("credentials"))
        .ok_or("no credentialSet[0].credentials in the reply")?;
    let field = |k: &str| {
        c.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(format!("no {k} in the reply's credentials"))
    };
    Ok(ProcessCredentials {
        version: 1,
        access_key_id: field("accessKeyId")?,
        secret_access_key: field("secretAccessKey")?,
        session_token: field("sessionToken")?,
        expiration: field("expiration")?,
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
        let e = Error::Unreadable {
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
        let missing = Error::Unreadable {
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
    fn owner_names_come_from_passwd_or_the_number() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # comment\n\
                      ira:x:1001:1001::/home/ira:/bin/sh\n";
        assert_eq!(user_name_in(passwd, 0), "root");
        assert_eq!(user_name_in(passwd, 1001), "ira");
        assert_eq!(user_name_in(passwd, 4242), "4242");
        assert_eq!(user_name_in("", 7), "7");
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
        assert!(matches!(err, Error::UnknownRegion { .. }), "{err}");
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
            Error::Unreadable { .. }
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
