//! One place that builds the AWS SDK configuration and clients.
//!
//! Credentials follow the AWS CLI (botocore's `create_credential_resolver`):
//!
//! | set | credentials from |
//! |---|---|
//! | an explicit profile: `--profile`, `CS_CMDB_PROFILE`, `profile` in cs-cmdb.toml | that profile only (keys, assume role, SSO, credential_process) |
//! | `AWS_ACCESS_KEY_ID` (+ secret) in the environment | the environment, even when `AWS_PROFILE` is set (with a warning) |
//! | `AWS_PROFILE` | that profile, through the SDK's default chain |
//! | nothing | the SDK's default chain (default profile, web identity, container, instance) |
//!
//! A profile that is named (explicitly or by `AWS_PROFILE`) must exist: an unknown one is an
//! error before any AWS call, naming the files read and the profiles they define.

use std::fmt;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use anyhow::bail;
use aws_config::default_provider::region::DefaultRegionChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_types::os_shim_internal::{Env, Fs};

use crate::reporter::Reporter;

/// Settings for building AWS clients.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// An explicit profile (`--profile`, `CS_CMDB_PROFILE` or `profile` in cs-cmdb.toml): it beats
    /// credentials in the environment, as the AWS CLI's `--profile` does.
    pub profile: Option<String>,
    /// Where [`Self::profile`] was set, for messages (`--profile`, `` `profile` in cs-cmdb.toml ``).
    pub profile_origin: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Whether `id` can be an AWS account id: 12 digits.
pub fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The regions of every AWS partition, as the SDK's endpoint partition data lists them
/// (`partitions.json` in aws-sdk-s3 1.137). A region launched since is accepted with
/// `--allow-unknown-region` (or `CS_CMDB_ALLOW_UNKNOWN_REGION=true`).
pub const KNOWN_REGIONS: &[&str] = &[
    // aws
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    // aws-cn, aws-eusc, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-us-gov
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// Check a region name against [`KNOWN_REGIONS`]: an error with the closest known name, and the
/// escape hatch, unless `allow_unknown` (a well-formed name is then enough).
pub fn check_region(name: &str, allow_unknown: bool) -> Result<(), String> {
    if !valid_region(name) {
        return Err(format!(
            "`{name}` is not an AWS region name (like eu-west-1)"
        ));
    }
    match unknown_region(name) {
        Some(why) if !allow_unknown => Err(format!(
            "{why} (a region newer than this build: pass --allow-unknown-region)"
        )),
        _ => Ok(()),
    }
}

/// Why `name` is not in [`KNOWN_REGIONS`], with the closest known name; `None` when it is.
fn unknown_region(name: &str) -> Option<String> {
    if KNOWN_REGIONS.contains(&name) {
        return None;
    }
    let known: Vec<String> = KNOWN_REGIONS.iter().map(|r| r.to_string()).collect();
    let hint = crate::text::closest(name, &known)
        .map(|close| format!("; did you mean `{close}`?"))
        .unwrap_or_default();
    Some(format!("`{name}` is not a known AWS region{hint}"))
}

/// Whether `name` can be an AWS region: lowercase words and digits joined by hyphens, three or
/// more, the last a number (`eu-west-1`, `us-gov-west-1`).
pub fn valid_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Attempts per call (first try included) under the SDK's standard retry with backoff.
const MAX_ATTEMPTS: u32 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the credentials of a run come from, decided from the settings and the environment
/// before any AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// An explicit profile: its credentials only, the environment's keys are not consulted.
    Profile(String),
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`).
    Environment {
        /// `AWS_PROFILE`, set but not used for credentials (the AWS CLI ignores it too).
        ignored_profile: Option<String>,
    },
    /// `AWS_PROFILE`, through the SDK's default chain.
    AwsProfile(String),
    /// The SDK's default chain: the default profile, web identity, container, instance.
    DefaultChain,
}

impl CredentialSource {
    /// The decision, as the AWS CLI makes it: an explicit profile removes the environment keys
    /// from the chain; `AWS_PROFILE` alone does not.
    pub fn decide(explicit: Option<&str>, aws_profile: Option<&str>, env_keys: bool) -> Self {
        match (explicit, aws_profile, env_keys) {
            (Some(name), _, _) => Self::Profile(name.to_string()),
            (None, ignored, true) => Self::Environment {
                ignored_profile: ignored.map(str::to_string),
            },
            (None, Some(name), false) => Self::AwsProfile(name.to_string()),
            (None, None, false) => Self::DefaultChain,
        }
    }

    /// The profile that has to exist, and where it was named.
    fn named_profile<'a>(&'a self, settings: &'a AwsSettings) -> Option<(&'a str, &'a str)> {
        match self {
            Self::Profile(name) => Some((
                name,
                settings.profile_origin.as_deref().unwrap_or("--profile"),
            )),
            Self::Environment {
                ignored_profile: Some(name),
            }
            | Self::AwsProfile(name) => Some((name, "AWS_PROFILE")),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Profile(name) => write!(f, "profile {name}"),
            Self::Environment { .. } => write!(f, "environment"),
            Self::AwsProfile(name) => write!(f, "default chain (profile {name} from AWS_PROFILE)"),
            Self::DefaultChain => write!(f, "default chain"),
        }
    }
}

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One of the AWS shared files, where the SDK looks for it (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`).
#[derive(Debug, Clone)]
pub struct ProfileFile {
    pub path: PathBuf,
    pub exists: bool,
}

