//! `cs-cmdb accounts` against an Organization built on the emulator through the real APIs.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::OrganizationFeatureSet as FeatureSet;

use crate::support::snapshot::{Filters, Runs, run};
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
    let mut runs = Runs::new(Filters::new());
    for ou in ["Prod", "ou-zzzz-zzzzzzzz"] {
        let out = runs.run(
            &format!("--ou {ou}"),
            cs_cmdb(home.path()).args(["--endpoint-url", &moto.endpoint, "accounts", "--ou", ou]),
        );
        assert_eq!(out.status.code(), Some(2));
    }
    insta::assert_snapshot!("bad_ou_ids", runs.text());
}

/// Every line of a drawn table has the same width (in characters).
fn assert_aligned(table: &str) {
    let widths: BTreeSet<usize> = table.lines().map(|l| l.chars().count()).collect();
    assert_eq!(widths.len(), 1, "lines of different widths: {table}");
}

#[test]
fn every_output_format() {
    let moto = Moto::start();
    build_org(&moto, 1, 1);
    let home = tempfile::tempdir().unwrap();
    // The account ids are random and the join times are when the emulator created the accounts.
    let filters = Filters::new().account_ids().times();
    for format in ["table", "json", "csv", "markdown"] {
        let (snapshot, out) = run(
            cs_cmdb(home.path())
                .args([
                    "--endpoint-url",
                    &moto.endpoint,
                    "accounts",
                    "--include-suspended",
                ])
                .args(["--format", format]),
            &filters,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        if format == "table" {
            assert_aligned(&stdout_of(&out));
            assert_aligned(&filters.apply(&stdout_of(&out)));
        }
        insta::assert_snapshot!(format!("accounts_{format}"), snapshot);
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
fn an_unreachable_endpoint_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    // The test environment's endpoint is a closed loopback port.
    cs_snapshot!(Filters::new(), cs_cmdb(home.path()).arg("accounts"));
}

/// No region anywhere, and an instance metadata service that does not answer (a closed loopback
/// port): one line saying how to set a region, not the SDK's warnings with their debug dumps.
#[test]
fn no_region_is_one_line_without_the_sdks_warnings() {
    let home = tempfile::tempdir().unwrap();
    let out = cs_snapshot!(
        Filters::new(),
        cs_cmdb(home.path())
            .env_remove("AWS_REGION")
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
            .arg("accounts")
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
}
