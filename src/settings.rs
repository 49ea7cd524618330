//! Layered settings: built-in defaults < `cs-cmdb.toml` < `CS_CMDB_*` environment < flags.
//!
//! clap already folds the environment under the flags (`env = "CS_CMDB_..."`), so this module only
//! has to put the config file underneath and validate the result once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::aws::AwsSettings;
/// The metadata path is an [`S3Path`] (re-exported for the code that reads it from here).
pub use crate::bucket::S3Path;
use crate::engine::EngineKind;
use crate::render::Format;

/// What the global flags (and their `CS_CMDB_*` twins, which clap folds in) say.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    /// `--connection` / `CS_CMDB_CONNECTION`: a `[connection.NAME]` of the config file.
    pub connection: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub format: Option<Format>,
    pub shaping: Shaping,
    pub metadata_path: Option<String>,
    pub quiet: bool,
    pub no_color: bool,
}

/// How rows on stdout are shaped, beside the format: `--columns`, `--limit`, `--wide`,
/// `--null-marker`, `--csv-safe`.
#[derive(Debug, Clone, Default)]
pub struct Shaping {
    pub columns: Option<Vec<String>>,
    pub limit: Option<usize>,
    pub wide: bool,
    pub null_marker: Option<String>,
    /// `None`: the command's default (on for `check`).
    pub csv_safe: Option<bool>,
}

/// The keys of one settings layer: the top level of `cs-cmdb.toml`, and each
/// `[connection.NAME]` (Steampipe's connections). One list, so both accept exactly the same keys.
macro_rules! layer_keys {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        /// One `[connection.NAME]` of `cs-cmdb.toml` (or its top level): every key optional.
        /// Unknown keys are errors, so a typo never passes silently.
        #[derive(Debug, Default, Clone, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct Layer {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        /// What a `cs-cmdb.toml` may hold: the keys of a [`Layer`] and named connections.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct FileConfig {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
            /// `[connection.NAME]` tables, picked with `--connection NAME`.
            #[serde(default)]
            pub connection: BTreeMap<String, Layer>,
        }

        impl FileConfig {
            /// The top level as a layer, and the connections.
            fn split(self) -> (Layer, BTreeMap<String, Layer>) {
                (Layer { $( $field: self.$field, )* }, self.connection)
            }
        }

        impl Layer {
            /// Every key of `self` that is set, else `lower`'s.
            fn over(self, lower: Layer) -> Layer {
                Layer { $( $field: self.$field.or(lower.$field), )* }
            }
        }
    };
}

layer_keys! {
    profile: String,
    region: String,
    endpoint_url: String,
    format: Format,
    metadata_path: String,
    source: String,
    engine: EngineKind,
    queries_dir: PathBuf,
    cache_dir: PathBuf,
    database: String,
    workgroup: String,
    output_location: String,
    /// Fan-out (`discover`, `export`) and account filters (`accounts` too).
    role_name: String,
    external_id: String,
    via_role: String,
    session_name: String,
    regions: Vec<String>,
    ous: Vec<String>,
    exclude_accounts: Vec<String>,
    concurrency: usize,
    allow_unknown_region: bool,
    /// The largest object the mirror downloads, in bytes (a bigger one is reported, not
    /// fetched); default [`crate::mirror::DEFAULT_MAX_OBJECT_BYTES`].
    max_object_bytes: u64,
    /// The longest line the embedded engine reads, in bytes (a longer one is a bad line, not
    /// parsed); default [`crate::engine::local::json::DEFAULT_MAX_LINE_BYTES`].
    max_line_bytes: u64,
}

/// The fan-out defaults of the config file (its connection, else its top level); the flags and
/// their `CS_CMDB_*` twins win over them.
#[derive(Debug, Clone, Default)]
pub struct FanoutDefaults {
    pub role_name: Option<String>,
    pub external_id: Option<String>,
    pub via_role: Option<String>,
    pub session_name: Option<String>,
    pub regions: Vec<String>,
    pub ous: Vec<String>,
    pub exclude_accounts: Vec<String>,
    pub concurrency: Option<usize>,
    pub allow_unknown_region: bool,
}

