//! `cs-cmdb accounts` against an Organization built on the emulator through the real APIs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::OrganizationFeatureSet as FeatureSet;

use crate::support::{Moto, block_on, cs_cmdb, stderr_of, stdout_of};

/// An Organization: OU name → id, and account name → id.
struct Org {
    root: String,
    ous: BTreeMap<&'static str, String>,
    accounts: BTreeMap<String, String>,
}

/// root ─ Prod ─ Prod-EU ─ Prod-EU-Web, root ─ Dev; `per_parent` accounts in each of the five
/// parents; the first `suspended` accounts of Prod-EU-Web are closed.
fn build_org(moto: &Moto, per_parent: usize, suspended: usize) -> Org {
    let org = Client::new(&moto.sdk_config());
    block_on(async {
        org.create_organization()
            .feature_set(FeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let roots = org.list_roots().send().await.expect("list roots");
        let root = roots.roots()[0].id().expect("root id").to_string();
        let mut ous = BTreeMap::new();
        for (name, parent) in [
            ("Prod", "root"),
            ("Prod-EU", "Prod"),
            ("Prod-EU-Web", "Prod-EU"),
            ("Dev", "root"),
        ] {
            let parent_id = if parent == "root" {
                root.clone()
            } else {
                ous.get(parent).cloned().expect("parent created first")
            };
            let ou = org
                .create_organizational_unit()
                .parent_id(parent_id)
                .name(name)
                .send()
                .await
                .expect("create OU");
            ous.insert(
                name,
                ou.organizational_unit().unwrap().id().unwrap().to_string(),
            );
        }
        let mut accounts = BTreeMap::new();
        for parent in ["root", "Prod", "Prod-EU", "Prod-EU-Web", "Dev"] {
            for i in 0..per_parent {
                let name = format!("{}-{i:03}", parent.to_lowercase());
                let id = crate::support::create_account(&org, &name).await;
                if parent != "root" {
                    org.move_account()
                        .account_id(&id)
                        .source_parent_id(&root)
                        .destination_parent_id(&ous[parent])
                        .send()
                        .await
                        .expect("move account");
                }
                if parent == "Prod-EU-Web" && i < suspended {
                    org.close_account()
                        .account_id(&id)
                        .send()
                        .await
                        .expect("close");
                }
                accounts.insert(name, id);
            }
        }
        Org {
            root,
            ous,
            accounts,
        }
    })
}

fn json_rows(output: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(output.status.success(), "failed: {}", stderr_of(output));
    serde_json::from_str(&stdout_of(output)).expect("JSON array on stdout")
}

fn names(rows: &[serde_json::Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lists_filters_and_pages_through_250_accounts() {
    let moto = Moto::start();
    let org = build_org(&moto, 50, 3);
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        cs_cmdb(home.path())
            .args([
                "--endpoint-url",
                &moto.endpoint,
                "accounts",
                "--format",
                "json",
            ])
            .args(args)
            .output()
            .unwrap()
    };

    // Whole Organization, more than two pages of ListAccounts: 250 created + the management
    // account, less the 3 suspended ones.
    let all = json_rows(&run(&[]));
    assert_eq!(all.len(), 248);
    assert!(all.iter().all(|r| r["status"] == "ACTIVE"));
    let listed = names(&all);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "rows are sorted by name");
    let first = &all.iter().find(|r| r["name"] == "dev-000").unwrap();
    assert_eq!(first["account_id"], org.accounts["dev-000"]);
    assert_eq!(first["email"], "dev-000@example.com");
    assert_eq!(first["joined_method"], "CREATED");
    assert!(first["joined_at"].as_str().unwrap().starts_with("20"));

    let with_suspended = json_rows(&run(&["--include-suspended"]));
    assert_eq!(with_suspended.len(), 251);
    let suspended: Vec<_> = with_suspended
        .iter()
        .filter(|r| r["status"] != "ACTIVE")
        .map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        suspended,
        [
            ("prod-eu-web-000", "SUSPENDED"),
            ("prod-eu-web-001", "SUSPENDED"),
            ("prod-eu-web-002", "SUSPENDED")
        ]
    );

    // An OU includes its nested OUs.
    let prod = json_rows(&run(&["--ou", &org.ous["Prod"]]));
    assert_eq!(prod.len(), 150 - 3);
    assert!(names(&prod).iter().all(|n| n.starts_with("prod-")));
    let two = json_rows(&run(&[
        "--ou",
        &org.ous["Dev"],
        "--ou",
        &org.ous["Prod-EU-Web"],
    ]));
    assert_eq!(two.len(), 50 + 47);
    let root = json_rows(&run(&["--ou", &org.root]));
    assert_eq!(root.len(), 248);

    // Exclusions.
    let excluded = json_rows(&run(&[
        "--ou",
        &org.ous["Dev"],
        "--exclude-account",
        &org.accounts["dev-001"],
        "--exclude-account",
        &org.accounts["dev-002"],
    ]));
    assert_eq!(excluded.len(), 48);
    assert!(!names(&excluded).contains(&"dev-001".to_string()));
}

