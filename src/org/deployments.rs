//! Finding CloneSquad deployments in a target: the `CloneSquad-Interact-<group>` Lambda functions,
//! and, when asked, their discovery record from `CloneSquad-Discovery-<group>`.

use aws_sdk_lambda::primitives::Blob;
use serde_json::Value as Json;

use crate::bucket::layout;
use crate::org::fanout::{FailClass, Failure, SKIP_NO_DEPLOYMENT, TargetCtx, TargetOutcome};
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// Every AWS action this module calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &["lambda:ListFunctions", "lambda:InvokeFunction"];

pub const INTERACT_PREFIX: &str = "CloneSquad-Interact-";
pub const DISCOVERY_PREFIX: &str = "CloneSquad-Discovery-";

/// What the Discovery function says about a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description {
    pub version: Option<String>,
    pub metadata_path: Option<String>,
    pub api_url: Option<String>,
    pub queue_url: Option<String>,
}

/// One deployment found in a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub account_id: String,
    pub region: String,
    pub group: String,
    pub description: Option<Description>,
    /// Why the description could not be read (`--describe`).
    pub failure: Option<Failure>,
}

/// The group names of the deployments in the target, sorted (all pages of ListFunctions).
pub async fn list_groups(ctx: &TargetCtx) -> Result<Vec<String>, Failure> {
    let lambda = ctx.lambda();
    let mut pages = lambda.list_functions().into_paginator().send();
    let mut groups = Vec::new();
    loop {
        let page = ctx
            .call("lambda:ListFunctions", "the account's functions", async {
                pages.next().await.transpose()
            })
            .await?;
        let Some(page) = page else { break };
        for function in page.functions() {
            if let Some(group) = function
                .function_name()
                .and_then(|n| n.strip_prefix(INTERACT_PREFIX))
                .filter(|g| layout::valid_group(g))
            {
                groups.push(group.to_string());
            }
        }
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// Invoke `CloneSquad-Discovery-<group>` with an empty payload and read the discovery record.
pub async fn describe(ctx: &TargetCtx, group: &str) -> Result<Description, Failure> {
    let function = format!("{DISCOVERY_PREFIX}{group}");
    let body = invoke(ctx, &function, "{}").await?;
    parse_description(&body).map_err(|why| {
        Failure::new(
            FailClass::InvokeError,
            format!(
                "{function} in {} answered something that is not a discovery record ({why}): {}; check the deployment's version",
                ctx.target,
                truncate(&body)
            ),
        )
    })
}

/// Invoke a deployment's function synchronously and return its payload as text; a function error
/// is an `invoke-error` failure naming the function, the target, the status and the body.
pub async fn invoke(ctx: &TargetCtx, function: &str, payload: &str) -> Result<String, Failure> {
    let lambda = ctx.lambda();
    let out = ctx
        .call(
            "lambda:InvokeFunction",
            function,
            lambda
                .invoke()
                .function_name(function)
                .payload(Blob::new(payload))
                .send(),
        )
        .await?;
    let body = out
        .payload()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    if let Some(error) = out.function_error() {
        return Err(Failure::new(
            FailClass::InvokeError,
            format!(
                "{function} in {} failed ({error}, invoke status {}): {}",
                ctx.target,
                out.status_code(),
                truncate(&body)
            ),
        ));
    }
    Ok(body)
}

/// Read the fields we use from a discovery record (a JSON object).
pub fn parse_description(body: &str) -> Result<Description, String> {
    let json: Json = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let object = json.as_object().ok_or("not a JSON object")?;
    if !object.contains_key("GroupName") && !object.contains_key("CloneSquadVersion") {
        return Err("neither GroupName nor CloneSquadVersion present".into());
    }
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Ok(Description {
        version: text("CloneSquadVersion"),
        metadata_path: text("MetadataAndBackupS3Path"),
        api_url: text("InteractAPIGWUrl"),
        queue_url: text("InteractQueue"),
    })
}

pub fn truncate(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `discover` in one target: its deployments, and the target's outcome (skipped when it has
/// none; failed, with every message, when describing one of them failed).
pub async fn discover_target(
    ctx: &TargetCtx,
    describe_them: bool,
    only: &[String],
) -> (TargetOutcome, Vec<Deployment>) {
    match discover(ctx, describe_them, only).await {
        Err(f) => (TargetOutcome::Failed(f), Vec::new()),
        Ok((found, failures)) if found.is_empty() => {
            debug_assert!(failures.is_empty());
            (TargetOutcome::Skipped(SKIP_NO_DEPLOYMENT.into()), found)
        }
        Ok((found, failures)) => match failures.first() {
            None => (TargetOutcome::Ok, found),
            Some(first) => {
                let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
                (
                    TargetOutcome::Failed(Failure::new(first.class, messages.join("; "))),
                    found,
                )
            }
        },
    }
}

/// Find (and optionally describe) the deployments of a target. A failed description keeps the
/// row (unknowns NULL) and reports the failure.
pub async fn discover(
    ctx: &TargetCtx,
    describe_them: bool,
    only: &[String],
) -> Result<(Vec<Deployment>, Vec<Failure>), Failure> {
    let mut groups = list_groups(ctx).await?;
    if !only.is_empty() {
        groups.retain(|g| only.contains(g));
    }
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for group in groups {
        let (description, failure) = if describe_them {
            match describe(ctx, &group).await {
                Ok(d) => (Some(d), None),
                Err(f) => {
                    failures.push(f.clone());
                    (None, Some(f))
                }
            }
        } else {
            (None, None)
        };
        out.push(Deployment {
            account_id: ctx.target.account_id.clone(),
            region: ctx.target.region.clone(),
            group,
            description,
            failure,
        });
    }
    Ok((out, failures))
}

/// The `discover` command's table.
pub fn to_result_set(deployments: &[Deployment]) -> ResultSet {
    let columns = vec![
        Column::new("account_id", ColumnType::String),
        Column::new("region", ColumnType::String),
        Column::new("group_name", ColumnType::String),
        Column::new("status", ColumnType::String),
        Column::new("version", ColumnType::String),
        Column::new("metadata_path", ColumnType::String),
        Column::new("api_url", ColumnType::String),
        Column::new("detail", ColumnType::String),
    ];
    let opt = |v: Option<&String>| v.cloned().map_or(Value::Null, Value::Str);
    let rows = deployments
        .iter()
        .map(|d| {
            let desc = d.description.as_ref();
            vec![
                Value::Str(d.account_id.clone()),
                Value::Str(d.region.clone()),
                Value::Str(d.group.clone()),
                // found: listed, not described; ok: described; failed: see detail.
                Value::Str(
                    match (&d.failure, desc) {
                        (Some(_), _) => "failed",
                        (None, Some(_)) => "ok",
                        (None, None) => "found",
                    }
                    .into(),
                ),
                opt(desc.and_then(|x| x.version.as_ref())),
                opt(desc.and_then(|x| x.metadata_path.as_ref())),
                opt(desc.and_then(|x| x.api_url.as_ref())),
                d.failure
                    .as_ref()
                    .map_or(Value::Null, |f| Value::Str(f.to_string())),
            ]
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_parse() {
        let d = parse_description(
            r#"{"GroupName":"g-1","CloneSquadVersion":"v0.27.1","MetadataAndBackupS3Path":"s3://b/p","InteractAPIGWUrl":"https://x.execute-api.eu-west-1.amazonaws.com/v1/","InteractQueue":""}"#,
        )
        .unwrap();
        assert_eq!(d.version.as_deref(), Some("v0.27.1"));
        assert_eq!(d.metadata_path.as_deref(), Some("s3://b/p"));
        assert_eq!(d.queue_url, None);
        assert!(parse_description("Simple Lambda happy path OK").is_err());
        assert!(parse_description("[1]").is_err());
    }
}