/// The validated settings every command starts from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The `[connection.NAME]` in use, if any.
    pub connection: Option<String>,
    /// Fan-out defaults from the config file.
    pub fanout: FanoutDefaults,
    pub aws: AwsSettings,
    pub format: Format,
    pub shaping: Shaping,
    /// `--no-color`: no colours on stdout or stderr, terminal or not.
    pub no_color: bool,
    pub metadata_path: Option<S3Path>,
    /// Query-related defaults from the config file (flags and env override them per command).
    pub source: Option<String>,
    pub engine: Option<EngineKind>,
    pub queries_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// Athena defaults from the config file.
    pub database: Option<String>,
    pub workgroup: Option<String>,
    pub output_location: Option<String>,
    /// `-q`: no summaries, warnings, notices or progress on stderr; errors only.
    pub quiet: bool,
    /// The mirror's per-object size cap, in bytes (also the embedded engine's per-file cap).
    pub max_object_bytes: u64,
    /// The embedded engine's per-line cap, in bytes.
    pub max_line_bytes: u64,
}

impl Settings {
    /// The metadata path, required by the commands that read the bucket.
    pub fn require_metadata_path(&self) -> anyhow::Result<&S3Path> {
        self.metadata_path.as_ref().context(
            "no metadata path: pass --metadata-path s3://bucket/prefix (CloneSquad's MetadataAndBackupS3Path), set CS_CMDB_METADATA_PATH, or set `metadata-path` in cs-cmdb.toml",
        )
    }

    /// The cache root: the flag, else `cache-dir` of the config file, else
    /// `<user cache dir>/cs-cmdb`.
    pub fn cache_root(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or_else(|| self.cache_dir.clone())
            .or_else(|| dirs::cache_dir().map(|d| d.join("cs-cmdb")))
            .unwrap_or_else(|| PathBuf::from(".cs-cmdb-cache"))
    }

