//! `cs-cmdb mirror`, `query --source s3://...` and `cs-cmdb backups` against a bucket on the
//! emulator, filled with the SDK from trees written by the sample generator or by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, stream};

use crate::support::{
    ACCESS_KEY, Moto, REGION, SECRET_KEY, block_on, cs_cmdb, stderr_of, stdout_of,
};

const BUCKET: &str = "cs-cmdb-shared";
const PREFIX: &str = "clonesquad";

fn s3_path() -> String {
    format!("s3://{BUCKET}/{PREFIX}")
}

/// Every file under `dir`, by path relative to it with `/` separators.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &child, out);
            } else {
                out.insert(child, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// The mirrored part of a tree: metadata/ and backups/ (without archives), no dot files.
fn mirrored_view(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(rel, _)| {
            (rel.starts_with("metadata/") || rel.starts_with("backups/"))
                && !rel.contains("/archive/")
        })
        .collect()
}

fn generate(dir: &Path, deployments: usize) -> BTreeMap<String, Vec<u8>> {
    let spec = cs_cmdb::sample::SampleSpec {
        deployments,
        instances: 2,
        seed: 7,
        now: chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .naive_utc(),
    };
    cs_cmdb::sample::generate(dir, &spec).unwrap();
    files(dir)
}

/// An emulator whose bucket holds a generated tree of `deployments`: (emulator, client, the
/// generated source folder, key -> bytes).
fn seeded_bucket(
    deployments: usize,
) -> (Moto, Client, tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3);
    let src = tempfile::tempdir().unwrap();
    let tree = generate(src.path(), deployments);
    upload(&s3, &tree);
    (moto, s3, src, tree)
}

fn create_bucket(client: &Client) {
    block_on(client.create_bucket().bucket(BUCKET).send()).expect("create bucket");
}

