//! CloneSquad's layout below `MetadataAndBackupS3Path` (written `P`), as CloneSquad v0.27 writes
//! it: the one place that spells a folder or a file name of the shared bucket. The same layout
//! holds in a local copy of `P` (a mirror, `aws s3 sync`, `cs-cmdb sample`).
//!
//! ```text
//! P/metadata/<table folder>/accountid=A/region=R/groupname=G/<table file>
//! P/backups/accountid=A/region=R/groupname=G/latest-A-R-<configuration|scheduler>-cs-G.yaml
//! P/backups/accountid=A/region=R/groupname=G/archive/<timestamp>-A-R-<kind>-cs-G.yaml
//! ```
//!
//! Table files (note the quirks: no dash after `configuration`/`scheduler`, the group twice):
//! `A-R-discovery-cs-G.json`, `configurationA-R-G-cs-G.json`, `schedulerA-R-G-cs-G.json`,
//! `A-R-managed-instances-cs-G.json`, `A-R-managed-volumes-cs-G.json`,
//! `A-R-maintenance-windows-cs-G.json`. Archive timestamps are Python's `str()` of an aware
//! datetime (`2026-11-26 09:00:01.123456+00:00`): keys with spaces, colons and a plus sign.

use std::path::{Path, PathBuf};

use crate::bucket::S3Path;

/// The metadata tables' root below `P`.
pub const METADATA: &str = "metadata";
/// The YAML backups' root below `P`.
pub const BACKUPS: &str = "backups";
/// The folder of a deployment's backups where every export leaves a timestamped copy.
pub const ARCHIVE: &str = "archive";
/// The partition folder keys, outermost first (Hive style: `key=value`).
pub const PARTITION_KEYS: [&str; 3] = ["accountid", "region", "groupname"];

/// The six metadata tables, by their folder below `P/metadata/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Discovery,
    Configuration,
    Scheduler,
    Instances,
    Volumes,
    MaintenanceWindows,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Discovery,
        Table::Configuration,
        Table::Scheduler,
        Table::Instances,
        Table::Volumes,
        Table::MaintenanceWindows,
    ];

    /// The folder below `P/metadata/`.
    pub fn folder(self) -> &'static str {
        match self {
            Table::Discovery => "discovery",
            Table::Configuration => "configuration",
            Table::Scheduler => "scheduler",
            Table::Instances => "instances",
            Table::Volumes => "volumes",
            Table::MaintenanceWindows => "maintenance-windows",
        }
    }

    /// The table's location relative to `P`: `metadata/<folder>`.
    pub fn location(self) -> String {
        format!("{METADATA}/{}", self.folder())
    }

    /// The table whose location relative to `P` is `location` (`metadata/<folder>`).
    pub fn from_location(location: &str) -> Option<Table> {
        let folder = location.trim_matches('/').strip_prefix(METADATA)?;
        let folder = folder.strip_prefix('/')?;
        Table::ALL.into_iter().find(|t| t.folder() == folder)
    }

    /// The file one deployment writes in its partition folder.
    pub fn file_name(self, p: &Partition) -> String {
        let (a, r, g) = (&p.account, &p.region, &p.group);
        match self {
            Table::Discovery => format!("{a}-{r}-discovery-cs-{g}.json"),
            Table::Configuration => format!("configuration{a}-{r}-{g}-cs-{g}.json"),
            Table::Scheduler => format!("scheduler{a}-{r}-{g}-cs-{g}.json"),
            Table::Instances => format!("{a}-{r}-managed-instances-cs-{g}.json"),
            Table::Volumes => format!("{a}-{r}-managed-volumes-cs-{g}.json"),
            Table::MaintenanceWindows => format!("{a}-{r}-maintenance-windows-cs-{g}.json"),
        }
    }
}

/// The two YAML backups of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupKind {
    Configuration,
    Scheduler,
}

impl BackupKind {
    pub const ALL: [BackupKind; 2] = [BackupKind::Configuration, BackupKind::Scheduler];

    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Configuration => "configuration",
            BackupKind::Scheduler => "scheduler",
        }
    }
}

/// One deployment's partition: account × region × CloneSquad group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub account: String,
    pub region: String,
    pub group: String,
}

