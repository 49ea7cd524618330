//! The Organization fan-out: targets (account × region), per-account credentials, bounded
//! concurrency, a rate cap, per-call timeouts, a failure budget, Ctrl-C, and exactly one outcome
//! per target, summarised on stderr.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use futures::StreamExt;

use crate::aws::{describe, error_code};
use crate::org::accounts::Account;
use crate::reporter::Reporter;

/// Every AWS action this module calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "account:ListRegions",
];

/// Attempts per call (first try included) under the SDK's standard retry with backoff.
pub const MAX_ATTEMPTS: u32 = 4;
/// Credentials are renewed when they have less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(10 * 60);
/// AssumeRole session length.
const SESSION_DURATION_SECS: i32 = 3600;

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

/// How one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOutcome {
    Ok,
    Skipped(String),
    Failed(Failure),
}

impl TargetOutcome {
    pub fn status(&self) -> &'static str {
        match self {
            TargetOutcome::Ok => "ok",
            TargetOutcome::Skipped(_) => "skipped",
            TargetOutcome::Failed(_) => "failed",
        }
    }
}

/// Skip reasons used across commands.
pub const SKIP_NO_DEPLOYMENT: &str = "no deployment";
pub const SKIP_BUDGET: &str = "not started: failure budget reached";
pub const SKIP_INTERRUPTED: &str = "not started: interrupted";

