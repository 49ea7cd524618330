//! The Organization: the caller's identity, its accounts, and the fan-out over account × region
//! targets (their deployments, their exports).

pub mod accounts;
pub mod apigw;
pub mod deployments;
pub mod export;
pub mod fanout;
pub mod identity;
pub mod snapshot;

/// The AWS actions the fan-out commands call with the central account's credentials.
pub fn central_actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = accounts::ACTIONS.to_vec();
    for action in snapshot::ACTIONS {
        if !v.contains(action) {
            v.push(action);
        }
    }
    v.extend(["sts:AssumeRole", "s3:GetObject"]);
    v
}

/// The AWS actions they call in each member account, with the assumed role.
pub fn member_actions() -> Vec<&'static str> {
    let mut v: Vec<&str> = deployments::ACTIONS.to_vec();
    v.extend(export::ACTIONS.iter().filter(|a| !a.starts_with("s3:")));
    v.push("account:ListRegions");
    v
}
