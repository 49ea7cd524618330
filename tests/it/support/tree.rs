//! Metadata trees in CloneSquad's exact layout (`shared/clonesquad-format.md`): the one place the
//! tests spell the bucket's folders and file names. Two ways to get one:
//! - [`generate`]: realistic trees from the sample generator (`cs_cmdb::sample`), every quirk
//!   CloneSquad has, deterministic for a seed;
//! - [`Tree`]: a small builder for hand-written known-answer fixtures, one [`Deployment`] at a
//!   time, so a test states exactly the records its answers follow from.
//!
//! Both are folders shaped like `<MetadataAndBackupS3Path>` (`metadata/`, `backups/`); [`files`]
//! reads one back and [`upload`] puts one into a bucket under a prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use serde_json::Value;

/// The `now` every generated tree is exported at.
pub const GENERATED_AT: &str = "2026-11-26T09:00:00Z";

/// A deployment's partition: `accountid=<account>/region=<region>/groupname=<group>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Part {
    pub account: String,
    pub region: String,
    pub group: String,
}

impl Part {
    pub fn new(account: &str, region: &str, group: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            group: group.into(),
        }
    }

    pub fn folder(&self) -> String {
        format!(
            "accountid={}/region={}/groupname={}",
            self.account, self.region, self.group
        )
    }

    /// `<account>-<region>`, the stem most file names start with.
    fn stem(&self) -> String {
        format!("{}-{}", self.account, self.region)
    }

    pub fn discovery(&self) -> String {
        format!(
            "metadata/discovery/{}/{}-discovery-cs-{}.json",
            self.folder(),
            self.stem(),
            self.group
        )
    }

    /// Note: no dash after `configuration`, and the group twice.
    pub fn configuration(&self) -> String {
        format!(
            "metadata/configuration/{}/configuration{}-{g}-cs-{g}.json",
            self.folder(),
            self.stem(),
            g = self.group
        )
    }

    pub fn scheduler(&self) -> String {
        format!(
            "metadata/scheduler/{}/scheduler{}-{g}-cs-{g}.json",
            self.folder(),
            self.stem(),
            g = self.group
        )
    }

    pub fn instances(&self) -> String {
        format!(
            "metadata/instances/{}/{}-managed-instances-cs-{}.json",
            self.folder(),
            self.stem(),
            self.group
        )
    }

    pub fn volumes(&self) -> String {
        format!(
            "metadata/volumes/{}/{}-managed-volumes-cs-{}.json",
            self.folder(),
            self.stem(),
            self.group
        )
    }

    pub fn maintenance_windows(&self) -> String {
        format!(
            "metadata/maintenance-windows/{}/{}-maintenance-windows-cs-{}.json",
            self.folder(),
            self.stem(),
            self.group
        )
    }

    /// The latest backup of `kind` (`configuration` or `scheduler`).
    pub fn latest_backup(&self, kind: &str) -> String {
        format!(
            "backups/{}/latest-{}-{kind}-cs-{}.yaml",
            self.folder(),
            self.stem(),
            self.group
        )
    }

    /// An archived backup; `stamp` is Python's `str()` of an aware datetime
    /// (`2026-11-26 09:00:01.123456+00:00`: spaces, colons and a plus sign in the key).
    pub fn archive(&self, stamp: &str, kind: &str) -> String {
        format!(
            "backups/{}/archive/{stamp}-{}-{kind}-cs-{}.yaml",
            self.folder(),
            self.stem(),
            self.group
        )
    }
}

/// A hand-written tree under `root`.
pub struct Tree {
    pub root: PathBuf,
}

impl Tree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Write `body` at `rel` (a path relative to the root), creating folders.
    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        path
    }

    pub fn deployment(&self, account: &str, region: &str, group: &str) -> Deployment<'_> {
        Deployment {
            tree: self,
            part: Part::new(account, region, group),
        }
    }

    /// Every file of the tree.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        files(&self.root)
    }
}

/// One deployment's files, as CloneSquad writes them: JSON records one per line, no final
/// newline; YAML backups with one.
pub struct Deployment<'a> {
    tree: &'a Tree,
    pub part: Part,
}

/// NDJSON as CloneSquad writes it: one record per line, no newline after the last.
pub fn ndjson(records: &[Value]) -> String {
    records
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Deployment<'_> {
    pub fn discovery(&self, record: Value) -> &Self {
        self.discovery_text(&record.to_string())
    }

    /// The discovery file with this exact text (odd key cases, broken JSON).
    pub fn discovery_text(&self, text: &str) -> &Self {
        self.tree.write(&self.part.discovery(), text);
        self
    }

    pub fn configuration(&self, lines: &[Value]) -> &Self {
        self.configuration_text(&ndjson(lines))
    }

    pub fn configuration_text(&self, text: &str) -> &Self {
        self.tree.write(&self.part.configuration(), text);
        self
    }

    /// The instances file (an empty slice writes the zero-byte file of a group without instances).
    pub fn instances(&self, records: &[Value]) -> &Self {
        self.instances_text(&ndjson(records))
    }

    pub fn instances_text(&self, text: &str) -> &Self {
        self.tree.write(&self.part.instances(), text);
        self
    }

    /// The latest backup of `kind`, last modified at `modified` (as `mirror` sets it from S3).
    pub fn latest_backup(&self, kind: &str, body: &str, modified: SystemTime) -> &Self {
        let path = self.tree.write(&self.part.latest_backup(kind), body);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        self
    }

    pub fn archive(&self, stamp: &str, kind: &str, body: &str) -> &Self {
        self.tree.write(&self.part.archive(stamp, kind), body);
        self
    }
}

/// A generated tree under `dir`: `deployments` deployments of about `instances` instances each,
/// exported at [`GENERATED_AT`] (what `CS_CMDB_NOW=<GENERATED_AT> cs-cmdb sample` writes).
pub fn generate(dir: &Path, deployments: usize, instances: usize, seed: u64) {
    let spec = cs_cmdb::sample::SampleSpec {
        deployments,
        instances,
        seed,
        now: chrono::DateTime::parse_from_rfc3339(GENERATED_AT)
            .unwrap()
            .naive_utc(),
    };
    cs_cmdb::sample::generate(dir, &spec).expect("generate a sample tree");
}

/// Every file under `dir`, by path relative to it with `/` separators (none when `dir` is absent).
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
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

/// The part of a tree `mirror` copies: metadata/ and backups/ without archives, no dot files.
pub fn mirrored(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .into_iter()
        .filter(|(rel, _)| {
            (rel.starts_with("metadata/") || rel.starts_with("backups/"))
                && !rel.contains("/archive/")
        })
        .collect()
}

/// Put every (relative path, body) under `s3://<bucket>/<prefix>/`.
pub fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    files: &BTreeMap<String, Vec<u8>>,
) {
    super::block_on(async {
        let results: Vec<_> = futures::stream::iter(files)
            .map(|(rel, body)| {
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("{prefix}/{rel}"))
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