/// Classify an SDK failure of `action` on `what` (a function, a queue, an account).
pub fn classify<E, R>(action: &str, what: &str, err: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
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

/// A shared cap on calls per second.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

enum Cached {
    Creds(Credentials),
    Failed(Failure),
}

/// Per-account credentials: AssumeRole (optionally through a first-hop role), cached per account
/// and renewed before expiry; the central account uses the caller's own credentials.
pub struct CredentialCache {
    central: SdkConfig,
    central_account: String,
    opts: FanoutOptions,
    via: tokio::sync::Mutex<Option<Credentials>>,
    accounts: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
    pub assume_calls: AtomicUsize,
    /// STS with the central credentials, built once.
    sts: std::sync::OnceLock<aws_sdk_sts::Client>,
    /// The run's cap on calls per second (AssumeRole counts too).
    limiter: Option<Arc<RateLimiter>>,
}

fn fresh(creds: &Credentials) -> bool {
    creds.expiry().is_none_or(|exp| {
        exp.duration_since(SystemTime::now())
            .is_ok_and(|left| left > REFRESH_MARGIN)
    })
}

impl CredentialCache {
    fn new(
        central: SdkConfig,
        central_account: String,
        opts: FanoutOptions,
        limiter: Option<Arc<RateLimiter>>,
    ) -> Self {
        Self {
            central,
            central_account,
            opts,
            limiter,
            via: tokio::sync::Mutex::new(None),
            accounts: std::sync::Mutex::new(HashMap::new()),
            assume_calls: AtomicUsize::new(0),
            sts: std::sync::OnceLock::new(),
        }
    }

    pub fn role_arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role/{}", self.opts.role_name)
    }

    /// Credentials for `account`; `None` means the central account's own.
    pub async fn get(&self, account: &str) -> Result<Option<Credentials>, Failure> {
        if account == self.central_account && self.opts.via_role.is_none() {
            return Ok(None);
        }
        let slot = {
            let mut map = self
                .accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(account.to_string()).or_default().clone()
        };
        let mut entry = slot.lock().await;
        match &*entry {
            Some(Cached::Creds(c)) if fresh(c) => return Ok(Some(c.clone())),
            Some(Cached::Failed(f)) => return Err(f.clone()),
            _ => {}
        }
        let first_hop = self.first_hop().await?;
        let role_arn = self.role_arn(account);
        match self
            .assume(&role_arn, first_hop, self.opts.external_id.as_deref())
            .await
        {
            Ok(creds) => {
                *entry = Some(Cached::Creds(creds.clone()));
                Ok(Some(creds))
            }
            Err(failure) => {
                *entry = Some(Cached::Failed(failure.clone()));
                Err(failure)
            }
        }
    }

    async fn first_hop(&self) -> Result<Option<Credentials>, Failure> {
        let Some(via) = &self.opts.via_role else {
            return Ok(None);
        };
        let mut cached = self.via.lock().await;
        if let Some(c) = &*cached
            && fresh(c)
        {
            return Ok(Some(c.clone()));
        }
        let creds = self.assume(via, None, None).await?;
        *cached = Some(creds.clone());
        Ok(Some(creds))
    }

    async fn assume(
        &self,
        role_arn: &str,
        with: Option<Credentials>,
        external_id: Option<&str>,
    ) -> Result<Credentials, Failure> {
        self.assume_calls.fetch_add(1, Ordering::Relaxed);
        if let Some(limiter) = &self.limiter {
            limiter.wait().await;
        }
        let client = |creds: Option<Credentials>| {
            let mut builder = self.central.to_builder();
            if let Some(creds) = creds {
                builder = builder.credentials_provider(SharedCredentialsProvider::new(creds));
            }
            aws_sdk_sts::Client::new(&with_timeouts(builder, self.opts.call_timeout).build())
        };
        let sts = match with {
            Some(creds) => client(Some(creds)),
            None => self.sts.get_or_init(|| client(None)).clone(),
        };
        let call = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&self.opts.session_name)
            .duration_seconds(SESSION_DURATION_SECS)
            .set_external_id(external_id.map(String::from))
            .send();
        let out = match tokio::time::timeout(overall_timeout(self.opts.call_timeout), call).await {
            Err(_) => {
                return Err(Failure::new(
                    FailClass::Timeout,
                    format!(
                        "sts:AssumeRole into {role_arn} did not answer in time; raise --call-timeout or check the STS endpoint"
                    ),
                ));
            }
            Ok(Err(err)) => {
                let code = error_code(&err).unwrap_or_default();
                if code == "AccessDenied" || code == "AccessDeniedException" {
                    return Err(Failure::new(
                        FailClass::AssumeRoleDenied,
                        format!(
                            "sts:AssumeRole into {role_arn} was denied ({}); check that the role exists, trusts the central account{}, and that the central role may assume it",
                            describe(&err),
                            if external_id.is_some() {
                                " with this --external-id"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                return Err(classify("sts:AssumeRole", role_arn, &err));
            }
            Ok(Ok(out)) => out,
        };
        let Some(c) = out.credentials() else {
            return Err(Failure::new(
                FailClass::AwsError,
                format!("sts:AssumeRole into {role_arn} returned no credentials"),
            ));
        };
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "cs-cmdb-assume-role",
        ))
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

/// What a job gets for its target: the member account's SDK configuration in the target's region,
/// and a wrapper that applies the rate cap and the call timeout.
#[derive(Clone)]
pub struct TargetCtx {
    pub target: Target,
    pub config: SdkConfig,
    /// The central account's configuration (S3 reads on the metadata path).
    pub central: SdkConfig,
    limiter: Option<Arc<RateLimiter>>,
    call_timeout: Duration,
    lambda: Arc<std::sync::OnceLock<aws_sdk_lambda::Client>>,
    sqs: Arc<std::sync::OnceLock<aws_sdk_sqs::Client>>,
}

impl TargetCtx {
    /// Run one AWS call: wait for the rate cap, bound it in time, classify its failure.
    pub async fn call<T, E, R, F>(&self, action: &str, what: &str, call: F) -> Result<T, Failure>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        self.pace().await;
        match tokio::time::timeout(overall_timeout(self.call_timeout), call).await {
            Err(_) => Err(Failure::new(
                FailClass::Timeout,
                format!(
                    "{action} on {what} in {} did not answer in time; raise --call-timeout or check the endpoint",
                    self.target
                ),
            )),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(err)) => Err(classify(
                action,
                &format!("{what} in {}", self.target),
                &err,
            )),
        }
    }

    /// Wait for the rate cap (for calls made outside [`TargetCtx::call`]).
    pub async fn pace(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.wait().await;
        }
    }

    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The SDK's retry quota (a token bucket) is shared by every client of a service unless they
    /// name their own partition: give each target its own, so that one throttled or hung account
    /// cannot use up the retries of the healthy ones (AWS throttles per account and region too).
    fn partition(&self, service: &str) -> String {
        format!(
            "{service}-{}-{}",
            self.target.account_id, self.target.region
        )
    }

    /// A Lambda client for the target.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        self.lambda
            .get_or_init(|| {
                let conf = aws_sdk_lambda::config::Builder::from(&self.config)
                    .retry_partition(aws_sdk_lambda::config::retry::RetryPartition::new(
                        self.partition("lambda"),
                    ))
                    .build();
                aws_sdk_lambda::Client::from_conf(conf)
            })
            .clone()
    }

    /// An SQS client for the target.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| {
                let conf = aws_sdk_sqs::config::Builder::from(&self.config)
                    .retry_partition(aws_sdk_sqs::config::retry::RetryPartition::new(
                        self.partition("sqs"),
                    ))
                    .build();
                aws_sdk_sqs::Client::from_conf(conf)
            })
            .clone()
    }
}

