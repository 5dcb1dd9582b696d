//! One client factory per partition: SDK config with the partition's profile, region, retry and
//! timeout tuning, and every service client built from it.
//!
//! Retries have one owner. The SDK's standard retry layer owns transient failures (throttling,
//! 5xx, connection resets, timeouts); the engine only retries what the SDK cannot know is
//! transient (IAM eventual consistency) and creates that the API cannot deduplicate, for which
//! it turns the SDK's retries off (`no_retry`).

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::partition::Partition;
use crate::plan::{PartitionDef, Tuning};

mod error;
mod pacer;
mod watch;

pub use error::{chain, AwsError};
use error::{describe_transport, AUTH_REFUSED, THROTTLING};
pub use pacer::Pacer;
use pacer::{default_http_client, Paced};
pub use watch::InFlight;
use watch::Watch;

impl Tuning {
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.attempt)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// A retry config that does not retry, for `create_once` creates.
pub fn no_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::disabled()
}

/// Per-call config overrides with the SDK's retries off, for the creates that run under
/// `engine::retry::create_once` (which looks up before it tries again).
pub mod once {
    use super::no_retry;

    pub fn ec2() -> aws_sdk_ec2::config::Builder {
        aws_sdk_ec2::config::Builder::default().retry_config(no_retry())
    }
    pub fn kms() -> aws_sdk_kms::config::Builder {
        aws_sdk_kms::config::Builder::default().retry_config(no_retry())
    }
    pub fn rolesanywhere() -> aws_sdk_rolesanywhere::config::Builder {
        aws_sdk_rolesanywhere::config::Builder::default().retry_config(no_retry())
    }
}

/// Every client of one partition, built from one SDK config.
#[derive(Clone, Debug)]
pub struct Clients {
    pub name: String,
    /// The shared-config profile the credentials come from, if any.
    pub profile: Option<String>,
    pub partition: Partition,
    pub region: String,
    pub tuning: Tuning,
    pub config: SdkConfig,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub rolesanywhere: aws_sdk_rolesanywhere::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// Calls in flight and the last answer (see `InFlight`).
    pub in_flight: std::sync::Arc<std::sync::Mutex<InFlight>>,
}

/// How to reach a partition besides what the plan says.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Overrides the plan's profile (`--profile NAME=PROFILE`).
    pub profile: Option<String>,
    /// A shared-config file to read instead of `AWS_CONFIG_FILE` / `~/.aws/config`.
    pub config_file: Option<std::path::PathBuf>,
    /// Where per-call log lines go (`-v`): operation, HTTP status and time, never a body.
    pub log: Option<CallLogFn>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("profile", &self.profile)
            .field("config_file", &self.config_file)
            .field("log", &self.log.is_some())
            .finish()
    }
}

/// Receives one line per call attempt.
pub type CallLogFn = std::sync::Arc<dyn Fn(String) + Send + Sync>;

/// The caller identity of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