impl fmt::Display for ProfileFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.exists {
            "exists"
        } else {
            "does not exist"
        };
        write!(f, "{} ({state})", self.path.display())
    }
}

/// The config and credentials files, located as the SDK locates them.
pub fn profile_files() -> [ProfileFile; 2] {
    let locate = |var: &str, default: &str| {
        let text = env_var(var).unwrap_or_else(|| default.to_string());
        let path = match (text.strip_prefix("~/"), dirs::home_dir()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(&text),
        };
        let exists = path.is_file();
        ProfileFile { path, exists }
    };
    [
        locate("AWS_CONFIG_FILE", "~/.aws/config"),
        locate("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ]
}

/// A profile that was named but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{}", unknown_message(.name, .origin, .files, .known))]
    Unknown {
        name: String,
        /// Where it was named: `--profile`, `CS_CMDB_PROFILE`, `AWS_PROFILE`, the config file.
        origin: String,
        files: [ProfileFile; 2],
        /// The profiles the files define, sorted.
        known: Vec<String>,
    },
    #[error(
        "AWS profile `{name}` (from {origin}) cannot be looked up: the AWS config files ({}) cannot be read: {detail}",
        list_files(.files)
    )]
    Unreadable {
        name: String,
        origin: String,
        files: [ProfileFile; 2],
        detail: String,
    },
}

fn list_files(files: &[ProfileFile; 2]) -> String {
    format!("{}, {}", files[0], files[1])
}

fn unknown_message(name: &str, origin: &str, files: &[ProfileFile; 2], known: &[String]) -> String {
    let mut text = format!(
        "AWS profile `{name}` (from {origin}) does not exist; files read: {}",
        list_files(files)
    );
    if known.is_empty() {
        text.push_str("; they define no profile");
    } else {
        text.push_str(&format!("; known profiles: {}", known.join(", ")));
        if let Some(close) = crate::text::closest(name, known) {
            text.push_str(&format!("; did you mean `{close}`?"));
        }
    }
    let fix = if origin == "AWS_PROFILE" {
        "fix or unset AWS_PROFILE, or pick one with --profile NAME"
    } else {
        "pick one with --profile NAME"
    };
    text.push_str(&format!(
        " ({fix}; AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name other files)"
    ));
    text
}

/// Decide where credentials come from and check that a named profile exists. No AWS call. An
/// `AWS_PROFILE` that the environment's keys override is reported once per run.
pub async fn credential_source(
    settings: &AwsSettings,
    reporter: &dyn Reporter,
) -> Result<CredentialSource, ProfileError> {
    let aws_profile = env_var("AWS_PROFILE");
    let source = CredentialSource::decide(
        settings.profile.as_deref(),
        aws_profile.as_deref(),
        env_var("AWS_ACCESS_KEY_ID").is_some(),
    );
    let Some((name, origin)) = source.named_profile(settings) else {
        return Ok(source);
    };
    // The SDK's own loader, on the files the SDK reads (not a parser of ours).
    #[allow(deprecated)] // the alias of aws_runtime's EnvConfigFiles, not a direct dependency
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    let loaded: Result<ProfileSet, _> =
        aws_config::profile::load(&Fs::real(), &Env::real(), &files, None).await;
    let profiles = match loaded {
        Ok(profiles) => profiles,
        Err(err) => {
            return Err(ProfileError::Unreadable {
                name: name.to_string(),
                origin: origin.to_string(),
                files: profile_files(),
                detail: crate::errors::chain(&err),
            });
        }
    };
    if profiles.get_profile(name).is_none() {
        let mut known: Vec<String> = profiles.profiles().map(str::to_string).collect();
        known.sort();
        return Err(ProfileError::Unknown {
            name: name.to_string(),
            origin: origin.to_string(),
            files: profile_files(),
            known,
        });
    }
    if let CredentialSource::Environment {
        ignored_profile: Some(name),
    } = &source
    {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            reporter.warn(&format!(
                "using the AWS keys in the environment (AWS_ACCESS_KEY_ID); AWS_PROFILE={name} is ignored for credentials, as the AWS CLI does; pass --profile {name} to use that profile"
            ));
        });
    }
    Ok(source)
}

