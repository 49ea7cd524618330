//! `cs-cmdb whoami` on the emulator: the identity, where its credentials come from, the region,
//! and the Organization as the caller's account sees it (or why it cannot).

use aws_sdk_organizations::types::OrganizationFeatureSet;

use crate::support::snapshot::Filters;
use crate::support::{MAIN_ACCOUNT, Moto, block_on, cs_cmdb, stderr_of, stdout_of};

fn run(moto: &Moto, home: &std::path::Path, env: &[(&str, &str)], format: &str) -> String {
    let mut cmd = cs_cmdb(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "whoami",
            "--format",
            format,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "whoami failed: {}", stderr_of(&out));
    stdout_of(&out)
}

fn row(moto: &Moto, home: &std::path::Path, env: &[(&str, &str)]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&run(moto, home, env, "json")).expect("JSON array");
    assert_eq!(rows.len(), 1);
    rows[0].clone()
}

#[test]
fn whoami_shows_the_identity_and_its_organization() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let (org_id, member, member_creds) = block_on(async {
        let config = moto.sdk_config();
        let org = aws_sdk_organizations::Client::new(&config);
        let created = org
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let org_id = created.organization().unwrap().id().unwrap().to_string();
        let member = crate::support::create_account(&org, "member").await;
        let assumed = aws_sdk_sts::Client::new(&config)
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("whoami-test")
            .send()
            .await
            .expect("assume role");
        let c = assumed.credentials().unwrap().clone();
        (org_id, member, c)
    });

    // The management account, with the environment's keys.
    let me = row(&moto, home.path(), &[]);
    assert_eq!(
        me,
        serde_json::json!({
            "account": MAIN_ACCOUNT,
            "arn": format!("arn:aws:sts::{MAIN_ACCOUNT}:user/moto"),
            "user_id": me["user_id"],
            "credentials": "environment",
            "region": "us-east-1",
            "organization": org_id,
            "management_account": MAIN_ACCOUNT,
            "is_management_account": true,
        })
    );
    assert!(me["user_id"].as_str().is_some_and(|s| !s.is_empty()));

    // A member account (an assumed role's session keys): same Organization, not its management.
    let them = row(
        &moto,
        home.path(),
        &[
            ("AWS_ACCESS_KEY_ID", member_creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", member_creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", member_creds.session_token()),
            ("AWS_REGION", "eu-west-1"),
        ],
    );
    assert_eq!(them["account"], member);
    assert_eq!(
        them["arn"],
        format!("arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/whoami-test")
    );
    assert_eq!(them["region"], "eu-west-1");
    assert_eq!(them["organization"], org_id);
    assert_eq!(them["management_account"], MAIN_ACCOUNT);
    assert_eq!(them["is_management_account"], false);

    // Every format renders the one row.
    let csv = run(&moto, home.path(), &[], "csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "account,arn,user_id,credentials,region,organization,management_account,is_management_account"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with(&format!("{MAIN_ACCOUNT},")), "{csv}");
    assert!(
        lines[1].ends_with(&format!(",{org_id},{MAIN_ACCOUNT},true")),
        "{csv}"
    );
    let md = run(&moto, home.path(), &[], "markdown");
    assert_eq!(md.lines().count(), 3, "{md}");
    let table = run(&moto, home.path(), &[], "table");
    assert!(
        table.contains(&org_id) && table.contains("environment"),
        "{table}"
    );
}

#[test]
fn whoami_without_an_organization_says_so() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let me = row(&moto, home.path(), &[]);
    assert_eq!(me["account"], MAIN_ACCOUNT);
    assert_eq!(
        me["organization"],
        format!("none: account {MAIN_ACCOUNT} is not in an AWS Organization")
    );
    assert_eq!(me["management_account"], serde_json::Value::Null);
    assert_eq!(me["is_management_account"], serde_json::Value::Null);
}

#[test]
fn whoami_when_the_organization_is_not_readable_still_answers() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    block_on(async {
        aws_sdk_organizations::Client::new(&moto.sdk_config())
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
    });
    // An IAM user without any policy, then IAM enforced from the next request on: it may call
    // sts:GetCallerIdentity (always allowed) but not organizations:DescribeOrganization.
    let (key, secret) = moto.iam_user("auditor");
    moto.post("/moto-api/reset-auth", "0");
    let me = row(
        &moto,
        home.path(),
        &[
            ("AWS_ACCESS_KEY_ID", key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ],
    );
    assert_eq!(
        me["arn"],
        format!("arn:aws:iam::{MAIN_ACCOUNT}:user/auditor")
    );
    let org = me["organization"].as_str().unwrap();
    // moto answers this JSON API's denial in XML, which the SDK cannot parse: the status says it.
    assert_eq!(
        org,
        "not readable: organizations:DescribeOrganization: access denied (HTTP 403)"
    );
    assert_eq!(me["management_account"], serde_json::Value::Null);
    assert_eq!(me["is_management_account"], serde_json::Value::Null);
}

#[test]
fn whoami_fails_when_the_identity_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    // The default endpoint of the test environment is a closed loopback port.
    cs_snapshot!(Filters::new(), cs_cmdb(home.path()).arg("whoami"));
}