/// Put every (relative path → body) under `s3://BUCKET/PREFIX/`.
fn upload(client: &Client, tree: &BTreeMap<String, Vec<u8>>) {
    block_on(async {
        let results: Vec<_> = stream::iter(tree)
            .map(|(rel, body)| {
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key(format!("{PREFIX}/{rel}"))
                    .body(ByteStream::from(body.clone()))
                    .send()
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in results {
            r.expect("put object");
        }
    });
}

fn put(client: &Client, key: &str, body: &[u8]) {
    block_on(
        client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send(),
    )
    .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

fn delete(client: &Client, key: &str) {
    block_on(client.delete_object().bucket(BUCKET).key(key).send())
        .unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
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
fn mirror_ok(moto: &Moto, home: &Path) -> (PathBuf, String) {
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

#[test]
fn cold_mirror_noop_change_and_delete() {
    let (moto, s3, src, tree) = seeded_bucket(12);
    let expected = mirrored_view(src.path());
    assert!(
        tree.keys()
            .any(|k| k.contains("/archive/") && k.contains(' ') && k.contains('+'))
    );

    let home = tempfile::tempdir().unwrap();
    let (dir, err) = mirror_ok(&moto, home.path());
    assert_eq!(mirrored_view(&dir), expected, "cold mirror differs");
    assert_eq!(count(&err, "listed"), tree.len(), "{err}");
    assert_eq!(count(&err, "fetched"), expected.len(), "{err}");
    assert_eq!(count(&err, "deleted"), 0, "{err}");
    assert!(dir.join(".cs-cmdb-mirror").is_file());
    assert!(!dir.join(".staging").exists());

    // Each file's modification time is the object's LastModified.
    let rel = expected.keys().next().unwrap();
    let head = block_on(
        s3.head_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/{rel}"))
            .send(),
    )
    .unwrap();
    let lm = head.last_modified().unwrap();
    assert_eq!(mtime_ms(&dir.join(rel)) / 1000, lm.secs(), "mtime of {rel}");

    // A second run fetches nothing and touches nothing.
    let before: Vec<i64> = expected.keys().map(|r| mtime_ms(&dir.join(r))).collect();
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 0, "{err}");
    assert_eq!(count(&err, "unchanged"), expected.len(), "{err}");
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
    put(
        &s3,
        &format!("{PREFIX}/{changed}"),
        b"{\"AccountId\": \"changed\"}\n",
    );
    delete(&s3, &format!("{PREFIX}/{deleted}"));
    let added = "metadata/discovery/accountid=999999999999/region=eu-west-1/groupname=new/999999999999-eu-west-1-discovery-cs-new.json";
    put(&s3, &format!("{PREFIX}/{added}"), b"{}\n");
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 2, "{err}");
    assert_eq!(count(&err, "deleted"), 1, "{err}");
    let mut expected = expected;
    expected.insert(changed.clone(), b"{\"AccountId\": \"changed\"}\n".to_vec());
    expected.remove(&deleted);
    expected.insert(added.to_string(), b"{}\n".to_vec());
    assert_eq!(mirrored_view(&dir), expected);

    // A file damaged or removed by hand is fetched again.
    std::fs::remove_file(dir.join(&changed)).unwrap();
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 1, "{err}");
    assert_eq!(mirrored_view(&dir), expected);
}

/// The process dies while downloading, then while renaming; every state left behind is made of
/// whole files, and a rerun converges to the bucket.
#[test]
fn interrupted_runs_leave_a_consistent_tree() {
    let (moto, s3, src, _) = seeded_bucket(24);
    let v1 = mirrored_view(src.path());
    let home = tempfile::tempdir().unwrap();

    // Killed while downloading the first generation: nothing is in place yet.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "fetch:40")
        .args(["--concurrency", "4"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let dir = cs_cmdb_mirror_dir(home.path());
    assert!(
        mirrored_view(&dir).is_empty(),
        "files placed before all downloads ended"
    );
    assert!(!dir.join(".cs-cmdb-mirror").exists());
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(mirrored_view(&dir), v1, "{err}");

    // A second generation: 10 changed, 5 deleted.
    let mut v2 = v1.clone();
    let keys: Vec<String> = v1.keys().cloned().collect();
    for k in keys.iter().take(10) {
        let body = format!("{{\"generation\": 2, \"key\": \"{k}\"}}\n").into_bytes();
        put(&s3, &format!("{PREFIX}/{k}"), &body);
        v2.insert(k.clone(), body);
    }
    for k in keys.iter().rev().take(5) {
        block_on(
            s3.delete_object()
                .bucket(BUCKET)
                .key(format!("{PREFIX}/{k}"))
                .send(),
        )
        .unwrap();
        v2.remove(k);
    }

    // Killed while downloading: the previous tree, exactly.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "fetch:5")
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        mirrored_view(&dir),
        v1,
        "the previous tree was not left intact"
    );

    // Killed while renaming: each file is whole, of one generation or the other.
    let out = mirror_cmd(&moto, home.path())
        .env("CS_CMDB_TEST_MIRROR_ABORT", "rename:3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let mixed = mirrored_view(&dir);
    for (rel, body) in &mixed {
        assert!(
            v1.get(rel) == Some(body) || v2.get(rel) == Some(body),
            "{rel} is of neither generation"
        );
    }
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(mirrored_view(&dir), v2, "{err}");
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(count(&err, "fetched"), 0, "{err}");
}

fn cs_cmdb_mirror_dir(home: &Path) -> PathBuf {
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
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3);
    let src = tempfile::tempdir().unwrap();
    generate(src.path(), 60);
    let tree = files(src.path());
    upload(&s3, &tree);
    let expected = mirrored_view(src.path());
    let home = tempfile::tempdir().unwrap();

    let bin = assert_cmd::cargo::cargo_bin!("cs-cmdb");
    let mut child = std::process::Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("xdg-cache"))
        .env("AWS_CONFIG_FILE", home.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", REGION)
        .current_dir(home.path())
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
    let dir = cs_cmdb_mirror_dir(home.path());
    for (rel, body) in mirrored_view(&dir) {
        assert_eq!(
            expected.get(&rel),
            Some(&body),
            "{rel} is partial or foreign"
        );
    }
    let (_, err) = mirror_ok(&moto, home.path());
    assert_eq!(mirrored_view(&dir), expected, "{err}");
}

#[test]
fn hostile_keys_are_refused_and_never_written_outside() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3);
    let good = "metadata/discovery/accountid=111111111111/region=eu-west-1/groupname=g1/111111111111-eu-west-1-discovery-cs-g1.json";
    put(&s3, &format!("{PREFIX}/{good}"), b"{}\n");
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
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(ByteStream::from_static(b"pwned"))
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
    let (dir, err) = mirror_ok(&moto, home.path());
    let view = mirrored_view(&dir);
    assert_eq!(view.keys().collect::<Vec<_>>(), vec![good], "{err}");
    for key in &stored {
        let shown = key.escape_debug().to_string();
        assert!(err.contains(&shown), "no warning naming {shown}: {err}");
    }
    assert!(!err.contains('\u{1b}'), "a raw escape reached the terminal");
    assert_eq!(count(&err, "skipped"), stored.len(), "{err}");
    // Nothing anywhere else below home (or its parent) but the cache (and the empty AWS config
    // files the test harness puts there).
    for rel in files(home.path()).keys() {
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
    let out = mirror_cmd(&moto, home.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(BUCKET) && err.contains("NoSuchBucket"),
        "{err}"
    );
    assert!(err.contains("--metadata-path"), "{err}");

    let out = cs_cmdb(home.path()).arg("mirror").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--metadata-path"),
        "{}",
        stderr_of(&out)
    );

    // --offline without a mirror says how to make one.
    let out = cs_cmdb(home.path())
        .args(["query", "deployments", "--offline", "--source", &s3_path()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("no mirror of") && err.contains("cs-cmdb mirror"),
        "{err}"
    );
}

#[test]
fn an_empty_prefix_is_an_error_naming_bucket_and_prefix() {
    let (moto, _, _, _) = seeded_bucket(2);
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
    let (moto, s3, _, tree) = seeded_bucket(12);
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
    put(
        &s3,
        &format!("{PREFIX}/{discovery}"),
        record.to_string().as_bytes(),
    );
    put(
        &s3,
        &format!("{PREFIX}/{instances}"),
        b"{\"InstanceId\": \"i-1\", \"State\": {\"Name\": \"running\"}}",
    );
    delete(&s3, &format!("{PREFIX}/{gone}"));
    let added = "discovery/accountid=999999999999/region=eu-west-1/groupname=new/999999999999-eu-west-1-discovery-cs-new.json";
    put(
        &s3,
        &format!("{PREFIX}/metadata/{added}"),
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

#[test]
fn query_from_s3_mirrors_then_offline_reuses() {
    let (moto, _, src, _) = seeded_bucket(12);
    let home = tempfile::tempdir().unwrap();
    let now = "2026-11-26T10:00:00Z";

    let local = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", now)
        .args(["query", "deployments", "--format", "csv", "--source"])
        .arg(src.path())
        .output()
        .unwrap();
    assert!(local.status.success(), "{}", stderr_of(&local));

    let remote = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", now)
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "query",
            "deployments",
            "--format",
            "csv",
        ])
        .args(["--source", &s3_path()])
        .output()
        .unwrap();
    let err = stderr_of(&remote);
    assert!(remote.status.success(), "{err}");
    assert!(err.contains("fetched"), "no mirror summary: {err}");
    assert_eq!(stdout_of(&remote), stdout_of(&local));
    assert_eq!(stdout_of(&remote).lines().count(), 13);

    // Offline: no S3 call at all (the endpoint is unreachable), same answer.
    let offline = cs_cmdb(home.path())
        .env("CS_CMDB_NOW", now)
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "query",
            "deployments",
            "--format",
            "csv",
        ])
        .args(["--offline", "--source", &s3_path()])
        .output()
        .unwrap();
    assert!(offline.status.success(), "{}", stderr_of(&offline));
    assert_eq!(stdout_of(&offline), stdout_of(&local));
}

