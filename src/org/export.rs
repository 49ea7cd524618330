//! Triggering CloneSquad's `backup` export in every deployment of a target, and verifying that the
//! deployment's discovery object really landed under the configured metadata path.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use chrono::{NaiveDateTime, Utc};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::bucket::S3Path;
use crate::bucket::layout::{self, Partition};
use crate::org::deployments::{self, Description, truncate};
use crate::org::fanout::{FailClass, Failure, SKIP_NO_DEPLOYMENT, TargetCtx, TargetOutcome};
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// Every AWS action this module calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "lambda:InvokeFunction",
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
    "execute-api:Invoke",
    "s3:GetObject",
];

/// How the `backup` operation is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Synchronous invoke of `CloneSquad-Interact-<group>` with an API-Gateway-shaped event (works
    /// with PRIVATE gateways).
    Lambda,
    /// SigV4-signed `GET <InteractAPIGWUrl>backup` (REGIONAL gateways only).
    Apigw,
    /// `{"OpType":"backup"}` to the `CloneSquad-Interact-<group>` queue (asynchronous).
    Sqs,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Lambda => "lambda",
            Via::Apigw => "apigw",
            Via::Sqs => "sqs",
        }
    }
}

/// What `export` does in each target.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub via: Via,
    pub dry_run: bool,
    /// Where every deployment should write (the misconfiguration check and `--verify` need it).
    pub metadata_path: Option<S3Path>,
    pub verify: bool,
    pub verify_timeout: Duration,
    /// First polling interval (doubles up to [`MAX_POLL`]).
    pub first_poll: Duration,
    /// Only these groups (empty: all).
    pub groups: Vec<String>,
}

const MAX_POLL: Duration = Duration::from_secs(5);
/// Tolerated clock difference between this machine and the deployment's when comparing the
/// discovery record's `MetadataRecordLastUpdatedAt` with the trigger's start.
const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// One row of the `export` output.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub account_id: String,
    pub region: String,
    pub group: String,
    pub via: Via,
    /// ok, failed, dry-run
    pub status: &'static str,
    pub class: Option<FailClass>,
    pub detail: String,
}

/// Export every deployment of the target; the target fails (with the first failure's class) when
/// one of its deployments does.
pub async fn export_target(
    ctx: TargetCtx,
    opts: &ExportOptions,
) -> (TargetOutcome, Vec<ExportRow>) {
    let groups = match deployments::list_groups(&ctx).await {
        Ok(g) => g,
        Err(f) => return (TargetOutcome::Failed(f), Vec::new()),
    };
    let groups: Vec<String> = if opts.groups.is_empty() {
        groups
    } else {
        groups
            .into_iter()
            .filter(|g| opts.groups.contains(g))
            .collect()
    };
    if groups.is_empty() {
        return (
            TargetOutcome::Skipped(SKIP_NO_DEPLOYMENT.into()),
            Vec::new(),
        );
    }
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for group in groups {
        let row = |status, class, detail: String| ExportRow {
            account_id: ctx.target.account_id.clone(),
            region: ctx.target.region.clone(),
            group: group.clone(),
            via: opts.via,
            status,
            class,
            detail,
        };
        match export_one(&ctx, opts, &group).await {
            Ok(detail) if opts.dry_run => rows.push(row("dry-run", None, detail)),
            Ok(detail) => rows.push(row("ok", None, detail)),
            Err(f) => {
                rows.push(row("failed", Some(f.class), f.message.clone()));
                failures.push((group.clone(), f));
            }
        }
    }
    let outcome = match failures.first() {
        None => TargetOutcome::Ok,
        Some((_, first)) => {
            let parts: Vec<String> = failures
                .iter()
                .map(|(g, f)| format!("[{g}] {}", f.message))
                .collect();
            TargetOutcome::Failed(Failure::new(
                first.class,
                format!(
                    "{} of {} deployments failed: {}",
                    failures.len(),
                    rows.len(),
                    parts.join("; ")
                ),
            ))
        }
    };
    (outcome, rows)
}

