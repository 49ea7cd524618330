//! Layered settings: built-in defaults < `cs-cmdb.toml` < `CS_CMDB_*` environment < flags.
//!
//! clap already folds the environment under the flags (`env = "CS_CMDB_..."`), so this module only
//! has to put the config file underneath and validate the result once.

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
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub format: Option<Format>,
    pub columns: Option<Vec<String>>,
    pub limit: Option<usize>,
    pub wide: bool,
    pub null_marker: Option<String>,
    pub csv_safe: Option<bool>,
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

impl Flags {
    fn shaping(&self) -> Shaping {
        Shaping {
            columns: self.columns.clone(),
            limit: self.limit,
            wide: self.wide,
            null_marker: self.null_marker.clone(),
            csv_safe: self.csv_safe,
        }
    }
}

/// What a `cs-cmdb.toml` may hold. Unknown keys are errors, so a typo never passes silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub format: Option<Format>,
    pub metadata_path: Option<String>,
    pub source: Option<String>,
    pub engine: Option<EngineKind>,
    pub queries_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub workgroup: Option<String>,
    pub output_location: Option<String>,
}

/// The validated settings every command starts from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
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
            aws: AwsSettings::default(),
            format: global.format.unwrap_or(Format::Table),
            shaping: global.shaping(),
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
            (None, Some(_)) => config_file
                .as_ref()
                .map(|path| format!("`profile` in {}", path.display())),
            (None, None) => None,
        };
        if let Some(url) = endpoint_url
            .as_ref()
            .filter(|url| !(url.starts_with("http://") || url.starts_with("https://")))
        {
            bail!("invalid endpoint URL `{url}`: it must start with http:// or https://");
        }
        Ok(Self {
            config_file,
            aws: AwsSettings {
                profile: global.profile.clone().or(file.profile),
                profile_origin,
                region: global.region.clone().or(file.region),
                endpoint_url,
            },
            format: global.format.or(file.format).unwrap_or(Format::Table),
            shaping: global.shaping(),
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
        })
    }
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

    #[test]
    fn unknown_key_is_an_error_naming_line_and_key() {
        let err = toml::from_str::<FileConfig>("region = \"eu-west-1\"\nmetdata-path = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("metdata-path"), "{err}");
    }
}