impl Partition {
    pub fn new(account: &str, region: &str, group: &str) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            group: group.to_string(),
        }
    }

    /// `accountid=A/region=R/groupname=G`.
    pub fn folder(&self) -> String {
        let [a, r, g] = PARTITION_KEYS;
        format!(
            "{a}={}/{r}={}/{g}={}",
            self.account, self.region, self.group
        )
    }

    /// `accountid=A/region=R/groupname=G[/rest]` → the partition and `rest` (`""` when nothing
    /// follows). Empty values and other keys are refused.
    pub fn parse(rel: &str) -> Option<(Partition, &str)> {
        let mut parts = rel.splitn(4, '/');
        let mut value = |key: &str| {
            parts
                .next()?
                .strip_prefix(key)?
                .strip_prefix('=')
                .filter(|v| !v.is_empty())
        };
        let [a, r, g] = PARTITION_KEYS;
        let partition = Partition::new(value(a)?, value(r)?, value(g)?);
        Some((partition, parts.next().unwrap_or("")))
    }

    /// `metadata/<folder>/<partition>/<file>`, relative to `P`.
    pub fn metadata_file(&self, table: Table) -> String {
        format!(
            "{}/{}/{}",
            table.location(),
            self.folder(),
            table.file_name(self)
        )
    }

    /// `latest-A-R-<kind>-cs-G.yaml`.
    pub fn latest_backup_name(&self, kind: BackupKind) -> String {
        format!(
            "latest-{}-{}-{}-cs-{}.yaml",
            self.account,
            self.region,
            kind.as_str(),
            self.group
        )
    }

    /// `backups/<partition>/latest-A-R-<kind>-cs-G.yaml`, relative to `P`.
    pub fn latest_backup(&self, kind: BackupKind) -> String {
        format!(
            "{BACKUPS}/{}/{}",
            self.folder(),
            self.latest_backup_name(kind)
        )
    }

    /// `backups/<partition>/archive/<timestamp>-A-R-<kind>-cs-G.yaml`, relative to `P`.
    pub fn archive_backup(&self, kind: BackupKind, timestamp: &str) -> String {
        format!(
            "{BACKUPS}/{}/{ARCHIVE}/{timestamp}-{}-{}-{}-cs-{}.yaml",
            self.folder(),
            self.account,
            self.region,
            kind.as_str(),
            self.group
        )
    }
}

/// What a path below a deployment's backup folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFile {
    Latest(BackupKind),
    /// A file under `archive/`.
    Archive,
    Other,
}

/// Classify `rest`, a path below `backups/<partition>/`.
pub fn backup_file(p: &Partition, rest: &str) -> BackupFile {
    if let Some(name) = rest.strip_prefix(ARCHIVE).and_then(|r| r.strip_prefix('/')) {
        return if name.is_empty() {
            BackupFile::Other
        } else {
            BackupFile::Archive
        };
    }
    BackupKind::ALL
        .into_iter()
        .find(|&kind| rest == p.latest_backup_name(kind))
        .map_or(BackupFile::Other, BackupFile::Latest)
}

/// Whether a path relative to `P` belongs in a mirror: all of `metadata/`, and the `latest-*`
/// files of `backups/` (never the archives, which grow forever).
pub fn is_mirrored(rel: &str) -> bool {
    if rel
        .strip_prefix(METADATA)
        .is_some_and(|r| r.starts_with('/'))
    {
        return true;
    }
    if let Some(rest) = rel.strip_prefix(BACKUPS).and_then(|r| r.strip_prefix('/')) {
        let mut segments: Vec<&str> = rest.split('/').collect();
        let file = segments.pop().unwrap_or_default();
        return file.starts_with("latest-") && !segments.contains(&ARCHIVE);
    }
    false
}

/// Whether `name` can be a CloneSquad group: `[A-Za-z0-9][-A-Za-z0-9]+`, 2 to 40 characters.
pub fn valid_group(name: &str) -> bool {
    let bytes = name.as_bytes();
    (2..=40).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

// ---- keys below an S3 path ----

/// The key prefix of everything below `P`: `""` or `prefix/`.
pub fn root_prefix(path: &S3Path) -> String {
    if path.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", path.prefix)
    }
}

/// `prefix/metadata/`.
pub fn metadata_prefix(path: &S3Path) -> String {
    path.child_prefix(METADATA)
}

