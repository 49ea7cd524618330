//! A simulated Organization with CloneSquad deployments, built on moto through the real APIs:
//! Organizations accounts, then, with each member's assumed credentials, the deployments' Lambda
//! functions and Interact queues.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_sdk_sts::config::Credentials;

use super::proxy::Proxy;
use super::{MAIN_ACCOUNT, Moto, block_on, cs_cmdb, sdk_config_with, stderr_of, stdout_of};

pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
pub const GROUPS: [&str; 3] = ["web-front", "batch-workers-2", "ci-runners"];
pub const BUCKET: &str = "cs-cmdb-metadata";
pub const PREFIX: &str = "clonesquad";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dep {
    pub account: String,
    pub region: String,
    pub group: String,
}

pub struct SimOrg {
    /// Member accounts (the management account excluded), in creation order.
    pub accounts: Vec<String>,
    pub deployments: Vec<Dep>,
    /// Member account → its assumed credentials (for checks made by the test).
    pub creds: BTreeMap<String, Credentials>,
}

impl SimOrg {
    pub fn metadata_path() -> String {
        format!("s3://{BUCKET}/{PREFIX}")
    }

    /// Deployments of a target, by group name.
    pub fn in_target(&self, account: &str, region: &str) -> Vec<&Dep> {
        self.deployments
            .iter()
            .filter(|d| d.account == account && d.region == region)
            .collect()
    }

    pub fn targets_with_deployments(&self) -> Vec<(String, String)> {
        let mut t: Vec<(String, String)> = self
            .deployments
            .iter()
            .map(|d| (d.account.clone(), d.region.clone()))
            .collect();
        t.dedup();
        t
    }
}

/// Which groups account number `i` runs in region number `j`: about a third of the targets, one
/// to three groups each.
pub fn groups_for(i: usize, j: usize) -> &'static [&'static str] {
    if !(i + j).is_multiple_of(3) {
        return &[];
    }
    &GROUPS[..1 + (i + 2 * j) % 3]
}

/// Build the Organization: `members` accounts, deployments per [`groups_for`], the shared bucket.
pub fn build(moto: &Moto, members: usize) -> SimOrg {
    moto.post("/moto-api/config", r#"{"lambda":{"use_docker":false}}"#);
    let central = moto.sdk_config();
    block_on(async {
        let org = aws_sdk_organizations::Client::new(&central);
        org.create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let s3 = cs_cmdb::aws::s3_client(&central);
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket");
        let sts = aws_sdk_sts::Client::new(&central);
        let mut accounts = Vec::new();
        let mut deployments = Vec::new();
        let mut creds = BTreeMap::new();
        for i in 0..members {
            let name = format!("member-{i:03}");
            let id = super::create_account(&org, &name).await;
            let assumed = sts
                .assume_role()
                .role_arn(format!(
                    "arn:aws:iam::{id}:role/OrganizationAccountAccessRole"
                ))
                .role_session_name("test-setup")
                .send()
                .await
                .expect("assume role");
            let c = assumed.credentials().expect("credentials");
            let member_creds = Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "test",
            );
            for (j, region) in REGIONS.iter().enumerate() {
                let groups = groups_for(i, j);
                if groups.is_empty() {
                    continue;
                }
                let config = sdk_config_with(&moto.endpoint, member_creds.clone())
                    .to_builder()
                    .region(aws_config::Region::new(region.to_string()))
                    .build();
                let lambda = aws_sdk_lambda::Client::new(&config);
                let sqs = aws_sdk_sqs::Client::new(&config);
                // An unrelated function, so listing has to filter.
                create_function(&lambda, &id, "billing-report").await;
                for group in groups {
                    for kind in ["Main", "Interact", "Discovery"] {
                        create_function(&lambda, &id, &format!("CloneSquad-{kind}-{group}")).await;
                    }
                    sqs.create_queue()
                        .queue_name(format!("CloneSquad-Interact-{group}"))
                        .send()
                        .await
                        .expect("create queue");
                    deployments.push(Dep {
                        account: id.clone(),
                        region: region.to_string(),
                        group: group.to_string(),
                    });
                }
            }
            creds.insert(id.clone(), member_creds);
            accounts.push(id);
        }
        deployments.sort();
        SimOrg {
            accounts,
            deployments,
            creds,
        }
    })
}

async fn create_function(lambda: &aws_sdk_lambda::Client, account: &str, name: &str) {
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Python312)
        .role(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(b"PK\x05\x06".to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create function {name} in {account}: {e:?}"));
}

/// The discovery record `CloneSquad-Discovery-<group>` answers with.
pub fn discovery_record(dep: &Dep, api_url: &str, metadata_path: &str) -> String {
    serde_json::json!({
        "AccountId": dep.account,
        "GroupName": dep.group,
        "CloneSquadVersion": "v0.27.1",
        "InstallTime": "2026-11-01 10:00:00",
        "InteractAPIGWUrl": api_url,
        "InteractQueue": "",
        "MetadataAndBackupS3Path": metadata_path,
        "UserSuppliedJSONMetadata": "",
    })
    .to_string()
}

/// Queue Lambda answers in moto's lambda-simple backend of (account, region): they are consumed
/// in order by whichever function is invoked next there.
pub fn queue_answers(moto: &Moto, account: &str, region: &str, answers: &[String]) {
    let body = serde_json::json!({
        "account_id": account,
        "region": region,
        "results": answers,
    });
    moto.post("/moto-api/static/lambda-simple/response", &body.to_string());
}

pub fn interact_ok() -> String {
    serde_json::json!({
        "statusCode": 200,
        "body": format!("Exported Configuration/Scheduler backups and metadata to {}.", SimOrg::metadata_path()),
    })
    .to_string()
}

pub fn main_account() -> &'static str {
    MAIN_ACCOUNT
}