/// Per-account expansion of `--regions all`, and the run itself.
pub struct Fanout {
    pub central: SdkConfig,
    pub central_account: String,
    pub opts: FanoutOptions,
    pub creds: Arc<CredentialCache>,
    limiter: Option<Arc<RateLimiter>>,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    /// Progress, per-target outcomes and the interrupt notice go here.
    reporter: Arc<dyn Reporter>,
}

/// One finished target and what its job produced.
#[derive(Debug)]
pub struct TargetResult<T> {
    pub target: Target,
    pub outcome: TargetOutcome,
    pub items: Vec<T>,
    pub elapsed: Duration,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Report<T> {
    pub results: Vec<TargetResult<T>>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub budget_exhausted: bool,
}

impl<T> Report<T> {
    /// With the targets decided while listing regions (skipped, or failed before any job),
    /// everything ordered by target.
    pub fn with_decided(mut self, decided: Vec<TargetResult<std::convert::Infallible>>) -> Self {
        self.results
            .extend(decided.into_iter().map(|r| TargetResult {
                target: r.target,
                outcome: r.outcome,
                items: Vec::new(),
                elapsed: r.elapsed,
            }));
        self.results.sort_by(|a, b| a.target.cmp(&b.target));
        self
    }

    pub fn count(&self, status: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.status() == status)
            .count()
    }

    /// `ok` only when every target ended ok or skipped for a benign reason and the run was not cut short.
    pub fn exit(&self) -> crate::exit::Outcome {
        if self.count("failed") > 0 || self.interrupted || self.budget_exhausted {
            crate::exit::Outcome::Failures
        } else {
            crate::exit::Outcome::Success
        }
    }

    /// True when targets existed and not one got past its credentials.
    pub fn nothing_ran(&self) -> bool {
        !self.results.is_empty()
            && self.results.iter().all(|r| {
                matches!(&r.outcome, TargetOutcome::Failed(f) if f.class == FailClass::AssumeRoleDenied)
            })
    }

    /// The summary for stderr: one line per failed target, then the counts per outcome and
    /// class.
    pub fn summary(&self, noun: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for r in &self.results {
            if let TargetOutcome::Failed(f) = &r.outcome {
                lines.push(format!("failed {}: {f}", r.target));
            }
        }
        let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failed: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.results {
            match &r.outcome {
                TargetOutcome::Skipped(reason) => *skipped.entry(reason.as_str()).or_default() += 1,
                TargetOutcome::Failed(f) => *failed.entry(f.class.as_str()).or_default() += 1,
                TargetOutcome::Ok => {}
            }
        }
        let detail = |m: &BTreeMap<&str, usize>| {
            if m.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!(" ({})", parts.join(", "))
            }
        };
        let mut out = format!(
            "{noun}: {} targets: {} ok, {} skipped{}, {} failed{} in {:.1}s",
            self.results.len(),
            self.count("ok"),
            self.count("skipped"),
            detail(&skipped),
            self.count("failed"),
            detail(&failed),
            self.elapsed.as_secs_f64()
        );
        if self.interrupted {
            out.push_str("; interrupted (Ctrl-C): targets not started are listed as skipped");
        }
        if self.budget_exhausted {
            out.push_str("; failure budget (--max-failures) reached: targets not started are listed as skipped");
        }
        lines.push(out);
        lines
    }
}

