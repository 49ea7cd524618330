//! Per-account credentials for the fan-out: AssumeRole into each member's role (optionally
//! through a first-hop role), once per account for the whole run, renewed before expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::aws::{describe, error_code};
use crate::org::fanout::rate::RateLimiter;
use crate::org::fanout::{
    FailClass, Failure, FanoutOptions, classify, overall_timeout, with_timeouts,
};

/// Credentials are renewed when they have less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(10 * 60);
/// AssumeRole session length.
const SESSION_DURATION_SECS: i32 = 3600;

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
    pub(super) fn new(
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
}