/// The SDK configuration and where its credentials come from.
#[derive(Debug, Clone)]
pub struct AwsContext {
    pub config: SdkConfig,
    pub source: CredentialSource,
}

/// Build the shared SDK configuration: profile, region, endpoint override, standard retry and
/// timeouts. A missing region is an error naming the ways to set one.
pub async fn sdk_config(
    settings: &AwsSettings,
    reporter: &dyn Reporter,
) -> anyhow::Result<SdkConfig> {
    Ok(context(settings, reporter).await?.config)
}

/// [`sdk_config`], with the credential source it settled on.
pub async fn context(
    settings: &AwsSettings,
    reporter: &dyn Reporter,
) -> anyhow::Result<AwsContext> {
    let source = credential_source(settings, reporter).await?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    let mut region = settings.region.clone().map(Region::new);
    if let CredentialSource::Profile(name) = &source {
        // The region as the SDK resolves it for this profile (AWS_REGION, then the profile's),
        // so that an assume-role or SSO profile calls STS/SSO in the same region.
        if region.is_none() {
            region = DefaultRegionChain::builder()
                .profile_name(name)
                .build()
                .region()
                .await;
        }
        let provider_config = ProviderConfig::default()
            .with_behavior_version(Some(BehaviorVersion::latest()))
            .with_region(region.clone());
        loader = loader.profile_name(name).credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(name)
                .build(),
        );
    }
    if let Some(region) = region {
        loader = loader.region(region);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let Some(region) = config.region() else {
        bail!(
            "no AWS region configured: pass --region, set AWS_REGION, or set `region` in the AWS profile or cs-cmdb.toml"
        );
    };
    // A misspelt region fails later as an unreachable endpoint: say it now. A warning, not an
    // error, so a region newer than this build still works.
    if let Some(why) = unknown_region(region.as_ref()) {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            reporter.warn(&format!(
                "the AWS region: {why} (used anyway, in case it is newer than this build)"
            ))
        });
    }
    Ok(AwsContext { config, source })
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
    R: std::fmt::Debug + 'static,
{
    crate::errors::log_chain("AWS call failed", err);
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => crate::errors::chain(err),
            }
        }
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => format!(
            "could not reach the AWS endpoint ({}); check --endpoint-url, the network and the proxy settings",
            crate::errors::root_causes(err, 2)
        ),
        SdkError::TimeoutError(_) => {
            "the call timed out; check the network, or retry later".to_string()
        }
        other => crate::errors::chain(other),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_checked_against_the_partitions() {
        assert!(check_region("eu-west-1", false).is_ok());
        assert_eq!(
            check_region("eu-wst-1", false).unwrap_err(),
            "`eu-wst-1` is not a known AWS region; did you mean `eu-west-1`? (a region newer than this build: pass --allow-unknown-region)"
        );
        assert!(check_region("xx-newland-1", true).is_ok());
        assert!(check_region("eu_west_1", true).is_err());
    }

    #[test]
    fn account_ids_and_region_names() {
        assert!(valid_account_id("123456789012"));
        assert!(!valid_account_id("12345678901"));
        assert!(!valid_account_id("12345678901x"));
        for ok in ["eu-west-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["eu-west", "eu-west-x", "EU-west-1", "eu--1", "all"] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn an_explicit_profile_beats_environment_keys_and_aws_profile_does_not() {
        use CredentialSource::*;
        assert_eq!(
            CredentialSource::decide(Some("a"), Some("b"), true),
            Profile("a".into())
        );
        assert_eq!(
            CredentialSource::decide(None, Some("b"), true),
            Environment {
                ignored_profile: Some("b".into())
            }
        );
        assert_eq!(
            CredentialSource::decide(None, None, true),
            Environment {
                ignored_profile: None
            }
        );
        assert_eq!(
            CredentialSource::decide(None, Some("b"), false),
            AwsProfile("b".into())
        );
        assert_eq!(CredentialSource::decide(None, None, false), DefaultChain);
    }
}