impl Fanout {
    pub fn new(
        central: SdkConfig,
        central_account: String,
        opts: FanoutOptions,
        reporter: Arc<dyn Reporter>,
    ) -> Self {
        // One HTTP client (one connection pool, root certificates loaded once) for every target's
        // clients: without it each SDK client builds its own.
        let central = if central.http_client().is_some() {
            central
        } else {
            use aws_smithy_http_client::tls;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https();
            central.to_builder().http_client(http).build()
        };
        let limiter = opts.rate.map(|r| Arc::new(RateLimiter::new(r)));
        let creds = Arc::new(CredentialCache::new(
            central.clone(),
            central_account.clone(),
            opts.clone(),
            limiter.clone(),
        ));
        Self {
            limiter,
            central,
            central_account,
            opts,
            creds,
            stop: Arc::new(AtomicBool::new(false)),
            failures: Arc::new(AtomicUsize::new(0)),
            reporter,
        }
    }

    /// Stop starting new targets on Ctrl-C (in-flight ones finish or time out).
    pub fn stop_on_ctrl_c(&self) {
        let stop = self.stop.clone();
        let reporter = self.reporter.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
                reporter.notice(
                    "interrupted: no new targets will start; waiting for the calls in flight",
                );
            }
        });
    }

    fn member_config(&self, creds: Option<Credentials>, region: &str) -> SdkConfig {
        let mut builder = self
            .central
            .to_builder()
            .region(aws_config::Region::new(region.to_string()));
        if let Some(creds) = creds {
            builder = builder.credentials_provider(SharedCredentialsProvider::new(creds));
        }
        with_timeouts(builder, self.opts.call_timeout).build()
    }

    fn ctx(&self, target: Target, creds: Option<Credentials>) -> TargetCtx {
        TargetCtx {
            config: self.member_config(creds, &target.region),
            central: self.central.clone(),
            limiter: self.limiter.clone(),
            call_timeout: self.opts.call_timeout,
            lambda: Default::default(),
            sqs: Default::default(),
            target,
        }
    }

    /// The targets: accounts × regions. With `--regions all`, each account's enabled regions
    /// (listed with its own credentials); opt-in regions it has not enabled come back as
    /// already-skipped targets, and an account whose credentials fail as one failed target
    /// (region `*`).
    pub async fn targets(
        &self,
        accounts: &[Account],
    ) -> (Vec<Target>, Vec<TargetResult<std::convert::Infallible>>) {
        let target = |a: &Account, region: &str| Target {
            account_id: a.id.clone(),
            account_name: a.name.clone(),
            region: region.to_string(),
        };
        match &self.opts.regions {
            Regions::List(regions) => (
                accounts
                    .iter()
                    .flat_map(|a| regions.iter().map(move |r| target(a, r)))
                    .collect(),
                Vec::new(),
            ),
            Regions::All => {
                let listed: Vec<_> = futures::stream::iter(accounts)
                    .map(|a| async move {
                        let started = Instant::now();
                        let result = self.enabled_regions(&a.id).await;
                        (a, result, started.elapsed())
                    })
                    .buffered(self.opts.concurrency.max(1))
                    .collect()
                    .await;
                let mut targets = Vec::new();
                let mut done = Vec::new();
                for (a, result, elapsed) in listed {
                    match result {
                        Ok(regions) => {
                            for (region, enabled, status) in regions {
                                if enabled {
                                    targets.push(target(a, &region));
                                } else {
                                    done.push(TargetResult {
                                        target: target(a, &region),
                                        outcome: TargetOutcome::Skipped(format!(
                                            "region not enabled ({status})"
                                        )),
                                        items: Vec::new(),
                                        elapsed: Duration::ZERO,
                                    });
                                }
                            }
                        }
                        Err(failure) => {
                            self.failures.fetch_add(1, Ordering::SeqCst);
                            done.push(TargetResult {
                                target: target(a, "*"),
                                outcome: TargetOutcome::Failed(failure),
                                items: Vec::new(),
                                elapsed,
                            });
                        }
                    }
                }
                (targets, done)
            }
        }
    }

    /// `(region, enabled, status)` for every region the account knows of.
    async fn enabled_regions(&self, account: &str) -> Result<Vec<(String, bool, String)>, Failure> {
        let creds = self.creds.get(account).await?;
        // The Account API is global; its endpoint lives in us-east-1.
        let ctx = self.ctx(
            Target {
                account_id: account.to_string(),
                account_name: String::new(),
                region: "us-east-1".into(),
            },
            creds,
        );
        let client = aws_sdk_account::Client::new(&ctx.config);
        let mut pages = client.list_regions().into_paginator().send();
        let mut out = Vec::new();
        loop {
            ctx.pace().await;
            let page = match tokio::time::timeout(overall_timeout(ctx.call_timeout), pages.next())
                .await
            {
                Err(_) => {
                    return Err(Failure::new(
                        FailClass::Timeout,
                        format!(
                            "account:ListRegions for account {account} did not answer in time; raise --call-timeout, or pass --regions r1,r2"
                        ),
                    ));
                }
                Ok(None) => break,
                Ok(Some(page)) => page.map_err(|err| {
                    classify(
                        "account:ListRegions",
                        &format!("account {account} (or pass --regions r1,r2)"),
                        &err,
                    )
                })?,
            };
            for r in page.regions() {
                let Some(name) = r.region_name() else {
                    continue;
                };
                let status = r
                    .region_opt_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                let enabled = matches!(status.as_str(), "ENABLED" | "ENABLED_BY_DEFAULT");
                out.push((name.to_string(), enabled, status));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Run `job` on every target with bounded concurrency. Every target yields exactly one result,
    /// in target order.
    pub async fn run<T, F, Fut>(&self, targets: Vec<Target>, job: F) -> Report<T>
    where
        F: Fn(TargetCtx) -> Fut,
        Fut: Future<Output = (TargetOutcome, Vec<T>)>,
    {
        let started = Instant::now();
        let total = targets.len();
        let progress = self.reporter.progress(total as u64, "targets");
        let budget_hit = AtomicBool::new(false);
        let job = &job;
        let progress_ref = &progress;
        let budget_ref = &budget_hit;
        let mut results: Vec<(usize, TargetResult<T>)> =
            futures::stream::iter(targets.into_iter().enumerate())
                .map(|(index, target)| async move {
                    let t0 = Instant::now();
                    let not_started = |reason: &str| TargetOutcome::Skipped(reason.to_string());
                    let (outcome, items) = if self.stop.load(Ordering::SeqCst) {
                        (not_started(SKIP_INTERRUPTED), Vec::new())
                    } else if self
                        .opts
                        .max_failures
                        .is_some_and(|max| self.failures.load(Ordering::SeqCst) >= max)
                    {
                        budget_ref.store(true, Ordering::SeqCst);
                        (not_started(SKIP_BUDGET), Vec::new())
                    } else {
                        match self.creds.get(&target.account_id).await {
                            Err(failure) => (TargetOutcome::Failed(failure), Vec::new()),
                            Ok(creds) => job(self.ctx(target.clone(), creds)).await,
                        }
                    };
                    let failed = matches!(outcome, TargetOutcome::Failed(_));
                    if failed {
                        self.failures.fetch_add(1, Ordering::SeqCst);
                    }
                    progress_ref.item_done(failed);
                    (
                        index,
                        TargetResult {
                            target,
                            outcome,
                            items,
                            elapsed: t0.elapsed(),
                        },
                    )
                })
                .buffer_unordered(self.opts.concurrency.max(1))
                .collect()
                .await;
        progress.finish();
        results.sort_by_key(|(i, _)| *i);
        Report {
            results: results.into_iter().map(|(_, r)| r).collect(),
            elapsed: started.elapsed(),
            interrupted: self.stop.load(Ordering::SeqCst),
            budget_exhausted: budget_hit.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let at = |secs: u64| {
            Credentials::new(
                "AKID",
                "secret",
                None,
                Some(SystemTime::now() + Duration::from_secs(secs)),
                "t",
            )
        };
        assert!(fresh(&at(3600)));
        assert!(!fresh(&at(60)), "less than the margin left: renew");
        assert!(!fresh(&Credentials::new(
            "AKID",
            "secret",
            None,
            Some(SystemTime::now() - Duration::from_secs(1)),
            "t"
        )));
        assert!(fresh(&Credentials::new("AKID", "secret", None, None, "t")));
    }

    #[tokio::test]
    async fn rate_limiter_spaces_calls() {
        let limiter = RateLimiter::new(20.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            limiter.wait().await;
        }
        let elapsed = t0.elapsed();
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}