#[test]
fn bad_filter_ids_are_clear_errors() {
    let moto = Moto::start();
    build_org(&moto, 1, 0);
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .args(["--endpoint-url", &moto.endpoint, "accounts", "--ou", "Prod"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("`Prod` is not an organizational unit"),
        "{}",
        stderr_of(&out)
    );

    let out = cs_cmdb(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "accounts",
            "--ou",
            "ou-zzzz-zzzzzzzz",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("ou-zzzz-zzzzzzzz"),
        "{}",
        stderr_of(&out)
    );
}

fn redact(text: &str) -> String {
    let ids = regex::Regex::new(r"\b\d{12}\b").unwrap();
    let times = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?").unwrap();
    let text = ids.replace_all(text, "[ACCOUNT_ID]");
    times.replace_all(&text, "[TIME]").into_owned()
}

#[test]
fn every_output_format() {
    let moto = Moto::start();
    build_org(&moto, 1, 1);
    let home = tempfile::tempdir().unwrap();
    for format in ["table", "json", "csv", "markdown"] {
        let out = cs_cmdb(home.path())
            .args([
                "--endpoint-url",
                &moto.endpoint,
                "accounts",
                "--include-suspended",
            ])
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        insta::assert_snapshot!(format!("accounts_{format}"), redact(&stdout_of(&out)));
    }
}

#[test]
fn a_member_account_gets_a_clear_error() {
    let moto = Moto::start();
    let org = build_org(&moto, 1, 0);
    let member = &org.accounts["dev-000"];
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config());
    let creds = block_on(
        sts.assume_role()
            .role_arn(format!(
                "arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("tests")
            .send(),
    )
    .expect("assume role");
    let creds = creds.credentials().expect("credentials");
    let home = tempfile::tempdir().unwrap();
    let out = cs_cmdb(home.path())
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .env("AWS_SESSION_TOKEN", creds.session_token())
        .args(["--endpoint-url", &moto.endpoint, "accounts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(member.as_str()),
        "names the caller's account: {err}"
    );
    assert!(err.contains("management account"), "{err}");
    assert!(
        !err.contains(creds.secret_access_key()),
        "no secret in output"
    );
    assert!(stdout_of(&out).is_empty());
}

#[test]
fn an_unreachable_endpoint_fails_fast_and_clearly() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = cs_cmdb(home.path())
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "accounts",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("could not reach the AWS endpoint"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded: {:?}",
        started.elapsed()
    );
}

#[test]
fn config_file_env_and_flag_layer_in_that_order() {
    let moto = Moto::start();
    build_org(&moto, 1, 0);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cs-cmdb.toml"),
        format!("format = \"csv\"\nendpoint-url = \"{}\"\n", moto.endpoint),
    )
    .unwrap();
    let file_only = cs_cmdb(home.path()).arg("accounts").output().unwrap();
    assert!(
        stdout_of(&file_only).starts_with("account_id,name,"),
        "{}",
        stderr_of(&file_only)
    );

    let env_over_file = cs_cmdb(home.path())
        .env("CS_CMDB_FORMAT", "json")
        .arg("accounts")
        .output()
        .unwrap();
    assert!(stdout_of(&env_over_file).starts_with('['));

    let flag_over_env = cs_cmdb(home.path())
        .env("CS_CMDB_FORMAT", "json")
        .args(["accounts", "--format", "markdown"])
        .output()
        .unwrap();
    assert!(stdout_of(&flag_over_env).starts_with("| account_id |"));

    // --config names another file, which wins over ./cs-cmdb.toml.
    let other = home.path().join("other.toml");
    std::fs::write(
        &other,
        format!("format = \"json\"\nendpoint-url = \"{}\"\n", moto.endpoint),
    )
    .unwrap();
    let named = cs_cmdb(home.path())
        .args(["--config", other.to_str().unwrap(), "accounts"])
        .output()
        .unwrap();
    assert!(stdout_of(&named).starts_with('['));
}