    /// The settings from the flags alone, for commands that must run whatever the config file
    /// holds (completions, man pages).
    pub fn without_config(global: &Flags) -> Self {
        Self {
            config_file: None,
            connection: None,
            fanout: FanoutDefaults::default(),
            aws: AwsSettings::default(),
            format: global.format.unwrap_or(Format::Table),
            shaping: global.shaping.clone(),
            no_color: global.no_color,
            metadata_path: None,
            source: None,
            engine: None,
            queries_dir: None,
            cache_dir: None,
            database: None,
            workgroup: None,
            output_location: None,
            quiet: global.quiet,
            max_object_bytes: crate::mirror::DEFAULT_MAX_OBJECT_BYTES,
            max_line_bytes: crate::engine::local::json::DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Read the config file (if any) and lay the flags and environment over it.
    pub fn load(global: &Flags) -> anyhow::Result<Self> {
        let (config_file, file) = match config_path(global.config.as_deref())? {
            Some(path) => {
                let file = read_config(&path)?;
                (Some(path), file)
            }
            None => (None, FileConfig::default()),
        };
        let (top, connections) = file.split();
        // flags > env (clap folds it into the flags) > connection > top level > defaults.
        let file = match &global.connection {
            None => top,
            Some(name) => match connections.get(name) {
                Some(connection) => connection.clone().over(top),
                None => bail!(
                    "{}",
                    unknown_connection(name, config_file.as_deref(), &connections)
                ),
            },
        };
        let metadata_path = global
            .metadata_path
            .clone()
            .or(file.metadata_path)
            .map(|text| {
                text.parse::<S3Path>()
                    .with_context(|| format!("invalid metadata path `{text}`"))
            })
            .transpose()?;
        let endpoint_url = global.endpoint_url.clone().or(file.endpoint_url);
        let profile_origin = match (&global.profile, &file.profile) {
            (Some(name), _) => Some(
                if std::env::var("CS_CMDB_PROFILE").is_ok_and(|env| &env == name) {
                    "CS_CMDB_PROFILE".to_string()
                } else {
                    "--profile".to_string()
                },
            ),
            (None, Some(_)) => config_file.as_ref().map(|path| match &global.connection {
                Some(name) => format!("`profile` of connection `{name}` in {}", path.display()),
                None => format!("`profile` in {}", path.display()),
            }),
            (None, None) => None,
        };
        if let Some(url) = endpoint_url
            .as_ref()
            .filter(|url| !(url.starts_with("http://") || url.starts_with("https://")))
        {
            bail!("invalid endpoint URL `{url}`: it must start with http:// or https://");
        }
        let fanout = FanoutDefaults {
            role_name: file.role_name,
            external_id: file.external_id,
            via_role: file.via_role,
            session_name: file.session_name,
            regions: file.regions.unwrap_or_default(),
            ous: file.ous.unwrap_or_default(),
            exclude_accounts: file.exclude_accounts.unwrap_or_default(),
            concurrency: file.concurrency,
            allow_unknown_region: file.allow_unknown_region.unwrap_or(false),
        };
        Ok(Self {
            config_file,
            connection: global.connection.clone(),
            fanout,
            aws: AwsSettings {
                profile: global.profile.clone().or(file.profile),
                profile_origin,
                region: global.region.clone().or(file.region),
                endpoint_url,
            },
            format: global.format.or(file.format).unwrap_or(Format::Table),
            shaping: global.shaping.clone(),
            no_color: global.no_color,
            metadata_path,
            source: file.source,
            engine: file.engine,
            queries_dir: file.queries_dir,
            cache_dir: file.cache_dir,
            database: file.database,
            workgroup: file.workgroup,
            output_location: file.output_location,
            quiet: global.quiet,
            max_object_bytes: match file.max_object_bytes {
                Some(0) => bail!("`max-object-bytes` must be above 0"),
                Some(n) => n,
                None => crate::mirror::DEFAULT_MAX_OBJECT_BYTES,
            },
            max_line_bytes: match file.max_line_bytes {
                Some(0) => bail!("`max-line-bytes` must be above 0"),
                Some(n) => n,
                None => crate::engine::local::json::DEFAULT_MAX_LINE_BYTES,
            },
        })
    }
}

/// An unknown `--connection`: the file read, the connections it defines, the closest one.
fn unknown_connection(
    name: &str,
    file: Option<&Path>,
    connections: &BTreeMap<String, Layer>,
) -> String {
    let Some(file) = file else {
        return format!(
            "connection `{name}` (from --connection or CS_CMDB_CONNECTION) needs a config file with a [connection.{name}] table, and none was found (./cs-cmdb.toml, <config dir>/cs-cmdb/config.toml, or --config FILE)"
        );
    };
    let known: Vec<String> = connections.keys().cloned().collect();
    let mut text = format!("no connection `{name}` in {}", file.display());
    if known.is_empty() {
        text.push_str(&format!(
            "; it defines none (add a [connection.{name}] table)"
        ));
    } else {
        text.push_str(&format!("; its connections: {}", known.join(", ")));
        if let Some(close) = crate::text::closest(name, &known) {
            text.push_str(&format!("; did you mean `{close}`?"));
        }
    }
    text
}

/// `--config`, else `./cs-cmdb.toml`, else `<user config dir>/cs-cmdb/config.toml`; only an
/// explicitly named file must exist.
fn config_path(explicit: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!(
                "config file {} does not exist (named by --config or CS_CMDB_CONFIG)",
                path.display()
            );
        }
        return Ok(Some(path.to_path_buf()));
    }
    let local = PathBuf::from("cs-cmdb.toml");
    if local.is_file() {
        return Ok(Some(local));
    }
    Ok(dirs::config_dir()
        .map(|dir| dir.join("cs-cmdb").join("config.toml"))
        .filter(|path| path.is_file()))
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|err| {
        // toml's message already names the line, column and key; keep it whole.
        anyhow::anyhow!(
            "invalid config file {}: {}",
            path.display(),
            err.to_string().trim_end()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
profile = "top"
region = "eu-west-1"
endpoint-url = "http://top.invalid"
format = "csv"
metadata-path = "s3://top/prefix"
source = "top-src"
engine = "local"
database = "top_db"
workgroup = "top-wg"
output-location = "s3://top-results/"
role-name = "TopRole"
regions = ["eu-west-1"]
ous = ["ou-top"]
exclude-accounts = ["111111111111"]

[connection.other]
profile = "other"
region = "us-east-2"
endpoint-url = "http://other.invalid"
format = "json"
metadata-path = "s3://other/prefix"
source = "other-src"
engine = "athena"
database = "other_db"
workgroup = "other-wg"
output-location = "s3://other-results/"
role-name = "OtherRole"
regions = ["us-east-2", "us-west-2"]
ous = ["ou-other"]
exclude-accounts = ["222222222222"]

[connection.partial]
region = "ap-south-1"
"#;

    fn load(file: &Path, connection: Option<&str>, flags: Flags) -> anyhow::Result<Settings> {
        Settings::load(&Flags {
            config: Some(file.to_path_buf()),
            connection: connection.map(String::from),
            ..flags
        })
    }

    /// Key by key: the connection over the top level; flags over both; a connection that sets
    /// one key leaves the others to the top level.
    /// `max-line-bytes` is taken at the top level and in a connection, defaults to Athena's row
    /// limit, and refuses 0.
    #[test]
    fn max_line_bytes_layers_like_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cs-cmdb.toml");
        std::fs::write(
            &file,
            "max-line-bytes = 1000\n[connection.big]\nmax-line-bytes = 2000\n[connection.plain]\n",
        )
        .unwrap();
        let caps: Vec<u64> = [None, Some("big"), Some("plain")]
            .into_iter()
            .map(|c| load(&file, c, Flags::default()).unwrap().max_line_bytes)
            .collect();
        assert_eq!(caps, [1000, 2000, 1000]);
        std::fs::write(&file, "region = \"eu-west-1\"\n").unwrap();
        let default = load(&file, None, Flags::default()).unwrap();
        assert_eq!(default.max_line_bytes, 32 * 1024 * 1024);
        std::fs::write(&file, "max-line-bytes = 0\n").unwrap();
        let zero = load(&file, None, Flags::default()).unwrap_err().to_string();
        assert!(zero.contains("`max-line-bytes` must be above 0"), "{zero}");
    }

    #[test]
    fn connections_layer_between_the_flags_and_the_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cs-cmdb.toml");
        std::fs::write(&file, FILE).unwrap();

        let top = load(&file, None, Flags::default()).unwrap();
        let other = load(&file, Some("other"), Flags::default()).unwrap();
        let partial = load(&file, Some("partial"), Flags::default()).unwrap();
        for (s, profile, region, format, engine, db, role, regions, ous, exclude) in [
            (
                &top,
                "top",
                "eu-west-1",
                Format::Csv,
                EngineKind::Local,
                "top_db",
                "TopRole",
                "eu-west-1",
                "ou-top",
                "111111111111",
            ),
            (
                &other,
                "other",
                "us-east-2",
                Format::Json,
                EngineKind::Athena,
                "other_db",
                "OtherRole",
                "us-east-2,us-west-2",
                "ou-other",
                "222222222222",
            ),
            (
                &partial,
                "top",
                "ap-south-1",
                Format::Csv,
                EngineKind::Local,
                "top_db",
                "TopRole",
                "eu-west-1",
                "ou-top",
                "111111111111",
            ),
        ] {
            assert_eq!(s.aws.profile.as_deref(), Some(profile));
            assert_eq!(s.aws.region.as_deref(), Some(region));
            assert_eq!(s.format, format);
            assert_eq!(s.engine, Some(engine));
            assert_eq!(s.database.as_deref(), Some(db));
            assert_eq!(s.fanout.role_name.as_deref(), Some(role));
            assert_eq!(s.fanout.regions.join(","), regions);
            assert_eq!(s.fanout.ous.join(","), ous);
            assert_eq!(s.fanout.exclude_accounts.join(","), exclude);
        }
        assert_eq!(
            other.aws.endpoint_url.as_deref(),
            Some("http://other.invalid")
        );
        assert_eq!(
            other.metadata_path.as_ref().unwrap().to_string(),
            "s3://other/prefix"
        );
        assert_eq!(other.source.as_deref(), Some("other-src"));
        assert_eq!(other.workgroup.as_deref(), Some("other-wg"));
        assert_eq!(
            other.output_location.as_deref(),
            Some("s3://other-results/")
        );
        assert_eq!(partial.workgroup.as_deref(), Some("top-wg"));
        assert!(
            other
                .aws
                .profile_origin
                .as_deref()
                .unwrap()
                .contains("connection `other`")
        );

        let flagged = load(
            &file,
            Some("other"),
            Flags {
                profile: Some("flag".into()),
                region: Some("sa-east-1".into()),
                endpoint_url: Some("http://flag.invalid".into()),
                format: Some(Format::Markdown),
                metadata_path: Some("s3://flag/prefix".into()),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(flagged.aws.profile.as_deref(), Some("flag"));
        assert_eq!(flagged.aws.region.as_deref(), Some("sa-east-1"));
        assert_eq!(
            flagged.aws.endpoint_url.as_deref(),
            Some("http://flag.invalid")
        );
        assert_eq!(flagged.format, Format::Markdown);
        assert_eq!(
            flagged.metadata_path.unwrap().to_string(),
            "s3://flag/prefix"
        );

        let unknown = load(&file, Some("otehr"), Flags::default())
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("its connections: other, partial; did you mean `other`?"),
            "{unknown}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_line_and_key() {
        let err = toml::from_str::<FileConfig>("region = \"eu-west-1\"\nmetdata-path = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("metdata-path"), "{err}");
    }
}
