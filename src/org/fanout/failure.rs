//! Why a target failed: the classes every outcome reports, and how an SDK error falls into one
//! (with what to do about it).

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::aws::{describe, error_code};

/// Why a target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailClass {
    /// sts:AssumeRole into the member role was refused.
    AssumeRoleDenied,
    /// The region is not enabled for the account (or rejects its credentials).
    RegionDisabled,
    /// The CloneSquad function (or API) answered with an error.
    InvokeError,
    /// Still throttled after the SDK's retries.
    Throttled,
    /// A call did not answer in time.
    Timeout,
    /// The export was triggered but its discovery object was not rewritten in time.
    NotVerified,
    /// The deployment writes its metadata somewhere else than --metadata-path.
    Misconfigured,
    /// Access denied on a call in the member account.
    AccessDenied,
    /// Any other AWS error.
    AwsError,
}

impl FailClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailClass::AssumeRoleDenied => "assume-role-denied",
            FailClass::RegionDisabled => "region-disabled",
            FailClass::InvokeError => "invoke-error",
            FailClass::Throttled => "throttled",
            FailClass::Timeout => "timeout",
            FailClass::NotVerified => "not-verified",
            FailClass::Misconfigured => "misconfigured",
            FailClass::AccessDenied => "access-denied",
            FailClass::AwsError => "aws-error",
        }
    }
}

/// A classified failure with a message naming what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailClass,
    pub message: String,
}

impl Failure {
    pub fn new(class: FailClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class.as_str(), self.message)
    }
}

/// Classify an SDK failure of `action` on `what` (a function, a queue, an account).
pub fn classify<E, R>(action: &str, what: &str, err: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let detail = describe(err);
    let code = error_code(err).unwrap_or_default();
    let class = match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "SlowDown"
        | "ProvisionedThroughputExceededException" => FailClass::Throttled,
        "UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure" => {
            FailClass::RegionDisabled
        }
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            FailClass::AccessDenied
        }
        _ => match err {
            SdkError::TimeoutError(_) => FailClass::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => FailClass::Timeout,
            _ => FailClass::AwsError,
        },
    };
    let hint = match class {
        FailClass::Throttled => "still throttled after retries; lower --concurrency or set --rate",
        FailClass::RegionDisabled => {
            "the region may not be enabled for this account; enable it or leave it out of --regions"
        }
        FailClass::AccessDenied => "grant the member role the action (see iam/member-role.json)",
        FailClass::Timeout => "no answer in time; raise --call-timeout or check the endpoint",
        _ => "see the AWS message",
    };
    Failure::new(class, format!("{action} on {what}: {detail} ({hint})"))
}
