//! Which credentials a run uses, as the AWS CLI decides: an explicit profile (`--profile`,
//! `CS_CMDB_PROFILE`, `profile` in cs-cmdb.toml) beats the environment's keys; `AWS_PROFILE` alone
//! does not (with a warning); an unknown profile stops the run before any AWS call. Observed for
//! real: the emulator maps each IAM user's access key to that user's ARN, so `whoami` shows whose
//! key signed the calls.

use std::path::Path;

use crate::support::server::{Reply, Server};
use crate::support::snapshot::{Filters, Runs};
use crate::support::{MAIN_ACCOUNT, Moto, cs_cmdb, stderr_of, stdout_of};

/// Two IAM users on the emulator: `alice` (in the AWS files as profile `alice`) and `bob` (whose
/// keys are in the environment).
struct Users {
    moto: Moto,
    home: tempfile::TempDir,
    alice: (String, String),
    bob: (String, String),
}

fn arn(user: &str) -> String {
    format!("arn:aws:iam::{MAIN_ACCOUNT}:user/{user}")
}

fn users() -> Users {
    let moto = Moto::start();
    let alice = moto.iam_user("alice");
    let bob = moto.iam_user("bob");
    let home = tempfile::tempdir().unwrap();
    Users {
        moto,
        home,
        alice,
        bob,
    }
}

/// The AWS config and credentials files the test environment points at.
fn aws_files(home: &Path, config: &str, credentials: &str) {
    std::fs::write(home.join("aws-config"), config).unwrap();
    std::fs::write(home.join("aws-credentials"), credentials).unwrap();
}

impl Users {
    /// `[alice]` in the credentials file, `[profile alice]` (region) and `[profile bob]` in the config.
    fn standard_files(&self) {
        aws_files(
            self.home.path(),
            "[profile alice]\nregion = eu-west-3\n\n[profile bob]\nregion = eu-central-1\n",
            &format!(
                "[alice]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                self.alice.0, self.alice.1
            ),
        );
    }

    /// The binary with bob's keys in the environment, talking to the emulator.
    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = cs_cmdb(self.home.path());
        cmd.env("AWS_ACCESS_KEY_ID", &self.bob.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.bob.1)
            .args(["--endpoint-url", &self.moto.endpoint, "-f", "json"]);
        cmd
    }
}

/// Run `whoami` and return its one row.
fn whoami(cmd: &mut assert_cmd::Command) -> (serde_json::Value, String) {
    let out = cmd.arg("whoami").output().unwrap();
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "whoami failed: {stderr}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&stdout_of(&out)).expect("a JSON array on stdout");
    assert_eq!(rows.len(), 1, "{rows:?}");
    (rows[0].clone(), stderr)
}

#[test]
fn an_explicit_profile_beats_the_environment_keys() {
    let u = users();
    u.standard_files();

    // No profile: the environment's keys (bob).
    let (row, _) = whoami(&mut u.cmd());
    assert_eq!(row["arn"], arn("bob"));
    assert_eq!(row["credentials"], "environment");

    // --profile: alice's key signs, not the environment's.
    let (row, stderr) = whoami(u.cmd().args(["--profile", "alice"]));
    assert_eq!(row["arn"], arn("alice"), "stderr: {stderr}");
    assert_eq!(row["account"], MAIN_ACCOUNT);
    assert_eq!(row["credentials"], "profile alice");
    assert!(!stderr.contains("AWS_PROFILE"), "no warning: {stderr}");

    // CS_CMDB_PROFILE, and `profile` in cs-cmdb.toml, are explicit profiles too.
    let (row, _) = whoami(u.cmd().env("CS_CMDB_PROFILE", "alice"));
    assert_eq!(row["arn"], arn("alice"));
    std::fs::write(u.home.path().join("cs-cmdb.toml"), "profile = \"alice\"\n").unwrap();
    let (row, _) = whoami(&mut u.cmd());
    assert_eq!(row["arn"], arn("alice"));
    assert_eq!(row["credentials"], "profile alice");

    // An explicit profile beats AWS_PROFILE too (bob's profile has no keys: it would fail).
    let (row, _) = whoami(u.cmd().env("AWS_PROFILE", "bob"));
    assert_eq!(row["arn"], arn("alice"));
    // And the flag beats the config file.
    std::fs::write(u.home.path().join("cs-cmdb.toml"), "profile = \"bob\"\n").unwrap();
    let (row, _) = whoami(u.cmd().args(["--profile", "alice"]));
    assert_eq!(row["arn"], arn("alice"));
}