/// `prefix/backups/`: every backup, latest and archived.
pub fn backups_prefix(path: &S3Path) -> String {
    path.child_prefix(BACKUPS)
}

/// `prefix/<location>/`, for a table location relative to `P` (`metadata/discovery`).
pub fn table_prefix(path: &S3Path, location: &str) -> String {
    path.child_prefix(location)
}

/// `s3://bucket/prefix/<location>/`.
pub fn table_url(path: &S3Path, location: &str) -> String {
    format!("{path}/{location}/")
}

/// The key of a deployment's discovery record.
pub fn discovery_key(path: &S3Path, p: &Partition) -> String {
    format!("{}{}", root_prefix(path), p.metadata_file(Table::Discovery))
}

// ---- a local copy of P ----

/// The `metadata/` folder of a local copy of `P`; `source` itself when it holds no `metadata/`
/// (it may be that folder).
pub fn metadata_dir(source: &Path) -> PathBuf {
    let metadata = source.join(METADATA);
    if metadata.is_dir() {
        metadata
    } else {
        source.to_path_buf()
    }
}

/// The `backups/` folder of a local copy of `P`: `<source>/backups`, or its sibling when
/// `source` is the `metadata/` folder itself.
pub fn backups_dir(source: &Path) -> PathBuf {
    if !source.join(METADATA).is_dir()
        && source.file_name().is_some_and(|n| n == METADATA)
        && let Some(parent) = source.parent()
    {
        return parent.join(BACKUPS);
    }
    source.join(BACKUPS)
}

/// A table's folder in a local `metadata/` folder, for its location relative to `P`.
pub fn table_dir(metadata_dir: &Path, location: &str) -> PathBuf {
    let below = location
        .strip_prefix(METADATA)
        .and_then(|l| l.strip_prefix('/'))
        .unwrap_or(location);
    metadata_dir.join(below)
}