/// A by-hand bucket: A fresh and complete with archives; B stale (uploaded earlier, `now` set
/// so that only B is 24 h old); C with a missing scheduler backup and a corrupt configuration;
/// D with a discovery record but no backup at all.
fn backups_fixture(s3: &Client) -> chrono::DateTime<chrono::Utc> {
    let part =
        |a: &str, g: &str| format!("{PREFIX}/backups/accountid={a}/region=eu-west-1/groupname={g}");
    let latest = |a: &str, g: &str, kind: &str| {
        format!("{}/latest-{a}-eu-west-1-{kind}-cs-{g}.yaml", part(a, g))
    };
    let yaml = b"ec2.schedule.min_instance_count: 2\napp.run_period: 2 minutes\n";
    put(
        s3,
        &latest("222222222222", "stale-one", "configuration"),
        yaml,
    );
    put(
        s3,
        &latest("222222222222", "stale-one", "scheduler"),
        b"{}\n",
    );
    std::thread::sleep(Duration::from_millis(2100));
    put(
        s3,
        &latest("111111111111", "web-front", "configuration"),
        yaml,
    );
    put(
        s3,
        &latest("111111111111", "web-front", "scheduler"),
        b"scale-up: cron(0 8 * * ? *)\n",
    );
    for stamp in [
        "2026-11-26 08:00:01.123456+00:00",
        "2026-11-26 09:00:01+00:00",
    ] {
        for kind in ["configuration", "scheduler"] {
            put(
                s3,
                &format!(
                    "{}/archive/{stamp}-111111111111-eu-west-1-{kind}-cs-web-front.yaml",
                    part("111111111111", "web-front")
                ),
                b"x: 1\n",
            );
        }
    }
    put(
        s3,
        &latest("333333333333", "broken", "configuration"),
        b"key: [unclosed\n  - {\n",
    );
    put(
        s3,
        &format!(
            "{PREFIX}/metadata/discovery/accountid=444444444444/region=eu-west-1/groupname=no-backup/444444444444-eu-west-1-discovery-cs-no-backup.json"
        ),
        b"{}\n",
    );
    let head = block_on(
        s3.head_object()
            .bucket(BUCKET)
            .key(latest("111111111111", "web-front", "configuration"))
            .send(),
    )
    .unwrap();
    let lm = head.last_modified().unwrap();
    let a_at = chrono::DateTime::from_timestamp(lm.secs(), 0).unwrap();
    // A is 23:59:59 old, B (written 2 s earlier) over 24 h.
    a_at + chrono::Duration::hours(24) - chrono::Duration::seconds(1)
}

