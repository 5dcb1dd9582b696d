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

/// Named refusals the engine acts on. Each is the service's error code where that alone tells
/// the cause; where AWS sends one code for several causes, the message is the only signal, and
/// the match on it stays here, beside the documentation that says so, instead of in the types.
impl AwsError {
    /// KMS CreateKey or PutKeyPolicy refused a key policy naming a principal KMS cannot see
    /// yet (a role made seconds ago). The code, `MalformedPolicyDocumentException`, is sent for
    /// any malformed policy, so the message ("…invalid principals") tells this cause apart:
    /// "The principals in the key policy must exist and be visible to AWS KMS. When you create
    /// a new AWS principal, you might need to enforce a delay before including the new
    /// principal in a key policy because the new principal might not be immediately visible
    /// to AWS KMS" (AWS KMS API Reference, CreateKey, request parameter `Policy`, and its
    /// Errors: https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html).
    pub fn is_kms_principal_not_visible(&self) -> bool {
        self.is("MalformedPolicyDocumentException")
            && self.message.to_ascii_lowercase().contains("principal")
    }

    /// IAM CreateRole or UpdateAssumeRolePolicy refused a trust policy naming a principal IAM
    /// cannot see yet. `MalformedPolicyDocument` ("The request was rejected because the policy
    /// document was malformed", IAM API Reference, CreateRole, Errors:
    /// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html) covers every
    /// malformed policy; the message "Invalid principal in policy" names this cause (IAM User
    /// Guide, Troubleshooting IAM policies:
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_policies.html).
    pub fn is_iam_principal_not_visible(&self) -> bool {
        self.is("MalformedPolicyDocument") && self.message.contains("Invalid principal")
    }

    /// EC2 RunInstances or AssociateIamInstanceProfile refused an instance profile it cannot
    /// see yet (made in IAM seconds ago). `InvalidParameterValue` ("A value specified in a
    /// parameter is not valid", Amazon EC2 API Reference, Error codes:
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html) is sent for
    /// any bad parameter, so the message naming the instance profile (`iamInstanceProfile.name`)
    /// tells this cause apart (IAM User Guide, Troubleshooting IAM and Amazon EC2, "Invalid IAM
    /// Instance Profile": https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_iam-ec2.html).
    pub fn is_ec2_instance_profile_not_visible(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.is("InvalidParameterValue")
            && (m.contains("instance profile") || m.contains("iaminstanceprofile"))
    }

    /// Secrets Manager CreateSecret refused a name whose secret is scheduled for deletion.
    /// `InvalidRequestException` has several documented causes ("The secret is scheduled for
    /// deletion", "You tried to enable rotation on a secret that doesn't already have a Lambda
    /// function ARN configured…", "The secret is managed by another service…": Secrets Manager
    /// API Reference, CreateSecret, Errors:
    /// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html);
    /// only the first speaks of deletion, so the message tells it apart.
    pub fn is_secret_scheduled_for_deletion(&self) -> bool {
        self.is("InvalidRequestException") && self.message.contains("deletion")
    }

    /// Secrets Manager refused a call on a secret marked for deletion: DeleteSecret again (a
    /// retry after a lost answer), or GetSecretValue of it (the plan's lease, deleted with a
    /// recovery window). `InvalidRequestException` has several documented causes (Secrets
    /// Manager API Reference, DeleteSecret and GetSecretValue, Errors: "The secret is scheduled
    /// for deletion"; https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html,
    /// .../API_GetSecretValue.html); the message ("…marked deleted", "…marked for deletion")
    /// tells this one apart.
    pub fn is_secret_marked_deleted(&self) -> bool {
        self.is("InvalidRequestException") && self.message.contains("marked")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: &str, message: &str) -> AwsError {
        AwsError {
            partition: "china".into(),
            region: "cn-north-1".into(),
            op: "Op".into(),
            message: message.into(),
            code: Some(code.into()),
            transient: false,
        }
    }

    /// A predicate, the code it looks for, a message of its cause and one of another cause.
    type Case = (
        fn(&AwsError) -> bool,
        &'static str,
        &'static str,
        &'static str,
    );

    /// Each predicate takes its cause, and not another cause AWS sends under the same code.
    #[test]
    fn each_named_refusal_is_told_from_others_of_its_code() {
        let cases: [Case; 5] = [
            (
                AwsError::is_kms_principal_not_visible,
                "MalformedPolicyDocumentException",
                "Policy contains a statement with one or more invalid principals.",
                "Policy contains a statement with an invalid action.",
            ),
            (
                AwsError::is_iam_principal_not_visible,
                "MalformedPolicyDocument",
                "Invalid principal in policy: \"AWS\":\"arn:aws:iam::1:role/r\"",
                "Syntax errors in policy.",
            ),
            (
                AwsError::is_ec2_instance_profile_not_visible,
                "InvalidParameterValue",
                "Value (p) for parameter iamInstanceProfile.name is invalid.",
                "Value (x) for parameter instanceType is invalid.",
            ),
            (
                AwsError::is_secret_scheduled_for_deletion,
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
                "You tried to enable rotation on a secret without a Lambda function ARN.",
            ),
            (
                AwsError::is_secret_marked_deleted,
                "InvalidRequestException",
                "You tried to perform the operation on a secret that's currently marked deleted.",
                "The secret is managed by another service.",
            ),
        ];
        for (is, code, yes, no) in cases {
            assert!(is(&refusal(code, yes)), "{code}: {yes}");
            assert!(!is(&refusal(code, no)), "{code}: {no}");
            assert!(!is(&refusal("AccessDenied", yes)), "another code: {yes}");
        }
    }
}
