//! `AwsError`: a failure talking to a partition, with the operation, partition and region it
//! happened in, and the codes that classify it.

/// A failure talking to a partition, with where it happened.
#[derive(Debug, thiserror::Error)]
#[error("{op} in partition `{partition}` ({region}): {message}")]
pub struct AwsError {
    pub partition: String,
    pub region: String,
    pub op: String,
    pub message: String,
    /// The service's error code, when it sent one (e.g. `AccessDenied`, `ThrottlingException`).
    pub code: Option<String>,
    /// Worth another attempt: throttling, a 5xx, or a failure that never got an answer
    /// (timeout, reset, lost response), after which the request may or may not have happened.
    pub transient: bool,
}

impl AwsError {
    /// The service said this (e.g. `NoSuchEntity`).
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    /// Refused for its rate: the service throttles before it acts, so nothing happened.
    pub fn is_throttling(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| THROTTLING.contains(&c))
    }
}

/// Error codes AWS services use for throttling.
pub(super) const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestThrottled",
    "LimitExceededException",
];

/// Error codes with which a service refuses the credentials themselves (unknown keys, a
/// signature for another region or partition), before looking at the request.
pub(super) const AUTH_REFUSED: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AuthFailure",
    "IncompleteSignature",
];

/// A readable one-line cause for a failure that never reached the service.
pub(super) fn describe_transport<E: std::error::Error + 'static>(
    e: &aws_sdk_sts::error::SdkError<E>,
) -> String {
    use aws_sdk_sts::error::SdkError;
    match e {
        SdkError::TimeoutError(_) => {
            "timed out (the partition's timeouts are set in the plan: timeouts.*_ms)".into()
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => "timed out connecting".into(),
        SdkError::DispatchFailure(d) if d.is_io() => format!("connection failed: {}", chain(e)),
        SdkError::DispatchFailure(_) => format!("request could not be sent: {}", chain(e)),
        SdkError::ResponseError(_) => format!("unreadable response: {}", chain(e)),
        _ => chain(e),
    }
}

/// The error and its sources, joined: SDK errors put the useful part deep in the chain.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}