/// Every region of [`REGIONS`] enabled by default, and af-south-1 (an opt-in region) disabled.
pub fn default_regions() -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = REGIONS
        .iter()
        .map(|r| (r.to_string(), "ENABLED_BY_DEFAULT".to_string()))
        .collect();
    r.push(("af-south-1".into(), "DISABLED".into()));
    r
}

/// Queue, in each target, one answer list per deployment (groups in the order the tool visits them).
pub fn queue_per_target(moto: &Moto, sim: &SimOrg, answers: impl Fn(&Dep) -> Vec<String>) {
    for (account, region) in sim.targets_with_deployments() {
        let mut all = Vec::new();
        let mut deps = sim.in_target(&account, &region);
        deps.sort_by(|a, b| a.group.cmp(&b.group));
        for d in deps {
            all.extend(answers(d));
        }
        queue_answers(moto, &account, &region, &all);
    }
}

/// `cs-cmdb --endpoint-url <proxy> --format json ARGS`.
pub fn run(home: &std::path::Path, proxy: &Proxy, args: &[&str]) -> std::process::Output {
    cs_cmdb(home)
        .args(["--endpoint-url", &proxy.endpoint, "--format", "json"])
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

/// The JSON rows on stdout (the test fails when stdout is not a JSON array).
pub fn rows(out: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::from_str(&stdout_of(out)).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

/// `failed <account>/<region>: <class>: ...` lines of the summary, by target.
pub fn failed_targets(stderr: &str) -> BTreeMap<(String, String), String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("failed "))
        .filter_map(|l| {
            let (target, rest) = l.split_once(": ")?;
            let (account, region) = target.split_once('/')?;
            let class = rest.split(':').next()?.to_string();
            Some(((account.to_string(), region.to_string()), class))
        })
        .collect()
}

/// (account, region, group) -> (status, class) of the rows.
pub fn status_of(
    rows: &[serde_json::Value],
) -> BTreeMap<(String, String, String), (String, String)> {
    rows.iter()
        .map(|r| {
            (
                (
                    r["account_id"].as_str().unwrap().to_string(),
                    r["region"].as_str().unwrap().to_string(),
                    r["group_name"].as_str().unwrap().to_string(),
                ),
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["class"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

pub fn key(d: &Dep) -> (String, String, String) {
    (d.account.clone(), d.region.clone(), d.group.clone())
}

/// A snapshot of the bundled example's three accounts: the management account at the root,
/// 100000007919 in Root/Workloads/Prod (tagged Owner=team-games), 100000015838 in
/// Root/Workloads/Dev; plus 100000099999 in Dev, which runs no CloneSquad.
pub fn example_snapshot(cache: &Path) {
    use cs_cmdb::org::accounts::Account;
    use cs_cmdb::org::snapshot::{OrgAccount, Snapshot, SnapshotInfo, Unit, local_dir};
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap();
    let unit = |id: &str, name: &str, path: &str, parent: Option<&str>, depth| Unit {
        id: id.into(),
        name: name.into(),
        path: path.into(),
        parent_id: parent.map(String::from),
        depth,
    };
    let account = |id: &str, name: &str, ou: &str, path: &str, tags: &[(&str, &str)]| OrgAccount {
        account: Account {
            id: id.into(),
            name: name.into(),
            email: format!("{name}@example.com"),
            status: "ACTIVE".into(),
            joined_method: Some("CREATED".into()),
            joined_at: Some(at),
        },
        ou_id: ou.into(),
        ou_path: path.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let snapshot = Snapshot {
        info: SnapshotInfo {
            organization_id: "o-example".into(),
            management_account: "100000000000".into(),
            taken_at: at,
            accounts: 4,
            units: 4,
        },
        units: vec![
            unit("r-ex12", "Root", "Root", None, 0),
            unit(
                "ou-ex12-11111111",
                "Workloads",
                "Root/Workloads",
                Some("r-ex12"),
                1,
            ),
            unit(
                "ou-ex12-22222222",
                "Prod",
                "Root/Workloads/Prod",
                Some("ou-ex12-11111111"),
                2,
            ),
            unit(
                "ou-ex12-33333333",
                "Dev",
                "Root/Workloads/Dev",
                Some("ou-ex12-11111111"),
                2,
            ),
        ],
        accounts: vec![
            account("100000000000", "management", "r-ex12", "Root", &[]),
            account(
                "100000007919",
                "games",
                "ou-ex12-22222222",
                "Root/Workloads/Prod",
                &[("Owner", "team-games"), ("Env", "prod")],
            ),
            account(
                "100000015838",
                "data",
                "ou-ex12-33333333",
                "Root/Workloads/Dev",
                &[("Owner", "platform")],
            ),
            account(
                "100000099999",
                "idle",
                "ou-ex12-33333333",
                "Root/Workloads/Dev",
                &[],
            ),
        ],
    };
    snapshot.write(&local_dir(cache)).unwrap();
}
