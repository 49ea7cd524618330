//! Organizations: list the accounts in scope (all, or those under chosen OUs, nested ones included).

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{AccountState, AccountStatus, ChildType};
use chrono::{DateTime, NaiveDateTime};
use thiserror::Error;

use crate::aws::{describe, error_code};
use crate::rows::{Column, ColumnType, ResultSet, Value};

/// Every AWS action this module calls (checked against `iam/*.json` by a test).
pub const ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
];

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// OU (or root) ids: only accounts under them, at any depth. Empty: the whole Organization.
    pub ous: Vec<String>,
    /// Accounts left out.
    pub exclude: BTreeSet<String>,
    /// Keep suspended / closed accounts too.
    pub include_suspended: bool,
}

/// One member account (`joined_at` to the second, as Organizations reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED...
    pub status: String,
    pub joined_method: Option<String>,
    pub joined_at: Option<NaiveDateTime>,
}

impl Account {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

#[derive(Debug, Error)]
pub enum AccountsError {
    #[error(
        "account {caller} is not in an AWS Organization ({detail}); run from the Organization's management account"
    )]
    NoOrganization { caller: String, detail: String },
    #[error(
        "account {caller} may not list the Organization's accounts: it is neither the management account ({management}) nor a delegated administrator; run from the management account, or register this account as a delegated administrator"
    )]
    NotManagement { caller: String, management: String },
    #[error("`{0}` is not an organizational unit or root id (ou-xxxx-xxxxxxxx or r-xxxx)")]
    BadOuId(String),
    #[error("`{0}` is not an AWS account id (12 digits)")]
    BadAccountId(String),
    #[error("organizational unit {ou} was not found in the Organization ({detail})")]
    OuNotFound { ou: String, detail: String },
    #[error("{action} failed: {detail}")]
    Call {
        action: &'static str,
        detail: String,
    },
}

/// Check the shape of an account id (12 digits).
pub fn validate_account_id(id: &str) -> Result<(), AccountsError> {
    if crate::aws::valid_account_id(id) {
        Ok(())
    } else {
        Err(AccountsError::BadAccountId(id.to_string()))
    }
}

fn validate_ou_id(id: &str) -> Result<(), AccountsError> {
    let ok_chars = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let valid = match id.split('-').collect::<Vec<_>>().as_slice() {
        ["ou", root, ou] => ok_chars(root) && ok_chars(ou),
        ["r", root] => ok_chars(root),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(AccountsError::BadOuId(id.to_string()))
    }
}

/// List the accounts in scope, sorted by name (then id). Errors name the caller's account and what to do.
pub async fn list(
    config: &SdkConfig,
    filter: &AccountFilter,
) -> Result<Vec<Account>, AccountsError> {
    for ou in &filter.ous {
        validate_ou_id(ou)?;
    }
    for id in &filter.exclude {
        validate_account_id(id)?;
    }
    let org = Client::new(config);
    let caller = caller_account(config).await?;
    let management = match org.describe_organization().send().await {
        Ok(out) => out
            .organization()
            .and_then(|o| o.master_account_id())
            .unwrap_or_default()
            .to_string(),
        Err(err) if error_code(&err) == Some("AWSOrganizationsNotInUseException") => {
            return Err(AccountsError::NoOrganization {
                caller,
                detail: describe(&err),
            });
        }
        Err(err) if error_code(&err) == Some("AccessDeniedException") => {
            return Err(AccountsError::NotManagement {
                caller,
                management: "unknown".into(),
            });
        }
        Err(err) => {
            return Err(AccountsError::Call {
                action: "organizations:DescribeOrganization",
                detail: describe(&err),
            });
        }
    };
    let not_management = || AccountsError::NotManagement {
        caller: caller.clone(),
        management: management.clone(),
    };

    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    if filter.ous.is_empty() {
        let mut pages = org.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| match error_code(&err) {
                Some("AccessDeniedException") => not_management(),
                _ => AccountsError::Call {
                    action: "organizations:ListAccounts",
                    detail: describe(&err),
                },
            })?;
            for account in page.accounts() {
                let account = convert(account);
                accounts.insert(account.id.clone(), account);
            }
        }
    } else {
        for parent in descendants(&org, &filter.ous).await.map_err(|e| match e {
            AccountsError::Call { detail, .. } if detail.contains("AccessDenied") => {
                not_management()
            }
            other => other,
        })? {
            let mut pages = org
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|err| AccountsError::Call {
                    action: "organizations:ListAccountsForParent",
                    detail: format!("{parent}: {}", describe(&err)),
                })?;
                for account in page.accounts() {
                    let account = convert(account);
                    accounts.insert(account.id.clone(), account);
                }
            }
        }
    }
    // An Organization always holds its management account, so an empty answer to a caller that
    // is not the management account means it may not see the Organization (some emulators, and
    // SCP-restricted callers, answer empty rather than AccessDenied).
    if accounts.is_empty() && caller != management {
        return Err(not_management());
    }
    let mut accounts: Vec<Account> = accounts
        .into_values()
        .filter(|a| filter.include_suspended || a.is_active())
        .filter(|a| !filter.exclude.contains(&a.id))
        .collect();
    accounts.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(accounts)
}

