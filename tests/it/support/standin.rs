//! A synthetic AWS endpoint for benchmarks (loopback only): just enough Organizations, STS and
//! Lambda for `cs-cmdb export` over `accounts` member accounts, every account running one
//! deployment (`bench-1`) per region, the Interact (trigger) invoke answering after `latency`.
//! moto serialises requests behind Python's GIL and would measure itself, not the fan-out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::MAIN_ACCOUNT;

pub struct StandIn {
    pub endpoint: String,
    pub triggers: Arc<AtomicUsize>,
    _server: super::http::LoopbackServer,
}

struct Spec {
    accounts: usize,
    latency: Duration,
    triggers: Arc<AtomicUsize>,
}

pub fn account_id(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

impl StandIn {
    pub fn start(accounts: usize, latency: Duration) -> Self {
        let triggers = Arc::new(AtomicUsize::new(0));
        let spec = Arc::new(Spec {
            accounts,
            latency,
            triggers: triggers.clone(),
        });
        let server = super::http::LoopbackServer::start(1, spec, handle);
        Self {
            endpoint: server.endpoint.clone(),
            triggers,
            _server: server,
        }
    }
}

fn ok(content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(spec: Arc<Spec>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let spec: &Spec = &spec;
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    if body.contains("Action=GetCallerIdentity") {
        return ok(
            "text/xml",
            format!(
                r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::{MAIN_ACCOUNT}:user/bench</Arn><UserId>AIDABENCH</UserId><Account>{MAIN_ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
            ),
        );
    }
    if body.contains("Action=AssumeRole") {
        let account = body
            .split("iam%3A%3A")
            .nth(1)
            .map(|s| s.chars().take(12).collect::<String>())
            .unwrap_or_default();
        return ok(
            "text/xml",
            format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIA{account}</AccessKeyId><SecretAccessKey>bench-secret</SecretAccessKey><SessionToken>bench-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROABENCH:bench</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/r/bench</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"#
            ),
        );
    }
    if target.ends_with(".DescribeOrganization") {
        return ok(
            "application/x-amz-json-1.1",
            format!(
                r#"{{"Organization":{{"Id":"o-bench","Arn":"arn:aws:organizations::{MAIN_ACCOUNT}:organization/o-bench","FeatureSet":"ALL","MasterAccountId":"{MAIN_ACCOUNT}","MasterAccountArn":"arn:aws:organizations::{MAIN_ACCOUNT}:account/o-bench/{MAIN_ACCOUNT}","MasterAccountEmail":"m@example.com"}}}}"#
            ),
        );
    }
    if target.ends_with(".ListAccounts") {
        let start: usize = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["NextToken"].as_str().and_then(|t| t.parse().ok()))
            .unwrap_or(0);
        let end = (start + 20).min(spec.accounts);
        let accounts: Vec<String> = (start..end)
            .map(|i| {
                let id = account_id(i);
                format!(
                    r#"{{"Id":"{id}","Arn":"arn:aws:organizations::{MAIN_ACCOUNT}:account/o-bench/{id}","Email":"b{i}@example.com","Name":"bench-{i:05}","Status":"ACTIVE","State":"ACTIVE","JoinedMethod":"CREATED","JoinedTimestamp":1700000000}}"#
                )
            })
            .collect();
        let next = if end < spec.accounts {
            format!(r#","NextToken":"{end}""#)
        } else {
            String::new()
        };
        return ok(
            "application/x-amz-json-1.1",
            format!(r#"{{"Accounts":[{}]{next}}}"#, accounts.join(",")),
        );
    }
    if path
        .trim_end_matches('/')
        .ends_with("/2015-03-31/functions")
    {
        let _ = query;
        return ok(
            "application/json",
            r#"{"Functions":[{"FunctionName":"CloneSquad-Main-bench-1"},{"FunctionName":"CloneSquad-Interact-bench-1"},{"FunctionName":"CloneSquad-Discovery-bench-1"}]}"#.into(),
        );
    }
    if path.ends_with("/functions/CloneSquad-Discovery-bench-1/invocations") {
        return ok(
            "application/json",
            r#"{"GroupName":"bench-1","CloneSquadVersion":"v0.27.1","MetadataAndBackupS3Path":"s3://bench/cs","InteractAPIGWUrl":"https://x.execute-api.us-east-1.amazonaws.com/v1/"}"#.into(),
        );
    }
    if path.ends_with("/functions/CloneSquad-Interact-bench-1/invocations") {
        tokio::time::sleep(spec.latency).await;
        spec.triggers.fetch_add(1, Ordering::Relaxed);
        return ok(
            "application/json",
            r#"{"statusCode":200,"body":"Exported Configuration/Scheduler backups and metadata to s3://bench/cs."}"#.into(),
        );
    }
    Response::builder()
        .status(400)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(
            r#"{{"__type":"InvalidRequest","message":"stand-in: no route for {path} {target}"}}"#
        ))))
        .unwrap()
}
