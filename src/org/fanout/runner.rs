//! The run: every target through its job with bounded concurrency, the rate cap, per-call
//! timeouts, the failure budget and Ctrl-C, each ending with exactly one outcome.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use futures::StreamExt;

use crate::org::accounts::Account;
use crate::org::fanout::credentials::CredentialCache;
use crate::org::fanout::rate::RateLimiter;
use crate::org::fanout::{
    FailClass, Failure, FanoutOptions, Regions, Report, SKIP_BUDGET, SKIP_INTERRUPTED, Target,
    TargetOutcome, TargetResult, classify, overall_timeout, with_timeouts,
};
use crate::reporter::Reporter;

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
        R: std::fmt::Debug + 'static,
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
