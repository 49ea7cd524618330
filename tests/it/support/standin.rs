//! A synthetic AWS endpoint (on the one loopback [`Server`], so every call is recorded): just
//! enough Organizations, STS and Lambda for `cs-cmdb discover` and `export` over `accounts` member
//! accounts, every account running one deployment (`bench-1`) in every region. Used by the
//! fan-out benchmark (moto serialises requests behind Python's GIL and would measure itself, not
//! the fan-out) and by the tests of what the fan-out puts on the wire (role ARNs, external id,
//! session name, role chains, rate, concurrency), which the stand-in answers at once and records.
//!
//! AssumeRole answers with the access key `ASIA<account of the role>`, so the key that signs a
//! later call tells which role's credentials signed it.

use std::time::Duration;

use super::MAIN_ACCOUNT;
use super::server::{Reply, Request, Server};

pub struct StandIn {
    pub endpoint: String,
    pub server: Server,
}

/// How the stand-in answers.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Member accounts (the management account, [`MAIN_ACCOUNT`], is not one of them).
    pub accounts: usize,
    /// How long the Interact (trigger) invoke takes.
    pub trigger_latency: Duration,
    /// How long ListFunctions takes.
    pub list_latency: Duration,
}

pub fn account_id(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

/// The access key AssumeRole hands out for a role of `account`.
pub fn access_key_of(account: &str) -> String {
    format!("ASIA{account}")
}

impl StandIn {
    pub fn start(accounts: usize, trigger_latency: Duration) -> Self {
        Self::with(Spec {
            accounts,
            trigger_latency,
            ..Spec::default()
        })
    }

    /// Every ListFunctions answers after `latency` (an hour: it hangs).
    pub fn slow_listing(accounts: usize, latency: Duration) -> Self {
        Self::with(Spec {
            accounts,
            list_latency: latency,
            ..Spec::default()
        })
    }

    pub fn with(spec: Spec) -> Self {
        let server = Server::with_workers(1, move |req| handle(spec.clone(), req));
        Self {
            endpoint: server.endpoint.clone(),
            server,
        }
    }

    /// Interact (trigger) invokes received.
    pub fn triggers(&self) -> usize {
        self.server
            .exchanges()
            .iter()
            .filter(|e| {
                e.path()
                    .ends_with("/functions/CloneSquad-Interact-bench-1/invocations")
            })
            .count()
    }
}

/// Whether a request is Lambda ListFunctions (how `discover` finds the deployments of a target).
pub fn is_list_functions(req: &Request) -> bool {
    req.path()
        .trim_end_matches('/')
        .ends_with("/2015-03-31/functions")
}

async fn handle(spec: Spec, req: Request) -> Reply {
    let path = req.path().to_string();
    let action = req.action();
    match action.as_str() {
        "GetCallerIdentity" => {
            return Reply::xml(
                200,
                format!(
                    r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::{MAIN_ACCOUNT}:user/bench</Arn><UserId>AIDABENCH</UserId><Account>{MAIN_ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
                ),
            );
        }
        "AssumeRole" => {
            let form = req.form();
            let role = form.get("RoleArn").cloned().unwrap_or_default();
            let session = form.get("RoleSessionName").cloned().unwrap_or_default();
            let account: String = role
                .strip_prefix("arn:aws:iam::")
                .unwrap_or_default()
                .chars()
                .take(12)
                .collect();
            let name = role.rsplit('/').next().unwrap_or_default();
            let key = access_key_of(&account);
            return Reply::xml(
                200,
                format!(
                    r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>bench-secret</SecretAccessKey><SessionToken>bench-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROABENCH:{session}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{name}/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"#
                ),
            );
        }
        "DescribeOrganization" => {
            return Reply::new(
                200,
                "application/x-amz-json-1.1",
                format!(
                    r#"{{"Organization":{{"Id":"o-bench","Arn":"arn:aws:organizations::{MAIN_ACCOUNT}:organization/o-bench","FeatureSet":"ALL","MasterAccountId":"{MAIN_ACCOUNT}","MasterAccountArn":"arn:aws:organizations::{MAIN_ACCOUNT}:account/o-bench/{MAIN_ACCOUNT}","MasterAccountEmail":"m@example.com"}}}}"#
                ),
            );
        }
        "ListAccounts" => {
            let start: usize = req.json()["NextToken"]
                .as_str()
                .and_then(|t| t.parse().ok())
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
            return Reply::new(
                200,
                "application/x-amz-json-1.1",
                format!(r#"{{"Accounts":[{}]{next}}}"#, accounts.join(",")),
            );
        }
        _ => {}
    }
    if is_list_functions(&req) {
        if !spec.list_latency.is_zero() {
            tokio::time::sleep(spec.list_latency).await;
        }
        return Reply::json(
            200,
            r#"{"Functions":[{"FunctionName":"CloneSquad-Main-bench-1"},{"FunctionName":"CloneSquad-Interact-bench-1"},{"FunctionName":"CloneSquad-Discovery-bench-1"}]}"#,
        );
    }
    if path.ends_with("/functions/CloneSquad-Discovery-bench-1/invocations") {
        return Reply::json(
            200,
            r#"{"GroupName":"bench-1","CloneSquadVersion":"v0.27.1","MetadataAndBackupS3Path":"s3://bench/cs","InteractAPIGWUrl":"https://x.execute-api.us-east-1.amazonaws.com/v1/"}"#,
        );
    }
    if path.ends_with("/functions/CloneSquad-Interact-bench-1/invocations") {
        tokio::time::sleep(spec.trigger_latency).await;
        return Reply::json(
            200,
            r#"{"statusCode":200,"body":"Exported Configuration/Scheduler backups and metadata to s3://bench/cs."}"#,
        );
    }
    Reply::aws_error(
        400,
        "InvalidRequest",
        &format!("stand-in: no route for {path} {action}"),
    )
}