impl Clients {
    /// Build the clients of one partition.
    pub async fn connect(def: &PartitionDef, opts: &ConnectOptions) -> Clients {
        let tuning = def.tuning;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(def.region.clone()))
            .retry_config(tuning.retry_config())
            .timeout_config(tuning.timeout_config());
        let files = opts.config_file.as_ref().map(|f| {
            aws_runtime::env_config::file::EnvConfigFiles::builder()
                .with_file(aws_runtime::env_config::file::EnvConfigFileKind::Config, f)
                .include_default_credentials_file(true)
                .build()
        });
        if let Some(files) = &files {
            loader = loader.profile_files(files.clone());
        }
        if let Some(p) = opts.profile.as_deref().or(def.profile.as_deref()) {
            // Credentials from this profile only: environment credentials are valid in one
            // partition at most, so they must not silently apply to both.
            let mut creds =
                aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(p);
            if let Some(files) = &files {
                creds = creds.profile_files(files.clone());
            }
            loader = loader.profile_name(p).credentials_provider(creds.build());
        }
        let config = loader.load().await;
        let in_flight = std::sync::Arc::new(std::sync::Mutex::new(InFlight::default()));
        let watch = Watch {
            partition: def.name.clone(),
            in_flight: in_flight.clone(),
            log: opts.log.clone(),
        };
        // Each service's config from the shared one, plus the watch.
        // The standard retry mode also keeps a token bucket per service that stops retrying
        // once a run has met many failures (500 tokens, 5 a retry, 10 after a transport
        // error): under a flaky China link, a destroy ran it dry and failed calls on their
        // second attempt. Every call here has its own bounded attempts and the partition its
        // time budget, so the bucket would only turn a slow run into a failed one.
        macro_rules! client {
            ($krate:ident) => {
                client!($krate, $krate::config::Builder::from(&config))
            };
            ($krate:ident, $builder:expr) => {{
                use $krate::config::retry::{RetryPartition, TokenBucket};
                let retries = RetryPartition::custom(format!("xpart-{}", def.name))
                    .token_bucket(TokenBucket::unlimited())
                    .build();
                let b = $builder.retry_partition(retries).interceptor(watch.clone());
                $krate::Client::from_conf(b.build())
            }};
        }
        Clients {
            name: def.name.clone(),
            profile: opts.profile.clone().or(def.profile.clone()),
            partition: def.partition,
            region: def.region.clone(),
            tuning,
            sts: client!(aws_sdk_sts),
            iam: client!(aws_sdk_iam),
            kms: client!(aws_sdk_kms),
            secrets: client!(aws_sdk_secretsmanager),
            ec2: client!(aws_sdk_ec2),
            rolesanywhere: {
                // A request waits in the pacer for its turn with its body not yet sent: the
                // SDK's stalled-stream protection would take that wait (5 s grace) for a
                // stalled upload and fail a request that never left, which xpart must then
                // treat as uncertain. The pacer bounds the wait; the attempt timeout still
                // bounds an answer that stalls.
                let ra = aws_sdk_rolesanywhere::config::Builder::from(&config)
                    .stalled_stream_protection(
                        aws_sdk_rolesanywhere::config::StalledStreamProtectionConfig::enabled()
                            .upload_enabled(false)
                            .build(),
                    );
                // Paced to its quotas when the SDK's client can be wrapped (it always can
                // with the default HTTPS client).
                let ra = match config.http_client().or_else(default_http_client) {
                    Some(inner) => ra.http_client(Paced {
                        inner,
                        pacer: Default::default(),
                    }),
                    None => ra,
                };
                client!(aws_sdk_rolesanywhere, ra)
            },
            tagging: client!(aws_sdk_resourcegroupstagging),
            in_flight,
            config,
        }
    }

    /// Wrap an SDK error with where it happened.
    pub fn error<E>(&self, op: &str, e: aws_sdk_sts::error::SdkError<E>) -> AwsError
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = e
            .as_service_error()
            .and_then(|s| s.code())
            .map(str::to_string);
        let message = match (&e, e.as_service_error()) {
            (aws_sdk_sts::error::SdkError::ServiceError(raw), Some(s)) => {
                let status = raw.raw().status().as_u16();
                match (s.code(), s.message()) {
                    // An answer with nothing to say (an empty 5xx body): its status at least.
                    (None, None | Some("")) => {
                        format!("HTTP {status}, with no error code or message in the answer")
                    }
                    (code, message) => format!(
                        "{}: {}",
                        code.map(str::to_string)
                            .unwrap_or_else(|| format!("HTTP {status}")),
                        message.unwrap_or_default()
                    ),
                }
            }
            _ => describe_transport(&e),
        };
        use aws_sdk_sts::error::SdkError;
        let transient = match &e {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(s) => {
                s.raw().status().is_server_error()
                    || code.as_deref().is_some_and(|c| THROTTLING.contains(&c))
            }
            _ => false,
        };
        AwsError {
            partition: self.name.clone(),
            region: self.region.clone(),
            op: op.to_string(),
            message,
            code,
            transient,
        }
    }

    /// Who we are in this partition.
    pub async fn identity(&self) -> Result<Identity, AwsError> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| {
            let mut e = self.error("GetCallerIdentity", e);
            if e.code.as_deref().is_some_and(|c| AUTH_REFUSED.contains(&c)) {
                let profile = match &self.profile {
                    Some(p) => format!("profile `{p}`"),
                    None => "the credentials in use".into(),
                };
                e.message = format!(
                    "{}; {profile} is refused here ({}): its keys, or the region or \
                         endpoint it signs for, may belong to the other partition (check the \
                         plan's `profile:` and --profile)",
                    e.message.trim_end_matches('.'),
                    self.partition
                );
            }
            e
        })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
        })
    }

    /// Refuse to work in an account other than the plan's expected one.
    pub async fn check_account(&self, expected: Option<&str>) -> Result<Identity, AwsError> {
        let id = self.identity().await?;
        if let Some(want) = expected {
            if id.account != want {
                return Err(AwsError {
                    partition: self.name.clone(),
                    region: self.region.clone(),
                    op: "account check".into(),
                    message: format!(
                        "the credentials are for account {} but the plan expects {want}; refusing to touch it",
                        id.account
                    ),
                    code: Some("AccountMismatch".into()),
                transient: false,
                });
            }
        }
        if !id.arn.starts_with(&format!("arn:{}:", self.partition.id())) {
            return Err(AwsError {
                partition: self.name.clone(),
                region: self.region.clone(),
                op: "partition check".into(),
                message: format!(
                    "the caller {} is not in partition {}",
                    id.arn, self.partition
                ),
                code: Some("PartitionMismatch".into()),
                transient: false,
            });
        }
        Ok(id)
    }
}