async fn caller_account(config: &SdkConfig) -> Result<String, AccountsError> {
    let sts = aws_sdk_sts::Client::new(config);
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| AccountsError::Call {
            action: "sts:GetCallerIdentity (are credentials configured?)",
            detail: describe(&err),
        })?;
    Ok(identity.account().unwrap_or_default().to_string())
}

/// The given parents and every OU below them (breadth first, each once).
async fn descendants(org: &Client, roots: &[String]) -> Result<Vec<String>, AccountsError> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = roots.to_vec();
    let mut out = Vec::new();
    while let Some(parent) = queue.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        let mut pages = org
            .list_children()
            .parent_id(&parent)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| match error_code(&err) {
                Some("ParentNotFoundException") | Some("InvalidInputException")
                    if roots.contains(&parent) =>
                {
                    AccountsError::OuNotFound {
                        ou: parent.clone(),
                        detail: describe(&err),
                    }
                }
                _ => AccountsError::Call {
                    action: "organizations:ListChildren",
                    detail: format!("{parent}: {}", describe(&err)),
                },
            })?;
            queue.extend(
                page.children()
                    .iter()
                    .filter_map(|c| c.id().map(String::from)),
            );
        }
        out.push(parent);
    }
    Ok(out)
}

fn convert(account: &aws_sdk_organizations::types::Account) -> Account {
    #[allow(deprecated)]
    let status = account
        .state()
        .map(AccountState::as_str)
        .or(account.status().map(AccountStatus::as_str))
        .unwrap_or("UNKNOWN")
        .to_string();
    Account {
        id: account.id().unwrap_or_default().to_string(),
        name: account.name().unwrap_or_default().to_string(),
        email: account.email().unwrap_or_default().to_string(),
        status,
        joined_method: account.joined_method().map(|m| m.as_str().to_string()),
        joined_at: account
            .joined_timestamp()
            .and_then(|t| DateTime::from_timestamp(t.secs(), 0).map(|d| d.naive_utc())),
    }
}

/// The `accounts` command's table.
pub fn to_result_set(accounts: &[Account]) -> ResultSet {
    let columns = vec![
        Column::new("account_id", ColumnType::String),
        Column::new("name", ColumnType::String),
        Column::new("email", ColumnType::String),
        Column::new("status", ColumnType::String),
        Column::new("joined_method", ColumnType::String),
        Column::new("joined_at", ColumnType::Timestamp),
    ];
    let rows = accounts
        .iter()
        .map(|a| {
            vec![
                Value::Str(a.id.clone()),
                Value::Str(a.name.clone()),
                Value::Str(a.email.clone()),
                Value::Str(a.status.clone()),
                a.joined_method.clone().map_or(Value::Null, Value::Str),
                a.joined_at.map_or(Value::Null, Value::Timestamp),
            ]
        })
        .collect();
    ResultSet { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_ou_id("ou-ab12-cdef3456").is_ok());
        assert!(validate_ou_id("r-ab12").is_ok());
        assert!(validate_ou_id("ou-AB12-x").is_err());
        assert!(validate_ou_id("123456789012").is_err());
        assert!(validate_account_id("123456789012").is_ok());
        assert!(validate_account_id("12345678901").is_err());
    }
}
