//! `cs-cmdb mirror` against a bucket on the emulator, filled from trees written by the sample
//! generator: cold, no-op and incremental runs, interrupted runs, hostile keys, errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::support::snapshot::Filters;
use crate::support::tree::{self, Part};
use crate::support::{Moto, block_on, cs_cmdb, cs_cmdb_spawnable, stderr_of, stdout_of};

pub const BUCKET: &str = "cs-cmdb-shared";
pub const PREFIX: &str = "clonesquad";

pub fn s3_path() -> String {
    format!("s3://{BUCKET}/{PREFIX}")
}

/// An emulator whose bucket holds a generated tree of `deployments`: (emulator, the generated
/// source folder, its files).
pub fn seeded_bucket(deployments: usize) -> (Moto, tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let src = tempfile::tempdir().unwrap();
    tree::generate(src.path(), deployments, 2, 7);
    let files = tree::files(src.path());
    tree::upload(&moto.s3(), BUCKET, PREFIX, &files);
    (moto, src, files)
}

fn put(moto: &Moto, rel: &str, body: &[u8]) {
    moto.put(BUCKET, &format!("{PREFIX}/{rel}"), body);
}

fn mirror_cmd(moto: &Moto, home: &Path) -> assert_cmd::Command {
    let mut cmd = cs_cmdb(home);
    cmd.args([
        "--endpoint-url",
        &moto.endpoint,
        "--metadata-path",
        &s3_path(),
        "mirror",
        "--cache-dir",
    ])
    .arg(home.join("cache"));
    cmd
}

/// Run `mirror`, expect success, return (mirror dir, stderr).
pub fn mirror_ok(moto: &Moto, home: &Path) -> (PathBuf, String) {
    let out = mirror_cmd(moto, home).output().unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "mirror failed: {err}");
    let dir = PathBuf::from(stdout_of(&out).trim());
    assert!(
        dir.starts_with(home.join("cache").join("mirror").join(BUCKET)),
        "{dir:?}"
    );
    (dir, err)
}

/// The number before ` <what>` in the mirror's summary line.
fn count(stderr: &str, what: &str) -> usize {
    let at = stderr
        .find(&format!(" {what}"))
        .unwrap_or_else(|| panic!("no `{what}` in {stderr}"));
    stderr[..at]
        .rsplit([' ', ':', ','])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no count before `{what}` in {stderr}"))
}

