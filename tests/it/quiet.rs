//! `-q`: a run that did not fail leaves stderr empty, whatever the command: no summary, warning,
//! notice or progress. Each command is first run without `-q`, to show it has something to say.

use std::path::Path;
use std::process::Output;

use aws_sdk_s3::primitives::ByteStream;

use crate::support::{Moto, block_on, cs_cmdb, stderr_of};

const NOW: &str = "2026-11-26T10:00:00Z";
const BUCKET: &str = "cs-quiet";
const PATH: &str = "s3://cs-quiet/clonesquad";

/// Every file below `dir`, as (path relative to `dir`, bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn quiet_silences_every_summary_warning_and_notice() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A named profile that the environment's keys override: a warning on every AWS command.
    std::fs::write(
        h.join("aws-config"),
        "[profile ignored]\naws_access_key_id = x\naws_secret_access_key = y\n",
    )
    .unwrap();
    let run = |quiet: bool, args: &[&str]| -> Output {
        let mut cmd = cs_cmdb(h);
        cmd.env("CS_CMDB_NOW", NOW)
            .env("AWS_PROFILE", "ignored")
            .args(["--endpoint-url", moto.endpoint.as_str()]);
        if quiet {
            cmd.arg("-q");
        }
        cmd.args(args).output().unwrap()
    };
    // `codes`: the exit codes of a run that did its job (1: findings, not a failure of the tool).
    let check = |what: &str, args: &[&str], codes: &[i32]| {
        let loud = run(false, args);
        let code = loud.status.code().unwrap_or(-1);
        assert!(
            codes.contains(&code),
            "{what}: exit {code}: {}",
            stderr_of(&loud)
        );
        assert!(
            !stderr_of(&loud).is_empty(),
            "{what} says nothing without -q: nothing to silence"
        );
        let quiet = run(true, args);
        assert_eq!(quiet.status.code(), Some(code), "{what} -q");
        assert_eq!(stderr_of(&quiet), "", "{what} -q: stderr must be empty");
    };

    check(
        "sample",
        &["sample", "--out", "tree", "--deployments", "4", "--force"],
        &[0],
    );
    // One line Athena would refuse: the embedded engine warns about it on every query.
    let tree = h.join("tree");
    let (instances, _) = files(&tree.join("metadata/instances"))
        .into_iter()
        .next()
        .unwrap();
    let instances = tree.join("metadata/instances").join(instances);
    let mut text = std::fs::read_to_string(&instances).unwrap();
    text.push_str("\nnot json");
    std::fs::write(&instances, text).unwrap();

    check("query", &["query", "deployments", "--source", "tree"], &[0]);
    check(
        "check",
        &[
            "check",
            "--policy",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml"),
            "--source",
            "tree",
        ],
        &[0, 1],
    );

    // The same tree in the emulated bucket.
    let s3 = moto.s3();
    block_on(async {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        for (rel, bytes) in files(&tree) {
            s3.put_object()
                .bucket(BUCKET)
                .key(format!("clonesquad/{rel}"))
                .body(ByteStream::from(bytes))
                .send()
                .await
                .unwrap();
        }
    });
    check("mirror", &["--metadata-path", PATH, "mirror"], &[0]);
    check(
        "query on s3://",
        &["query", "versions", "--source", PATH],
        &[0],
    );
    check("backups", &["--metadata-path", PATH, "backups"], &[0]);
    check(
        "install",
        &[
            "--metadata-path",
            PATH,
            "install",
            "--no-partitions",
            "--output-location",
            "s3://cs-quiet/athena/",
        ],
        &[0],
    );
    check(
        "partitions",
        &[
            "--metadata-path",
            PATH,
            "partitions",
            "--repair",
            "--output-location",
            "s3://cs-quiet/athena/",
        ],
        &[0],
    );
    check("whoami", &["whoami"], &[0]);
}
