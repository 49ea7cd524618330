//! The Organization fan-out: targets (account × region), per-account credentials, bounded
//! concurrency, a rate cap, per-call timeouts, a failure budget, Ctrl-C, and exactly one outcome
//! per target.
//!
//! - [`runner`]: the run ([`Fanout`]) and what each target's job gets ([`TargetCtx`]);
//! - [`credentials`]: AssumeRole per account, cached and renewed;
//! - [`failure`]: the failure classes and how an SDK error falls into one;
//! - [`rate`]: the cap on calls per second;
//! - [`report`]: each target's outcome and the run's summary.
//!
//! The fan-out prints nothing: progress and the interrupt notice go to a
//! [`crate::reporter::Reporter`].

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

pub mod credentials;
pub mod failure;
pub mod rate;
pub mod report;
pub mod runner;

pub use failure::{FailClass, Failure, classify};
pub use report::{
    Report, SKIP_BUDGET, SKIP_INTERRUPTED, SKIP_NO_DEPLOYMENT, TargetOutcome, TargetResult,
};
pub use runner::{Fanout, TargetCtx};

/// Every AWS action this module calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "account:ListRegions",
];

/// Attempts per call (first try included) under the SDK's standard retry with backoff.
pub const MAX_ATTEMPTS: u32 = 4;

/// Which regions each account is visited in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    /// These regions in every account (a region the account has not enabled fails as
    /// `region-disabled`).
    List(Vec<String>),
    /// The regions enabled for each account (`account:ListRegions`); the others are skipped.
    All,
}

/// How the fan-out runs.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub regions: Regions,
    pub role_name: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub via_role: Option<String>,
    pub concurrency: usize,
    /// Cap on AWS calls per second across the whole run.
    pub rate: Option<f64>,
    /// Timeout of one attempt of one call.
    pub call_timeout: Duration,
    /// Stop starting new targets once this many have failed.
    pub max_failures: Option<usize>,
}

/// One account × region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account_id, self.region)
    }
}

fn with_timeouts(
    builder: aws_types::sdk_config::Builder,
    call_timeout: Duration,
) -> aws_types::sdk_config::Builder {
    builder
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(call_timeout.min(Duration::from_secs(5)))
                .operation_attempt_timeout(call_timeout)
                .build(),
        )
}

/// A guard on a whole call, retries included.
fn overall_timeout(call_timeout: Duration) -> Duration {
    call_timeout * MAX_ATTEMPTS + Duration::from_secs(30)
}