fn mtime_ms(path: &Path) -> i64 {
    let t = std::fs::metadata(path).unwrap().modified().unwrap();
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn view(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree::mirrored(tree::files(dir))
}

#[test]
fn cold_mirror_noop_change_and_delete() {
    let (moto, _src, files) = seeded_bucket(12);
    let expected = tree::mirrored(files.clone());
    assert!(
        files
            .keys()
            .any(|k| k.contains("/archive/") && k.contains(' ') && k.contains('+'))
    );

    let home = tempfile::tempdir().unwrap();
    let (dir, err) = mirror_ok(&moto, home.path());
    assert_eq!(view(&dir), expected, "cold mirror differs");
    assert_eq!(count(&err, "listed"), files.len(), "{err}");
    assert_eq!(count(&err, "fetched"), expected.len(), "{err}");
    assert_eq!(count(&err, "deleted"), 0, "{err}");
    assert!(dir.join(".cs-cmdb-mirror").is_file());
    assert!(!dir.join(".staging").exists());

    // Each file's modification time is the object's LastModified.
    let rel = expected.keys().next().unwrap();
    let head = block_on(
        moto.s3()
            .head_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/{rel}"))
            .send(),
    )
    .unwrap();
    let lm = head.last_modified().unwrap();
    assert_eq!(mtime_ms(&dir.join(rel)) / 1000, lm.secs(), "mtime of {rel}");

    // A second run fetches nothing and touches nothing.
    let before: Vec<i64> = expected.keys().map(|r| mtime_ms(&dir.join(r))).collect();
    let out = cs_snapshot!(
        "a_second_mirror_fetches_nothing",
        Filters::new().path(home.path(), "[HOME]"),
        mirror_cmd(&moto, home.path())
    );
    assert!(out.status.success());
    let after: Vec<i64> = expected.keys().map(|r| mtime_ms(&dir.join(r))).collect();
    assert_eq!(before, after);

    // One object changes, one is deleted, one is added.
    let changed = expected
        .keys()
        .find(|k| k.starts_with("metadata/discovery/"))
        .unwrap()
        .clone();
    let deleted = expected
        .keys()
        .find(|k| k.starts_with("metadata/volumes/"))
        .unwrap()
        .clone();
    put(&moto, &changed, b"{\"AccountId\": \"changed\"}");
    moto.delete(BUCKET, &format!("{PREFIX}/{deleted}"));
    let added = Part::new("999999999999", "eu-west-1", "new").discovery();
    put(&moto, &added, b"{}");
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 2, "{err}");
    assert_eq!(count(&err, "deleted"), 1, "{err}");
    let mut expected = expected;
    expected.insert(changed.clone(), b"{\"AccountId\": \"changed\"}".to_vec());
    expected.remove(&deleted);
    expected.insert(added, b"{}".to_vec());
    assert_eq!(view(&dir), expected);

    // A file damaged or removed by hand is fetched again.
    std::fs::remove_file(dir.join(&changed)).unwrap();
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 1, "{err}");
    assert_eq!(view(&dir), expected);

    // Asked for data (-f json), the run is one row: the directory and the counts.
    let out = mirror_cmd(&moto, home.path())
        .args(["-f", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(rows[0]["dir"], dir.display().to_string());
    assert_eq!(rows[0]["fetched"], 0);
    assert_eq!(rows[0]["unchanged"], expected.len());
}

/// The process dies while downloading, then while renaming; every state left behind is made of
/// whole files, and a rerun converges to the bucket.
#[test]
fn interrupted_runs_leave_a_consistent_tree() {
    let (moto, _src, files) = seeded_bucket(24);
    let v1 = tree::mirrored(files);
    let home = tempfile::tempdir().unwrap();

    // Killed while downloading the first generation: nothing is in place yet.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "fetch:40")
        .args(["--concurrency", "4"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let dir = mirror_dir(home.path());
    assert!(
        view(&dir).is_empty(),
        "files placed before all downloads ended"
    );
    assert!(!dir.join(".cs-cmdb-mirror").exists());
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(view(&dir), v1, "{err}");

    // A second generation: 10 changed, 5 deleted.
    let mut v2 = v1.clone();
    let keys: Vec<String> = v1.keys().cloned().collect();
    for k in keys.iter().take(10) {
        let body = format!("{{\"generation\": 2, \"key\": \"{k}\"}}").into_bytes();
        put(&moto, k, &body);
        v2.insert(k.clone(), body);
    }
    for k in keys.iter().rev().take(5) {
        moto.delete(BUCKET, &format!("{PREFIX}/{k}"));
        v2.remove(k);
    }

    // Killed while downloading: the previous tree, exactly.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "fetch:5")
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(view(&dir), v1, "the previous tree was not left intact");

    // Killed while renaming: each file is whole, of one generation or the other.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "rename:3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let mixed = view(&dir);
    for (rel, body) in &mixed {
        assert!(
            v1.get(rel) == Some(body) || v2.get(rel) == Some(body),
            "{rel} is of neither generation"
        );
    }
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(view(&dir), v2, "{err}");
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 0, "{err}");
}

/// The one mirror directory under `home/cache`.
fn mirror_dir(home: &Path) -> PathBuf {
    let root = home.join("cache").join("mirror").join(BUCKET);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// A real SIGKILL in the middle of a slow cold mirror, then a rerun.
#[test]
fn killed_mirror_then_rerun() {
    let (moto, _src, files) = seeded_bucket(60);
    let expected = tree::mirrored(files);
    let home = tempfile::tempdir().unwrap();

    let mut child = cs_cmdb_spawnable(home.path())
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            &s3_path(),
        ])
        .args(["mirror", "--concurrency", "1", "--cache-dir"])
        .arg(home.path().join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some downloads are staged, then kill.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let staged = std::fs::read_dir(home.path().join("cache/mirror").join(BUCKET))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_dir(e.ok()?.path().join(".staging")).ok())
            .map_or(0, |d| d.count());
        if staged >= 20 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the mirror ended ({status}) before it could be killed");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no download staged in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = mirror_dir(home.path());
    for (rel, body) in view(&dir) {
        assert_eq!(
            expected.get(&rel),
            Some(&body),
            "{rel} is partial or foreign"
        );
    }
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(view(&dir), expected, "{err}");
}

#[test]
fn hostile_keys_are_refused_and_never_written_outside() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let good = Part::new("111111111111", "eu-west-1", "g1").discovery();
    put(&moto, &good, b"{}");
    let hostile = [
        format!("{PREFIX}/metadata/../x"),
        format!("{PREFIX}/metadata/../../../../escaped-dotdot"),
        format!("{PREFIX}/metadata/a/../../b"),
        format!("{PREFIX}/metadata//tmp/escaped-abs"),
        format!("{PREFIX}/metadata/ctl\u{1}char"),
        format!("{PREFIX}/metadata/nul\u{0}char"),
        format!("{PREFIX}/metadata/esc\u{1b}[31mred"),
        format!("{PREFIX}/metadata/back\\..\\..\\slash"),
        format!("{PREFIX}/backups/../../escaped-latest-x.yaml"),
    ];
    let mut stored = Vec::new();
    for key in &hostile {
        // The emulator may refuse some keys itself; those cannot reach the mirror anyway.
        let r = block_on(
            moto.s3()
                .put_object()
                .bucket(BUCKET)
                .key(key)
                .body(b"pwned".to_vec().into())
                .send(),
        );
        if r.is_ok() {
            stored.push(key.clone());
        }
    }
    assert!(
        stored.len() >= 6,
        "the emulator kept too few hostile keys: {stored:?}"
    );

    let home = tempfile::tempdir().unwrap();
    let out = mirror_cmd(&moto, home.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    // The listing is concurrent: the warnings come in any order.
    let mut lines: Vec<&str> = err.lines().collect();
    lines.sort();
    insta::assert_snapshot!(
        "hostile_keys_warnings_sorted",
        Filters::new()
            .path(home.path(), "[HOME]")
            .apply(&lines.join("\n"))
    );
    let dir = PathBuf::from(stdout_of(&out).trim());
    assert_eq!(view(&dir).keys().collect::<Vec<_>>(), vec![&good], "{err}");
    for key in &stored {
        let shown = key.escape_debug().to_string();
        assert!(err.contains(&shown), "no warning naming {shown}: {err}");
    }
    assert!(!err.contains('\u{1b}'), "a raw escape reached the terminal");
    assert_eq!(count(&err, "skipped"), stored.len(), "{err}");
    // Nothing anywhere else below home (or its parent) but the cache (and the empty AWS config
    // files the test harness puts there).
    for rel in tree::files(home.path()).keys() {
        assert!(
            rel.starts_with("cache/mirror/") || rel == "aws-config" || rel == "aws-credentials",
            "written outside the mirror: {rel}"
        );
        assert!(
            !rel.contains("escaped") && !rel.ends_with("/x") && !rel.ends_with("/b"),
            "{rel}"
        );
    }
    assert!(!Path::new("/tmp/escaped-abs").exists());
}

#[test]
fn errors_name_the_bucket_and_what_to_do() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    cs_snapshot!(
        "no_such_bucket",
        Filters::new(),
        mirror_cmd(&moto, home.path())
    );
    cs_snapshot!(
        "no_metadata_path",
        Filters::new(),
        cs_cmdb(home.path()).arg("mirror")
    );
}