async fn export_one(ctx: &TargetCtx, opts: &ExportOptions, group: &str) -> Result<String, Failure> {
    let description = deployments::describe(ctx, group).await?;
    if let Some(expected) = &opts.metadata_path {
        check_metadata_path(ctx, group, &description, expected)?;
    }
    if opts.dry_run {
        return dry_run(ctx, opts, group, &description).await;
    }
    let started = SystemTime::now();
    let mut detail = match opts.via {
        Via::Lambda => trigger_lambda(ctx, group).await?,
        Via::Sqs => trigger_sqs(ctx, group, &description).await?,
        Via::Apigw => trigger_apigw(ctx, group, &description).await?,
    };
    if opts.verify
        && let Some(path) = &opts.metadata_path
    {
        let landed = verify(ctx, opts, group, path, started).await?;
        detail = format!("{detail}; verified: discovery record rewritten at {landed}");
    }
    Ok(detail)
}

/// `--dry-run`: every read the real run makes (the discovery read above, the queue's URL, the
/// gateway's URL), and the same failures, without the trigger.
async fn dry_run(
    ctx: &TargetCtx,
    opts: &ExportOptions,
    group: &str,
    description: &Description,
) -> Result<String, Failure> {
    let function = format!("{}{group}", deployments::INTERACT_PREFIX);
    Ok(match opts.via {
        Via::Lambda => format!(
            "would invoke {function} (listed in the account; the deployment answered the discovery read)"
        ),
        Via::Sqs => {
            let url = match &description.queue_url {
                Some(url) => url.clone(),
                None => ctx
                    .call(
                        "sqs:GetQueueUrl",
                        &function,
                        ctx.sqs().get_queue_url().queue_name(&function).send(),
                    )
                    .await?
                    .queue_url()
                    .unwrap_or_default()
                    .to_string(),
            };
            format!("would queue {{\"OpType\":\"backup\"}} on {url}")
        }
        Via::Apigw => {
            let api = checked_api(ctx, group, description)?;
            format!("would GET https://{}{}backup", api.host, api.path)
        }
    })
}

fn check_metadata_path(
    ctx: &TargetCtx,
    group: &str,
    description: &Description,
    expected: &S3Path,
) -> Result<(), Failure> {
    let Some(actual) = &description.metadata_path else {
        return Err(Failure::new(
            FailClass::Misconfigured,
            format!(
                "deployment {group} in {} has no MetadataAndBackupS3Path: its backup would fail; set it to {expected}",
                ctx.target
            ),
        ));
    };
    match actual.parse::<S3Path>() {
        Ok(p) if &p == expected => Ok(()),
        _ => Err(Failure::new(
            FailClass::Misconfigured,
            format!(
                "deployment {group} in {} writes its metadata to {actual}, not {expected}: set its MetadataAndBackupS3Path to {expected} (or pass the right --metadata-path)",
                ctx.target
            ),
        )),
    }
}

/// The API-Gateway-shaped event the Interact function expects for `GET /backup`.
pub fn backup_event(target: &str) -> serde_json::Value {
    json!({
        "httpMethod": "GET",
        "path": "/backup",
        "queryStringParameters": null,
        "requestContext": {
            "identity": {
                "caller": "cs-cmdb",
                "userAgent": concat!("cs-cmdb/", env!("CARGO_PKG_VERSION")),
                "sourceIp": "127.0.0.1",
                "accountId": target,
            }
        }
    })
}