fn backups_json(
    moto: &Moto,
    home: &Path,
    now: &str,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let out = cs_cmdb(home)
        .env("CS_CMDB_NOW", now)
        .args([
            "--endpoint-url",
            &moto.endpoint,
            "--metadata-path",
            &s3_path(),
        ])
        .args(["backups", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    let json = serde_json::from_str(&stdout_of(&out)).unwrap_or_else(|e| panic!("{e}: {err}"));
    (out.status.code(), json, err)
}

#[test]
fn backups_inventory_lifecycle_and_restore_check() {
    let moto = Moto::start();
    let s3 = moto.s3();
    create_bucket(&s3);
    let now = backups_fixture(&s3).to_rfc3339();
    let home = tempfile::tempdir().unwrap();

    let (code, rows, err) = backups_json(&moto, home.path(), &now, &[]);
    assert_eq!(code, Some(0), "{err}");
    let by_group: BTreeMap<String, serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["group_name"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    assert_eq!(
        by_group.keys().collect::<Vec<_>>(),
        vec!["broken", "no-backup", "stale-one", "web-front"]
    );
    let a = &by_group["web-front"];
    assert_eq!(a["account_id"], "111111111111");
    assert_eq!(a["region"], "eu-west-1");
    assert_eq!(a["age_hours"], 23);
    assert_eq!(a["stale"], false);
    assert_eq!(a["archive_objects"], 4);
    assert_eq!(a["archive_bytes"], 20);
    assert_eq!(a["missing_configuration"], false);
    assert_eq!(a["missing_scheduler"], false);
    assert!(a["latest_configuration_at"].is_string());
    let b = &by_group["stale-one"];
    assert_eq!(b["age_hours"], 24);
    assert_eq!(b["stale"], true);
    assert_eq!(b["archive_objects"], 0);
    let c = &by_group["broken"];
    assert_eq!(c["missing_configuration"], false);
    assert_eq!(c["missing_scheduler"], true);
    assert!(c["latest_scheduler_at"].is_null());
    let d = &by_group["no-backup"];
    assert_eq!(d["missing_configuration"], true);
    assert_eq!(d["missing_scheduler"], true);
    assert!(d["age_hours"].is_null());
    assert_eq!(d["stale"], true);
    assert!(err.contains("NO rule") && err.contains(BUCKET), "{err}");

    // A disabled rule, or one on another prefix, does not count.
    put_lifecycle(
        &s3,
        &[
            ("off", "clonesquad/backups/", false),
            ("elsewhere", "logs/", true),
        ],
    );
    let (_, _, err) = backups_json(&moto, home.path(), &now, &[]);
    assert!(err.contains("NO rule"), "{err}");
    // A rule on a narrower prefix that covers every archive key counts.
    put_lifecycle(
        &s3,
        &[(
            "one-deployment",
            "clonesquad/backups/accountid=111111111111/",
            true,
        )],
    );
    let (_, _, err) = backups_json(&moto, home.path(), &now, &[]);
    assert!(err.contains("rule `one-deployment`"), "{err}");
    // The recommended rule.
    put_lifecycle(&s3, &[("expire-archives", "clonesquad/backups/", true)]);
    let (_, _, err) = backups_json(&moto, home.path(), &now, &[]);
    assert!(err.contains("rule `expire-archives`"), "{err}");
    let config = moto.sdk_config();
    let path: cs_cmdb::settings::S3Path = s3_path().parse().unwrap();
    let id = block_on(cs_cmdb::backups::archive_lifecycle(&config, &path)).unwrap();
    assert_eq!(id.as_deref(), Some("expire-archives"));

    // --restore-check: the corrupt YAML and the missing files fail, exit 1.
    let (code, rows, err) = backups_json(&moto, home.path(), &now, &["--restore-check"]);
    assert_eq!(code, Some(1), "{err}");
    let checks: BTreeMap<String, String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["group_name"].as_str().unwrap().to_string(),
                r["restore_check"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(checks["web-front"], "ok");
    assert_eq!(checks["stale-one"], "ok");
    assert!(
        checks["broken"].contains("configuration: invalid YAML"),
        "{checks:?}"
    );
    assert!(
        checks["broken"].contains("scheduler: missing"),
        "{checks:?}"
    );
    assert!(
        checks["no-backup"].contains("configuration: missing"),
        "{checks:?}"
    );
    assert!(err.contains("cannot be restored"), "{err}");

    // The inventory as a library call.
    let inv = block_on(cs_cmdb::backups::inventory(&config, &path)).unwrap();
    assert_eq!(inv.deployments.len(), 4);
    assert_eq!(inv.archive_keys.len(), 4);

    // The mirror takes the latest backups but no archive.
    let (dir, _) = mirror_ok(&moto, home.path());
    let view = mirrored_view(&dir);
    assert!(
        view.keys()
            .any(|k| k.ends_with("latest-111111111111-eu-west-1-configuration-cs-web-front.yaml"))
    );
    assert!(files(&dir).keys().all(|k| !k.contains("archive")));
}

fn put_lifecycle(s3: &Client, rules: &[(&str, &str, bool)]) {
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
        s3.put_bucket_lifecycle_configuration()
            .bucket(BUCKET)
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