#[test]
fn an_empty_prefix_is_an_error_naming_bucket_and_prefix() {
    let (moto, _src, _) = seeded_bucket(2);
    let home = tempfile::tempdir().unwrap();
    let wrong = format!("s3://{BUCKET}/not-{PREFIX}");
    let out = cs_cmdb(home.path())
        .args(["--endpoint-url", &moto.endpoint, "--metadata-path", &wrong])
        .args(["mirror", "--cache-dir"])
        .arg(home.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("s3://{BUCKET}/not-{PREFIX}/ holds no object")),
        "{err}"
    );
    assert!(err.contains("--metadata-path"), "{err}");
    assert!(stdout_of(&out).is_empty());

    // A query of it must not answer "no deployments".
    let out = cs_cmdb(home.path())
        .args(["--endpoint-url", &moto.endpoint, "query", "deployments"])
        .args(["--source", &wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("holds no object"), "{err}");
    assert!(stdout_of(&out).is_empty());
}

/// Which files of which table a query parsed (from the loader's debug events), sorted.
fn parsed_files(stderr: &str) -> Vec<String> {
    let mut files: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("parsing"))
        .map(|l| {
            let field = |name: &str| {
                l.split(&format!("{name}="))
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string()
            };
            format!("{}:{}", field("table"), field("file"))
        })
        .collect();
    files.sort();
    files
}

