//! Test support: the moto emulator as a real HTTP server on 127.0.0.1, and the binary run with a
//! clean, fixed environment (no ambient credentials, no metadata-service probing). Beside it:
//! - `server`: the one loopback HTTP server (stand in, forward, rewrite, and record every request);
//! - `proxy`: a fault-injecting handler in front of moto, `standin`: a synthetic AWS endpoint;
//! - `org`: a simulated Organization with CloneSquad deployments on moto;
//! - `tree`: metadata trees in CloneSquad's exact layout (hand-written or generated);
//! - `snapshot`: whole-run snapshots (`cs_snapshot!`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";
/// The account moto gives to the default credentials.
pub const MAIN_ACCOUNT: &str = "123456789012";

/// A moto server of our own, stopped (by pid) on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CS_CMDB_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

impl Moto {
    /// Start moto on a free loopback port. Panics (the test FAILS, never skips) when it cannot.
    pub fn start() -> Self {
        let path = moto_server_path();
        assert!(
            path.is_file(),
            "moto_server not found at {}: run scripts/test, which installs the pinned moto[server] into .venv",
            path.display()
        );
        let mut child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_DEFAULT_REGION", REGION)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        // moto (werkzeug) prints `Running on http://127.0.0.1:PORT` on stderr; read both streams.
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        let endpoint = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find("http://127.0.0.1:") {
                        let url: String = line[at..]
                            .chars()
                            .take_while(|c| !c.is_whitespace())
                            .collect();
                        break url;
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("moto_server did not report its port within 30 s; it printed: {seen:?}");
                }
            }
        };
        Self { child, endpoint }
    }

    /// SDK configuration for the test process itself: fixed credentials, region and endpoint.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_with(
            &self.endpoint,
            Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"),
        )
    }

    /// An S3 client for the test itself, built as the tool builds its own (path style).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        cs_cmdb::aws::s3_client(&self.sdk_config())
    }

    /// Forget all state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        self.post("/moto-api/reset", "");
    }

    /// A plain HTTP POST to the emulator (its `/moto-api/...` control endpoints); returns the body.
    pub fn post(&self, path: &str, body: &str) -> String {
        self.send(path, "application/json", "", body)
    }

    /// An IAM user `name` with an access key (no policy): returns (access key id, secret). Its
    /// key is known to moto, so GetCallerIdentity answers with the user's ARN. Sent as an
    /// unsigned query-protocol call (moto routes on the Authorization header's credential scope
    /// and checks no signature unless auth is enforced); the tool's dependencies hold no IAM SDK.
    pub fn iam_user(&self, name: &str) -> (String, String) {
        let auth = format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0\r\n"
        );
        let form = "application/x-www-form-urlencoded";
        self.send(
            "/",
            form,
            &auth,
            &format!("Action=CreateUser&Version=2010-05-08&UserName={name}"),
        );
        let xml = self.send(
            "/",
            form,
            &auth,
            &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}"),
        );
        let field = |tag: &str| {
            let open = format!("<{tag}>");
            let start = xml.find(&open).map(|at| at + open.len());
            let end = xml.find(&format!("</{tag}>"));
            match (start, end) {
                (Some(start), Some(end)) => xml[start..end].to_string(),
                _ => panic!("no {tag} in CreateAccessKey's answer: {xml}"),
            }
        };
        (field("AccessKeyId"), field("SecretAccessKey"))
    }

    fn send(&self, path: &str, content_type: &str, headers: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let authority = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(authority).expect("connect to moto");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write to moto");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read from moto");
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.1 201"),
            "moto {path} answered: {response}"
        );
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

/// Buckets and objects, for fixtures.
impl Moto {
    pub fn create_bucket(&self, bucket: &str) {
        block_on(self.s3().create_bucket().bucket(bucket).send()).expect("create bucket");
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        block_on(
            self.s3()
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.to_vec().into())
                .send(),
        )
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    pub fn delete(&self, bucket: &str, key: &str) {
        block_on(self.s3().delete_object().bucket(bucket).key(key).send())
            .unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
    }

    /// The bucket's lifecycle configuration: (rule id, prefix, enabled), each expiring objects
    /// after 30 days.
    pub fn put_lifecycle(&self, bucket: &str, rules: &[(&str, &str, bool)]) {
        use aws_sdk_s3::types::{
            BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
            LifecycleRuleFilter,
        };
        let rules = rules
            .iter()
            .map(|(id, prefix, enabled)| {
                LifecycleRule::builder()
                    .id(*id)
                    .filter(LifecycleRuleFilter::builder().prefix(*prefix).build())
                    .status(if *enabled {
                        ExpirationStatus::Enabled
                    } else {
                        ExpirationStatus::Disabled
                    })
                    .expiration(LifecycleExpiration::builder().days(30).build())
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        block_on(
            self.s3()
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .unwrap(),
                )
                .send(),
        )
        .expect("put lifecycle");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sdk_config_with(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build()
}

/// The binary, with an environment holding only what the test gives it: a private HOME (so no
/// user config or cache is read), fixed credentials and region, metadata service disabled.
pub fn cs_cmdb(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(cs_cmdb_spawnable(home));
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// Create a member account `name` (email `<name>@example.com`) and return its id.
pub async fn create_account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    let created = org
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("create account");
    created
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("account id")
        .to_string()
}

/// A runtime for SDK calls made by the test itself.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub mod athena;
pub mod org;
pub mod proxy;
pub mod server;
#[macro_use]
pub mod snapshot;
pub mod standin;
pub mod tree;

/// Like [`cs_cmdb`], as a `std::process::Command` (for tests that spawn and signal the process).
pub fn cs_cmdb_spawnable(home: &Path) -> Command {
    // Empty AWS config files: present, so the SDK reads nothing else and warns about nothing.
    for name in ["aws-config", "aws-credentials"] {
        let path = home.join(name);
        if !path.exists() {
            std::fs::write(&path, "").expect("write empty AWS config file");
        }
    }
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("cs-cmdb"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", REGION)
        // A closed loopback port unless the test names an endpoint: no test can reach AWS.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(home);
    cmd
}

/// Start the binary with `args` (stdout and stderr piped), for a test that signals it.
pub fn spawn(home: &Path, args: &[&str]) -> std::process::Child {
    cs_cmdb_spawnable(home)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cs-cmdb")
}

/// Send SIGINT (Ctrl-C) to a spawned binary.
pub fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT {}", child.id());
}

/// `cs-cmdb query <args> --format json` over `source` (cache in `<home>/cache`) at the clock of
/// the example and of generated trees ([`tree::GENERATED_AT`]): the rows, or a failed test.
pub fn query_json(home: &Path, source: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = cs_cmdb(home)
        .env("CS_CMDB_NOW", tree::GENERATED_AT)
        .args([
            "query",
            "--format",
            "json",
            "--cache-dir",
            "cache",
            "--source",
        ])
        .arg(source)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    serde_json::from_str(&stdout_of(&out)).unwrap()
}
