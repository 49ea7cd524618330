//! Command-line definitions (clap derive types only). Every flag is documented here once; most have
//! an environment fallback `CS_CMDB_*` and a `cs-cmdb.toml` key (see `settings`).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Governance CMDB for CloneSquad deployments across an AWS Organization.
///
/// Queries the metadata that CloneSquad deployments export into one shared S3 bucket, on an
/// embedded engine (default, no AWS account needed) or on Athena, lists the Organization's
/// accounts, and more. Data goes to stdout; progress, logs and summaries to stderr.
///
/// Exit codes: 0 all good; 1 the job ran but found failures or violations; 2 the tool could not
/// do its job.
#[derive(Debug, Parser)]
#[command(
    name = "cs-cmdb",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./cs-cmdb.toml, else <config dir>/cs-cmdb/config.toml].
    #[arg(long, global = true, env = "CS_CMDB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// AWS shared-config profile to use.
    #[arg(long, global = true, env = "CS_CMDB_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region (else the profile's or AWS_REGION).
    #[arg(long, global = true, env = "CS_CMDB_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (an emulator, a VPC endpoint); AWS_ENDPOINT_URL is also honoured.
    #[arg(long, global = true, env = "CS_CMDB_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Output format for data written to stdout [default: table].
    #[arg(long, short = 'f', global = true, env = "CS_CMDB_FORMAT", value_enum)]
    pub format: Option<Format>,

    /// CloneSquad's MetadataAndBackupS3Path shared by all deployments (s3://bucket/prefix).
    #[arg(
        long,
        global = true,
        env = "CS_CMDB_METADATA_PATH",
        value_name = "S3_PATH"
    )]
    pub metadata_path: Option<String>,

    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr: no summaries, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// No colours (also when NO_COLOR is set or the output is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the Organization's accounts (needs the management or a delegated-admin account).
    Accounts(AccountsArgs),
    /// Run a canned CMDB query, or ad-hoc SQL, on the embedded engine or Athena.
    Query(QueryArgs),
    /// Copy the shared bucket's metadata and latest backups into a local cache, incrementally.
    Mirror(MirrorArgs),
    /// One row per deployment: latest backups, their age, the archive's size; and whether a
    /// lifecycle rule bounds the archive.
    Backups(BackupsArgs),
    /// Write a synthetic metadata tree in CloneSquad's exact layout (for trials and benchmarks).
    Sample(SampleArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    Man {
        /// Write cs-cmdb.1 and cs-cmdb-<command>.1 into this directory instead of stdout.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Only accounts under this organizational unit, nested OUs included (repeatable; a root id works too).
    #[arg(long = "ou", value_name = "OU_ID")]
    pub ous: Vec<String>,

    /// Leave this account out (repeatable).
    #[arg(long = "exclude-account", value_name = "ACCOUNT_ID")]
    pub exclude: Vec<String>,

    /// Also list suspended and closed accounts (default: active ones only).
    #[arg(long)]
    pub include_suspended: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").args(["name", "list", "sql", "file"]).required(true))]
pub struct QueryArgs {
    /// Name of a canned query (see --list).
    pub name: Option<String>,

    /// List the canned queries with their descriptions and parameters.
    #[arg(long)]
    pub list: bool,

    /// Run this ad-hoc SQL instead of a canned query.
    #[arg(long, value_name = "SQL")]
    pub sql: Option<String>,

    /// Run the SQL in this file (a header of `-- param:` lines is honoured like a canned query's).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// A query parameter, bound (never spliced into the SQL); repeatable.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    /// Where the metadata is: a local copy of <MetadataAndBackupS3Path> (holding metadata/), or
    /// s3://bucket/prefix, mirrored into the cache first (see `cs-cmdb mirror`).
    #[arg(long, env = "CS_CMDB_SOURCE", value_name = "DIR")]
    pub source: Option<String>,

    /// Which engine runs the SQL [default: local].
    #[arg(long, env = "CS_CMDB_ENGINE", value_enum)]
    pub engine: Option<EngineKind>,

    /// A directory of extra .sql queries; a file with a canned query's name overrides it.
    #[arg(long, env = "CS_CMDB_QUERIES_DIR", value_name = "DIR")]
    pub queries_dir: Option<PathBuf>,

    /// Where the embedded engine keeps its columnar cache [default: <cache dir>/cs-cmdb].
    #[arg(long, env = "CS_CMDB_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// With --source s3://...: query the existing mirror as is, without contacting S3.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Cache root; the mirror goes to <root>/mirror/<bucket>/<prefix hash> [default: <cache dir>/cs-cmdb].
    #[arg(long, env = "CS_CMDB_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Parallel S3 calls (listings and downloads).
    #[arg(long, default_value_t = crate::mirror::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Download every latest backup and confirm it parses as YAML (exit 1 when one is missing or does not).
    #[arg(long)]
    pub restore_check: bool,

    /// A deployment whose latest backup is this many hours old (or older) is flagged `stale`.
    #[arg(long, default_value_t = 24, value_name = "HOURS")]
    pub stale_hours: i64,

    /// Parallel S3 calls (listings and downloads).
    #[arg(long, default_value_t = crate::mirror::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Directory to write into; it receives metadata/ and backups/ like <MetadataAndBackupS3Path>.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Number of deployments (account × region × group).
    #[arg(long, default_value_t = 12)]
    pub deployments: usize,

    /// Average number of managed instances per deployment.
    #[arg(long, default_value_t = 8)]
    pub instances: usize,

    /// Seed of the generator (same seed, same tree).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// How data on stdout is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A table for people to read.
    Table,
    /// A JSON array of objects keyed by column name, typed values.
    Json,
    /// CSV with a header row.
    Csv,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

/// Which query engine runs the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The embedded engine (DataFusion) over a local metadata tree: no AWS account needed.
    Local,
    /// Amazon Athena over the shared bucket.
    Athena,
}