/// A mirror source: the cache learns what changed from the mirror's generations, lists nothing,
/// stats nothing, and parses again exactly the files the mirror wrote since.
#[test]
fn a_mirror_source_rereads_exactly_the_changed_files() {
    let (moto, _src, tree) = seeded_bucket(12);
    let home = tempfile::tempdir().unwrap();
    let query = |home: &Path| {
        let out = cs_cmdb(home)
            .env("CS_CMDB_NOW", "2026-11-26T10:00:00Z")
            .env("CS_CMDB_LOG", "cs_cmdb=debug")
            .args([
                "--endpoint-url",
                "http://127.0.0.1:9",
                "query",
                "deployments",
            ])
            .args(["--format", "json", "--offline", "--source", &s3_path()])
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
        (rows, err)
    };
    let (dir, _) = mirror_ok(&moto, home.path());
    let (rows, err) = query(home.path());
    assert_eq!(rows.len(), 12);
    let in_table = |table: &str| {
        let folder = format!("metadata/{table}/");
        tree.keys().filter(|k| k.starts_with(&folder)).count()
    };
    assert_eq!(
        parsed_files(&err).len(),
        in_table("discovery") + in_table("instances"),
        "cold: every file"
    );

    // Warm: the generation is unchanged; nothing listed, nothing parsed.
    let (_, err) = query(home.path());
    assert_eq!(parsed_files(&err), Vec::<String>::new(), "{err}");
    assert!(
        err.contains("cache is current (mirror generation)"),
        "{err}"
    );
    assert!(!err.contains("listed=true"), "{err}");

    // In the bucket: one discovery record and one instances file change, one deployment's
    // instances file goes, one deployment is added. Then the mirror runs.
    let pick = |folder: &str, n: usize| {
        tree.keys()
            .filter(|k| k.starts_with(folder))
            .nth(n)
            .unwrap()
            .clone()
    };
    let discovery = pick("metadata/discovery/", 0);
    let instances = pick("metadata/instances/", 1);
    let gone = pick("metadata/instances/", 2);
    let mut record: serde_json::Value = serde_json::from_slice(&tree[&discovery]).unwrap();
    record["CloneSquadVersion"] = "v0.99.0".into();
    put(&moto, &discovery, record.to_string().as_bytes());
    put(
        &moto,
        &instances,
        b"{\"InstanceId\": \"i-1\", \"State\": {\"Name\": \"running\"}}\nnot json",
    );
    moto.delete(BUCKET, &format!("{PREFIX}/{gone}"));
    let added = "discovery/accountid=999999999999/region=eu-west-1/groupname=new/999999999999-eu-west-1-discovery-cs-new.json";
    put(
        &moto,
        &format!("metadata/{added}"),
        b"{\"CloneSquadVersion\": \"v0.27.1\"}",
    );
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 3, "{err}");

    // Exactly those files are parsed again, and the answer follows.
    let (rows, err) = query(home.path());
    let table_file = |rel: &str| {
        let (table, file) = rel
            .strip_prefix("metadata/")
            .unwrap()
            .split_once('/')
            .unwrap();
        format!("clonesquad_{table}:{file}")
    };
    let mut expected = vec![
        table_file(&discovery),
        table_file(&instances),
        table_file(&format!("metadata/{added}")),
    ];
    expected.sort();
    assert_eq!(parsed_files(&err), expected, "{err}");
    assert!(!err.contains("listed=true"), "{err}");
    assert_eq!(rows.len(), 13);
    assert!(rows.iter().any(|r| r["version"] == "v0.99.0"), "{rows:?}");
    let group_of = |rel: &str| {
        rel.split("groupname=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let account_of = |rel: &str| {
        rel.split("accountid=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let row = |rel: &str| {
        rows.iter()
            .find(|r| {
                r["account_id"] == account_of(rel)
                    && r["group_name"] == group_of(rel)
                    && rel.contains(&format!("region={}/", r["region"].as_str().unwrap()))
            })
            .unwrap_or_else(|| panic!("no row for {rel}: {rows:?}"))
            .clone()
    };
    assert_eq!(row(&instances)["instances"], 1);
    assert_eq!(row(&gone)["instances"], 0);
    let malformed = "clonesquad_instances: 1 file(s) with 1 malformed line(s)";
    assert!(err.contains(malformed), "{err}");

    // Warm again: the cache's manifest is read without its file list, and the file with a
    // malformed line is still reported.
    let (warm_rows, err) = query(home.path());
    assert!(
        err.contains("cache is current (mirror generation)"),
        "{err}"
    );
    assert_eq!(parsed_files(&err), Vec::<String>::new(), "{err}");
    assert!(err.contains(malformed), "{err}");
    assert_eq!(warm_rows, rows);

    // A plain-directory read of the same mirror gives the same answer.
    let plain = tempfile::tempdir().unwrap();
    let out = cs_cmdb(plain.path())
        .env("CS_CMDB_NOW", "2026-11-26T10:00:00Z")
        .args(["query", "deployments", "--format", "json", "--source"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let plain_rows: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(plain_rows, rows);
}