#[test]
fn aws_profile_does_not_beat_the_environment_keys_and_says_so() {
    let u = users();
    u.standard_files();

    let (row, stderr) = whoami(u.cmd().env("AWS_PROFILE", "alice"));
    assert_eq!(
        row["arn"],
        arn("bob"),
        "the environment's keys, as the AWS CLI"
    );
    assert_eq!(row["credentials"], "environment");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("AWS_PROFILE"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning line: {stderr}");
    let warning = warnings[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("AWS_PROFILE=alice is ignored"),
        "{warning}"
    );
    assert!(warning.contains("--profile alice"), "{warning}");
    for secret in [&u.bob.0, &u.bob.1, &u.alice.0, &u.alice.1] {
        assert!(
            !stderr.contains(secret.as_str()),
            "no key on stderr: {stderr}"
        );
    }
    // -q: no warnings.
    let (_, stderr) = whoami(u.cmd().env("AWS_PROFILE", "alice").arg("-q"));
    assert_eq!(stderr, "");

    // Without environment keys, AWS_PROFILE picks the profile (the SDK's default chain).
    let (row, stderr) = whoami(
        u.cmd()
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_PROFILE", "alice"),
    );
    assert_eq!(row["arn"], arn("alice"));
    assert_eq!(
        row["credentials"],
        "default chain (profile alice from AWS_PROFILE)"
    );
    assert!(!stderr.contains("AWS_PROFILE"), "{stderr}");
}

#[test]
fn the_region_comes_from_the_profile_unless_given() {
    let u = users();
    u.standard_files();
    let (row, _) = whoami(
        u.cmd()
            .env_remove("AWS_REGION")
            .args(["--profile", "alice"]),
    );
    assert_eq!(row["region"], "eu-west-3");
    let (row, _) = whoami(u.cmd().env_remove("AWS_REGION").args([
        "--profile",
        "alice",
        "--region",
        "ap-south-1",
    ]));
    assert_eq!(row["region"], "ap-south-1");
    // As with the AWS CLI and the SDKs, AWS_REGION comes before the profile's region.
    let (row, _) = whoami(
        u.cmd()
            .env("AWS_REGION", "sa-east-1")
            .args(["--profile", "alice"]),
    );
    assert_eq!(row["region"], "sa-east-1");
}

#[test]
fn a_credential_process_profile_is_used() {
    let u = users();
    let carol = u.moto.iam_user("carol");
    let script = u.home.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' '{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}'\n",
            carol.0, carol.1
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    aws_files(
        u.home.path(),
        &format!(
            "[profile vault]\ncredential_process = {}\n",
            script.display()
        ),
        "",
    );
    let (row, stderr) = whoami(u.cmd().args(["--profile", "vault"]));
    assert_eq!(row["arn"], arn("carol"), "stderr: {stderr}");
    assert_eq!(row["credentials"], "profile vault");
}

#[test]
fn an_assume_role_profile_starts_from_its_source_profile() {
    let u = users();
    u.standard_files();
    let mut config = std::fs::read_to_string(u.home.path().join("aws-config")).unwrap();
    config.push_str(
        "\n[profile other-org]\nrole_arn = arn:aws:iam::210987654321:role/governance\nsource_profile = alice\nrole_session_name = cs-cmdb-test\n",
    );
    std::fs::write(u.home.path().join("aws-config"), config).unwrap();
    // The emulator through AWS_ENDPOINT_URL, which the profile's own STS client honours too.
    let out = cs_cmdb(u.home.path())
        .env("AWS_ACCESS_KEY_ID", &u.bob.0)
        .env("AWS_SECRET_ACCESS_KEY", &u.bob.1)
        .env("AWS_ENDPOINT_URL", &u.moto.endpoint)
        .args(["--profile", "other-org", "-f", "json", "whoami"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(rows[0]["account"], "210987654321");
    assert_eq!(
        rows[0]["arn"],
        "arn:aws:sts::210987654321:assumed-role/governance/cs-cmdb-test"
    );
}

#[test]
fn an_unknown_profile_stops_the_run_before_any_aws_call() {
    let home = tempfile::tempdir().unwrap();
    aws_files(
        home.path(),
        "[profile governance]\nregion = eu-west-1\n\n[profile other-org]\nregion = eu-west-1\n",
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
    );
    // Records every request it gets (and answers each with a 500).
    let server = Server::start(|_| async { Reply::new(500, "text/plain", "unexpected call") });
    let mut runs = Runs::new(Filters::new().path(home.path(), "[HOME]"));
    let mut run = |title: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = cs_cmdb(home.path());
        cmd.args(["--endpoint-url", &server.endpoint]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = runs.run(title, cmd.args(args));
        let calls = server.exchanges();
        assert!(
            calls.is_empty(),
            "{title}: an AWS call was made ({:?}): {}",
            calls.first().map(|c| c.uri.to_string()),
            stderr_of(&out)
        );
        assert_eq!(out.status.code(), Some(2), "{title}: {}", stderr_of(&out));
    };

    run(
        "--profile, a near miss",
        &["--profile", "governanse", "accounts"],
        &[],
    );
    // The case: an export with the environment's keys and a wrong profile.
    run(
        "--profile on export",
        &["--profile", "nope", "export", "--regions", "us-east-1"],
        &[],
    );
    run(
        "CS_CMDB_PROFILE",
        &["whoami"],
        &[("CS_CMDB_PROFILE", "nope")],
    );
    // `check` does not take it for missing access (a skip): it stops too.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy = root.join("examples/policy.toml");
    let source = root.join("examples/metadata");
    run(
        "--profile on check",
        &[
            "--profile",
            "nope",
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--source",
            source.to_str().unwrap(),
        ],
        &[],
    );
    // AWS_PROFILE must name a profile too, even though the environment's keys win.
    run("AWS_PROFILE", &["whoami"], &[("AWS_PROFILE", "other_org")]);
    // From the config file, and with files that do not exist.
    std::fs::write(home.path().join("cs-cmdb.toml"), "profile = \"prod\"\n").unwrap();
    let missing = home.path().join("no-such-config");
    run(
        "`profile` in cs-cmdb.toml, no AWS files",
        &["whoami"],
        &[
            ("AWS_CONFIG_FILE", missing.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", missing.to_str().unwrap()),
        ],
    );
    insta::assert_snapshot!("unknown_profiles", runs.text());
}