/// A deployment's latest backup in a local `backups/` folder.
pub fn latest_backup_path(backups_dir: &Path, p: &Partition, kind: BackupKind) -> PathBuf {
    backups_dir
        .join(p.folder())
        .join(p.latest_backup_name(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Partition {
        Partition::new("111122223333", "eu-west-1", "web-1")
    }

    #[test]
    fn every_table_file_is_named_as_clonesquad_names_it() {
        let names: Vec<String> = Table::ALL.iter().map(|t| p().metadata_file(*t)).collect();
        let part = "accountid=111122223333/region=eu-west-1/groupname=web-1";
        assert_eq!(
            names,
            [
                format!("metadata/discovery/{part}/111122223333-eu-west-1-discovery-cs-web-1.json"),
                format!(
                    "metadata/configuration/{part}/configuration111122223333-eu-west-1-web-1-cs-web-1.json"
                ),
                format!(
                    "metadata/scheduler/{part}/scheduler111122223333-eu-west-1-web-1-cs-web-1.json"
                ),
                format!(
                    "metadata/instances/{part}/111122223333-eu-west-1-managed-instances-cs-web-1.json"
                ),
                format!(
                    "metadata/volumes/{part}/111122223333-eu-west-1-managed-volumes-cs-web-1.json"
                ),
                format!(
                    "metadata/maintenance-windows/{part}/111122223333-eu-west-1-maintenance-windows-cs-web-1.json"
                ),
            ]
        );
        for t in Table::ALL {
            assert_eq!(Table::from_location(&t.location()), Some(t));
        }
        assert_eq!(
            Table::from_location("metadata/maintenance_windows"),
            None,
            "the folder keeps its hyphen"
        );
        assert_eq!(Table::from_location("backups/discovery"), None);
    }

    #[test]
    fn backups_latest_and_archives() {
        let part = "accountid=111122223333/region=eu-west-1/groupname=web-1";
        assert_eq!(
            p().latest_backup(BackupKind::Scheduler),
            format!("backups/{part}/latest-111122223333-eu-west-1-scheduler-cs-web-1.yaml")
        );
        let archive = p().archive_backup(
            BackupKind::Configuration,
            "2026-11-26 09:00:01.123456+00:00",
        );
        assert_eq!(
            archive,
            format!(
                "backups/{part}/archive/2026-11-26 09:00:01.123456+00:00-111122223333-eu-west-1-configuration-cs-web-1.yaml"
            )
        );
        let rest = |rel: &str| {
            let below = rel.strip_prefix("backups/").unwrap();
            let (q, rest) = Partition::parse(below).unwrap();
            assert_eq!(q, p());
            backup_file(&q, rest)
        };
        assert_eq!(rest(&archive), BackupFile::Archive);
        assert_eq!(
            rest(&p().latest_backup(BackupKind::Configuration)),
            BackupFile::Latest(BackupKind::Configuration)
        );
        assert_eq!(
            rest(&format!(
                "backups/{part}/latest-1-r-configuration-cs-g.yaml"
            )),
            BackupFile::Other,
            "another deployment's name"
        );
        assert_eq!(rest(&format!("backups/{part}/archive/")), BackupFile::Other);
    }

    #[test]
    fn partitions_parse_and_print() {
        assert_eq!(
            Partition::parse("accountid=1/region=r/groupname=g/archive/x"),
            Some((Partition::new("1", "r", "g"), "archive/x"))
        );
        assert_eq!(
            Partition::parse("accountid=1/region=r/groupname=g"),
            Some((Partition::new("1", "r", "g"), ""))
        );
        assert_eq!(Partition::parse("accountid=1/region=r"), None);
        assert_eq!(Partition::parse("x=1/region=r/groupname=g/f"), None);
        assert_eq!(Partition::parse("accountid=/region=r/groupname=g/f"), None);
        assert_eq!(
            p().folder(),
            "accountid=111122223333/region=eu-west-1/groupname=web-1"
        );
    }

    #[test]
    fn keys_below_the_metadata_path() {
        let path: S3Path = "s3://bkt/some/prefix".parse().unwrap();
        assert_eq!(
            discovery_key(&path, &p()),
            "some/prefix/metadata/discovery/accountid=111122223333/region=eu-west-1/groupname=web-1/111122223333-eu-west-1-discovery-cs-web-1.json"
        );
        assert_eq!(backups_prefix(&path), "some/prefix/backups/");
        assert_eq!(metadata_prefix(&path), "some/prefix/metadata/");
        assert_eq!(
            table_url(&path, "metadata/volumes"),
            "s3://bkt/some/prefix/metadata/volumes/"
        );
        let root: S3Path = "s3://bkt".parse().unwrap();
        assert_eq!(root_prefix(&root), "");
        assert!(discovery_key(&root, &p()).starts_with("metadata/discovery/"));
    }

    #[test]
    fn only_metadata_and_latest_backups_are_mirrored() {
        assert!(is_mirrored("metadata/discovery/a/b.json"));
        assert!(is_mirrored(
            "backups/accountid=1/region=r/groupname=g/latest-1-r-configuration-cs-g.yaml"
        ));
        assert!(!is_mirrored(
            "backups/accountid=1/region=r/groupname=g/archive/2026-11-26 09:00:01+00:00-1-r-configuration-cs-g.yaml"
        ));
        assert!(!is_mirrored(
            "backups/accountid=1/region=r/groupname=g/archive/latest-x.yaml"
        ));
        assert!(!is_mirrored("metadatax/y"));
        assert!(!is_mirrored("other/x"));
    }

    #[test]
    fn local_copies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("metadata/discovery")).unwrap();
        assert_eq!(metadata_dir(root), root.join("metadata"));
        assert_eq!(metadata_dir(&root.join("metadata")), root.join("metadata"));
        assert_eq!(backups_dir(root), root.join("backups"));
        assert_eq!(backups_dir(&root.join("metadata")), root.join("backups"));
        assert_eq!(
            backups_dir(Path::new("elsewhere")),
            Path::new("elsewhere/backups")
        );
        assert_eq!(
            table_dir(&root.join("metadata"), "metadata/maintenance-windows"),
            root.join("metadata/maintenance-windows")
        );
        assert_eq!(
            latest_backup_path(&root.join("backups"), &p(), BackupKind::Configuration),
            root.join(p().latest_backup(BackupKind::Configuration))
        );
    }

    #[test]
    fn group_names() {
        assert!(valid_group("web-front-1"));
        assert!(valid_group("ab"));
        assert!(!valid_group("a"));
        assert!(!valid_group("-ab"));
        assert!(!valid_group("a_b"));
        assert!(!valid_group(&"a".repeat(41)));
    }
}
