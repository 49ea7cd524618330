//! One place that builds the AWS SDK configuration and clients.

use std::time::Duration;

use anyhow::bail;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::settings::AwsSettings;

/// Attempts per call (first try included) under the SDK's standard retry with backoff.
const MAX_ATTEMPTS: u32 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Build the shared SDK configuration: profile, region, endpoint override, standard retry and
/// timeouts. A missing region is an error naming the ways to set one.
pub async fn sdk_config(settings: &AwsSettings) -> anyhow::Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!(
            "no AWS region configured: pass --region, set AWS_REGION, or set `region` in the AWS profile or cs-cmdb.toml"
        );
    }
    Ok(config)
}

/// An S3 client; path-style addressing when an endpoint override is in use (emulators, VPC
/// endpoints), since virtual-host buckets would need DNS for `<bucket>.<endpoint>`.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// A one-line, human description of an SDK failure: the service's code and message, or what
/// went wrong on the way (no connection, timeout).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
            }
        }
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => format!(
            "could not reach the AWS endpoint ({}); check --endpoint-url, the network and the proxy settings",
            aws_smithy_types::error::display::DisplayErrorContext(err)
        ),
        SdkError::TimeoutError(_) => {
            "the call timed out; check the network, or retry later".to_string()
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

/// The service error code, if the call reached the service.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}
