//! The identity the other commands would act as (`cs-cmdb whoami`): who, where its credentials
//! come from, the region, and the Organization it sees. One row.

use anyhow::anyhow;
use aws_sdk_organizations::config::http::HttpResponse;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationError;

use crate::aws::AwsSettings;
use crate::aws::{describe, error_code};
use crate::reporter::Reporter;
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// Every AWS action this command calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "organizations:DescribeOrganization",
];

/// What the caller's account sees of its Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgView {
    /// In an Organization: its id and management account.
    Member { id: String, management: String },
    /// Not in an Organization.
    None(String),
    /// DescribeOrganization failed (denied, unreachable): why.
    Unreadable(String),
}

/// The identity in use.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    /// `profile NAME`, `environment`, `default chain`...
    pub credentials: String,
    pub region: String,
    pub organization: OrgView,
}

/// GetCallerIdentity (required), then DescribeOrganization (reported, never fatal).
pub async fn identify(aws: &AwsSettings, reporter: &dyn Reporter) -> anyhow::Result<Identity> {
    let ctx = crate::aws::context(aws, reporter).await?;
    let caller = aws_sdk_sts::Client::new(&ctx.config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| {
            let hint = if error_code(&err).is_some() {
                "; check them, or pick others with --profile NAME"
            } else {
                ""
            };
            anyhow!(
                "sts:GetCallerIdentity failed with the credentials from {} ({}){hint}",
                ctx.source,
                describe(&err)
            )
        })?;
    let account = caller.account().unwrap_or_default().to_string();
    let organization = match aws_sdk_organizations::Client::new(&ctx.config)
        .describe_organization()
        .send()
        .await
    {
        Ok(out) => match out.organization() {
            Some(org) => OrgView::Member {
                id: org.id().unwrap_or_default().to_string(),
                management: org.master_account_id().unwrap_or_default().to_string(),
            },
            None => OrgView::Unreadable("DescribeOrganization returned no organization".into()),
        },
        Err(err) if error_code(&err) == Some("AWSOrganizationsNotInUseException") => {
            OrgView::None(format!("account {account} is not in an AWS Organization"))
        }
        Err(err) => OrgView::Unreadable(format!(
            "organizations:DescribeOrganization: {}",
            unreadable_reason(&err)
        )),
    };
    Ok(Identity {
        account,
        arn: caller.arn().unwrap_or_default().to_string(),
        user_id: caller.user_id().unwrap_or_default().to_string(),
        credentials: ctx.source.to_string(),
        region: ctx
            .config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        organization,
    })
}

/// The service's code and message; for an answer without a code (an error body the SDK could
/// not parse), its HTTP status rather than the SDK's debug dump.
fn unreadable_reason(err: &SdkError<DescribeOrganizationError, HttpResponse>) -> String {
    match err {
        SdkError::ServiceError(service) if service.err().code().is_none() => {
            let status = service.raw().status().as_u16();
            match status {
                401 | 403 => format!("access denied (HTTP {status})"),
                _ => format!("HTTP {status}"),
            }
        }
        _ => describe(err),
    }
}

/// One row: account, arn, user_id, credentials, region, organization (its id, or why there is
/// none), management_account, is_management_account.
pub fn to_result_set(identity: &Identity) -> ResultSet {
    let columns = vec![
        Column::new("account", ColumnType::String),
        Column::new("arn", ColumnType::String),
        Column::new("user_id", ColumnType::String),
        Column::new("credentials", ColumnType::String),
        Column::new("region", ColumnType::String),
        Column::new("organization", ColumnType::String),
        Column::new("management_account", ColumnType::String),
        Column::new("is_management_account", ColumnType::Boolean),
    ];
    let (organization, management, is_management) = match &identity.organization {
        OrgView::Member { id, management } => (
            id.clone(),
            Value::Str(management.clone()),
            Value::Bool(*management == identity.account),
        ),
        OrgView::None(why) => (format!("none: {why}"), Value::Null, Value::Null),
        OrgView::Unreadable(why) => (format!("not readable: {why}"), Value::Null, Value::Null),
    };
    let row = vec![
        Value::Str(identity.account.clone()),
        Value::Str(identity.arn.clone()),
        Value::Str(identity.user_id.clone()),
        Value::Str(identity.credentials.clone()),
        Value::Str(identity.region.clone()),
        Value::Str(organization),
        management,
        is_management,
    ];
    ResultSet {
        columns,
        rows: vec![row],
    }
}