/// Why a profile may have no credentials, for the error that says so: the profile's name and
/// where it was looked for, when the file or the profile is missing.
pub fn profile_problem(profile: Option<&str>, config_file: Option<&std::path::Path>) -> String {
    let Some(profile) = profile else {
        return " (no profile: set `profile:` on the partition or pass --profile NAME=PROFILE)"
            .into();
    };
    let config = config_file
        .map(std::path::Path::to_path_buf)
        .or_else(|| std::env::var_os("AWS_CONFIG_FILE").map(Into::into))
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/config")));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/credentials"))
        });
    let read = |p: &Option<std::path::PathBuf>| {
        p.as_ref().and_then(|p| {
            crate::input::read_text("AWS config file", p, crate::input::MAX_PLAN).ok()
        })
    };
    let has = |text: &Option<String>, headers: &[String]| {
        text.as_ref().is_some_and(|t| {
            t.lines().any(|l| {
                let l: String = l.split_whitespace().collect::<Vec<_>>().join(" ");
                headers.contains(&l)
            })
        })
    };
    let (ctext, ktext) = (read(&config), read(&credentials));
    let in_config = has(
        &ctext,
        &[format!("[profile {profile}]"), format!("[{profile}]")],
    );
    let in_credentials = has(&ktext, &[format!("[{profile}]")]);
    let shown = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no HOME)".into())
    };
    if ctext.is_none() && ktext.is_none() {
        format!(
            " for profile `{profile}`: neither the shared config file {} nor the credentials file {} \
             exists (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)",
            shown(&config),
            shown(&credentials)
        )
    } else if !in_config && !in_credentials {
        format!(
            " for profile `{profile}`: no `[profile {profile}]` in {} and no `[{profile}]` in {}",
            shown(&config),
            shown(&credentials)
        )
    } else {
        format!(" for profile `{profile}`")
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sts::error::{ErrorMetadata, SdkError};
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn clients() -> super::Clients {
        let def = crate::plan::PartitionDef::new(
            "china",
            crate::partition::Partition::AwsCn,
            serde_yaml::from_str("region: cn-north-1").unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(super::Clients::connect(&def, &Default::default()))
    }

    fn answer(status: u16, meta: ErrorMetadata) -> SdkError<GetCallerIdentityError, Response> {
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(GetCallerIdentityError::generic(meta), raw)
    }

    /// An error answer without code or message still says something: its HTTP status (a
    /// destroy once failed with "…(cn-north-1): error: " and nothing after it).
    #[test]
    fn an_answer_without_code_or_message_names_its_status() {
        let c = clients();
        let e = c.error(
            "RemoveRoleFromInstanceProfile",
            answer(503, ErrorMetadata::builder().build()),
        );
        assert_eq!(
            e.message,
            "HTTP 503, with no error code or message in the answer"
        );
        assert!(e.transient, "a 5xx is worth another attempt");
        let e = c.error(
            "GetCallerIdentity",
            answer(
                400,
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            ),
        );
        assert_eq!(e.message, "Throttling: Rate exceeded");
        let e = c.error(
            "GetCallerIdentity",
            answer(500, ErrorMetadata::builder().message("boom").build()),
        );
        assert_eq!(e.message, "HTTP 500: boom");
    }
}