async fn trigger_lambda(ctx: &TargetCtx, group: &str) -> Result<String, Failure> {
    let function = format!("{}{group}", deployments::INTERACT_PREFIX);
    let event = backup_event(&ctx.target.account_id).to_string();
    let body = deployments::invoke(ctx, &function, &event).await?;
    let parsed: Option<(i64, String)> = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let status = v.get("statusCode")?.as_i64()?;
            let text = v
                .get("body")
                .map(|b| b.as_str().map_or_else(|| b.to_string(), String::from))
                .unwrap_or_default();
            Some((status, text))
        });
    match parsed {
        Some((200, text)) => Ok(format!("lambda 200: {}", truncate(&text))),
        Some((status, text)) => Err(Failure::new(
            FailClass::InvokeError,
            format!(
                "{function} in {} answered status {status}: {} (a 500 usually means MetadataAndBackupS3Path is not set)",
                ctx.target,
                truncate(&text)
            ),
        )),
        None => Err(Failure::new(
            FailClass::InvokeError,
            format!(
                "{function} in {} answered without a statusCode: {}; is it a CloneSquad Interact function?",
                ctx.target,
                truncate(&body)
            ),
        )),
    }
}

async fn trigger_sqs(
    ctx: &TargetCtx,
    group: &str,
    description: &Description,
) -> Result<String, Failure> {
    let queue = format!("{}{group}", deployments::INTERACT_PREFIX);
    let sqs = ctx.sqs();
    let url = match &description.queue_url {
        Some(url) => url.clone(),
        None => ctx
            .call(
                "sqs:GetQueueUrl",
                &queue,
                sqs.get_queue_url().queue_name(&queue).send(),
            )
            .await?
            .queue_url()
            .unwrap_or_default()
            .to_string(),
    };
    let sent = ctx
        .call(
            "sqs:SendMessage",
            &queue,
            sqs.send_message()
                .queue_url(&url)
                .message_body(r#"{"OpType":"backup"}"#)
                .send(),
        )
        .await?;
    Ok(format!(
        "queued on {queue} (message {})",
        sent.message_id().unwrap_or("?")
    ))
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn http_client() -> Result<&'static HttpClient<Https, Empty<bytes::Bytes>>, String> {
    static CLIENT: OnceLock<Result<HttpClient<Https, Empty<bytes::Bytes>>, String>> =
        OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                .map_err(|e| format!("cannot load the system's TLS root certificates: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(HttpClient::builder(TokioExecutor::new()).build(connector))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// How much of an API answer is read (only its start is shown).
const BODY_LIMIT: usize = 64 * 1024;

/// A client that connects only to `addrs` (checked public), over HTTPS only.
fn checked_client(
    addrs: Vec<std::net::SocketAddr>,
) -> Result<
    HttpClient<
        hyper_rustls::HttpsConnector<HttpConnector<crate::org::apigw::Checked>>,
        Empty<bytes::Bytes>,
    >,
    String,
> {
    let mut http =
        HttpConnector::new_with_resolver(crate::org::apigw::Checked(std::sync::Arc::new(addrs)));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("cannot load the system's TLS root certificates: {e}"))?
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    Ok(HttpClient::builder(TokioExecutor::new()).build(connector))
}

/// The deployment's InteractAPIGWUrl, checked (an https API Gateway host of its region): the
/// only URL the central account's signed request may go to.
fn checked_api(
    ctx: &TargetCtx,
    group: &str,
    description: &Description,
) -> Result<crate::org::apigw::ApiUrl, Failure> {
    let Some(base) = &description.api_url else {
        return Err(Failure::new(
            FailClass::InvokeError,
            format!(
                "deployment {group} in {} reports no InteractAPIGWUrl; use --via lambda",
                ctx.target
            ),
        ));
    };
    let shown = crate::text::escape(base).into_owned();
    crate::org::apigw::check_url(base, &ctx.target.region).map_err(|why| {
        Failure::new(
            FailClass::InvokeError,
            format!(
                "deployment {group} in {} reports InteractAPIGWUrl `{shown}`, which is refused: {why}; the central account's signed request goes only to an API Gateway of the deployment's region (or use --via lambda)",
                ctx.target
            ),
        )
    })
}

async fn trigger_apigw(
    ctx: &TargetCtx,
    group: &str,
    description: &Description,
) -> Result<String, Failure> {
    let api = checked_api(ctx, group, description)?;
    // The emulator (--endpoint-url) gets the URL's path; AWS gets the checked host, at the
    // addresses checked now.
    let endpoint = ctx.config.endpoint_url();
    let url = match endpoint {
        Some(endpoint) => format!("{}{}backup", endpoint.trim_end_matches('/'), api.path),
        None => format!("https://{}{}backup", api.host, api.path),
    };
    let fail = |class, why: String| {
        Failure::new(
            class,
            format!("GET {url} ({group} in {}): {why}", ctx.target),
        )
    };
    let addrs = match endpoint {
        Some(_) => None,
        None => Some(
            crate::org::apigw::resolve_public(&api.host)
                .await
                .map_err(|why| fail(FailClass::InvokeError, why))?,
        ),
    };
    let provider = ctx
        .config
        .credentials_provider()
        .ok_or_else(|| fail(FailClass::AwsError, "no credentials to sign with".into()))?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        fail(
            FailClass::AwsError,
            format!("no credentials to sign with: {e}"),
        )
    })?;
    let identity = creds.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&ctx.target.region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .map_err(|e| fail(FailClass::AwsError, format!("cannot sign: {e}")))?
        .into();
    let mut request = http::Request::get(&url)
        .header("accept", "application/json")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| fail(FailClass::InvokeError, format!("invalid URL: {e}")))?;
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "GET",
        &url,
        request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        aws_sigv4::http_request::SignableBody::Bytes(&[]),
    )
    .map_err(|e| fail(FailClass::AwsError, format!("cannot sign: {e}")))?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| fail(FailClass::AwsError, format!("cannot sign: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut request);
    let sent = match addrs {
        Some(addrs) => checked_client(addrs)
            .map_err(|e| fail(FailClass::AwsError, e))?
            .request(request),
        None => http_client()
            .map_err(|e| fail(FailClass::AwsError, e))?
            .request(request),
    };
    ctx.pace().await;
    let timeout = ctx.call_timeout();
    let response = match tokio::time::timeout(timeout, sent).await {
        Err(_) => {
            return Err(fail(
                FailClass::Timeout,
                format!("no answer within {timeout:?}; raise --call-timeout"),
            ));
        }
        Ok(Err(e)) => {
            return Err(fail(
                FailClass::InvokeError,
                format!("cannot reach the API ({e}); is the gateway PRIVATE? use --via lambda"),
            ));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    // The client follows no redirect: a redirect is a failure, its target shown, never fetched.
    let location = response.headers().get(http::header::LOCATION).map(|v| {
        crate::text::escape(&truncate(&String::from_utf8_lossy(v.as_bytes()))).into_owned()
    });
    // A bounded read of the answer: only its start is shown (cut, escaped).
    let limited = http_body_util::Limited::new(response.into_body(), BODY_LIMIT);
    let body = match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(b)) => {
            crate::text::escape(&truncate(&String::from_utf8_lossy(&b.to_bytes()))).into_owned()
        }
        Ok(Err(_)) => format!("(an answer of more than {BODY_LIMIT} bytes, not shown)"),
        Err(_) => String::new(),
    };
    match status.as_u16() {
        200 => Ok(format!("apigw 200: {body}")),
        429 => Err(fail(
            FailClass::Throttled,
            format!("status 429: {body}; lower --concurrency or set --rate"),
        )),
        code @ 300..=399 => Err(fail(
            FailClass::InvokeError,
            format!(
                "status {code}: a redirect to `{}`, which is not followed (API Gateway answers an invoke itself): check the InteractAPIGWUrl this deployment reports, or use --via lambda",
                location.as_deref().unwrap_or("(no Location)")
            ),
        )),
        code => Err(fail(
            FailClass::InvokeError,
            format!("status {code}: {body}"),
        )),
    }
}

fn parse_record_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// Poll the discovery object until it was rewritten after `started` (with backoff), or time out.
async fn verify(
    ctx: &TargetCtx,
    opts: &ExportOptions,
    group: &str,
    path: &S3Path,
    started: SystemTime,
) -> Result<String, Failure> {
    let key = layout::discovery_key(
        path,
        &Partition::new(&ctx.target.account_id, &ctx.target.region, group),
    );
    let s3 = crate::aws::s3_client(&ctx.central);
    let since: NaiveDateTime = chrono::DateTime::<Utc>::from(started - CLOCK_SKEW).naive_utc();
    let deadline = Instant::now() + opts.verify_timeout;
    let mut wait = opts.first_poll;
    let mut last_seen: Option<String> = None;
    loop {
        let got = ctx
            .call(
                "s3:GetObject",
                &format!("s3://{}/{key}", path.bucket),
                s3.get_object().bucket(&path.bucket).key(&key).send(),
            )
            .await;
        match got {
            Ok(out) => {
                let modified = out
                    .last_modified()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                    .map(|t| t.naive_utc());
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map(|b| b.into_bytes())
                    .unwrap_or_default();
                let record_time = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| {
                        v.get("MetadataRecordLastUpdatedAt")
                            .and_then(|t| t.as_str())
                            .and_then(parse_record_time)
                    });
                // The record's own time has sub-second precision; S3's LastModified is a fallback.
                let when = record_time.or(modified);
                if let Some(when) = when {
                    if when >= since {
                        return Ok(when.format("%Y-%m-%d %H:%M:%S%.f").to_string());
                    }
                    last_seen = Some(when.format("%Y-%m-%d %H:%M:%S").to_string());
                }
            }
            Err(f) if f.message.contains("NoSuchKey") || f.message.contains("NotFound") => {}
            Err(f) if f.class == FailClass::AccessDenied => {
                return Err(Failure::new(
                    FailClass::AccessDenied,
                    format!(
                        "{}; the central role needs s3:GetObject on {path}/{}/*",
                        f.message,
                        layout::METADATA
                    ),
                ));
            }
            Err(f) => return Err(f),
        }
        let now = Instant::now();
        if now >= deadline {
            let seen = match last_seen {
                Some(t) => format!("its last write is from {t} UTC"),
                None => "it does not exist".to_string(),
            };
            return Err(Failure::new(
                FailClass::NotVerified,
                format!(
                    "backup of {group} in {} was triggered but s3://{}/{key} was not rewritten within {:?} ({seen}); check the deployment's logs, or raise --verify-timeout",
                    ctx.target, path.bucket, opts.verify_timeout
                ),
            ));
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
        wait = (wait * 2).min(MAX_POLL);
    }
}

/// The `export` command's table.
pub fn to_result_set(rows: &[ExportRow]) -> ResultSet {
    let columns = vec![
        Column::new("account_id", ColumnType::String),
        Column::new("region", ColumnType::String),
        Column::new("group_name", ColumnType::String),
        Column::new("via", ColumnType::String),
        Column::new("status", ColumnType::String),
        Column::new("class", ColumnType::String),
        Column::new("detail", ColumnType::String),
    ];
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                Value::Str(r.account_id.clone()),
                Value::Str(r.region.clone()),
                Value::Str(r.group.clone()),
                Value::Str(r.via.as_str().into()),
                Value::Str(r.status.into()),
                r.class
                    .map_or(Value::Null, |c| Value::Str(c.as_str().into())),
                Value::Str(r.detail.clone()),
            ]
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_times_parse_with_and_without_fraction() {
        assert!(parse_record_time("2026-11-26 09:00:01.123456").is_some());
        assert!(parse_record_time("2026-11-26 09:00:01").is_some());
        assert!(parse_record_time("2026-11-26T09:00:01Z").is_none());
    }

    #[test]
    fn the_event_is_api_gateway_shaped() {
        let e = backup_event("111122223333");
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(e["path"], "/backup");
        assert!(e["queryStringParameters"].is_null());
        assert!(e["requestContext"]["identity"].is_object());
    }
}
