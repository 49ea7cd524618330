//! Command-line definitions (clap derive types only). Every flag is documented here once; most have
//! an environment fallback `CS_CMDB_*` and a `cs-cmdb.toml` key (see `settings`).

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::render::Format;
use crate::settings::{Flags, Shaping};

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

/// The help heading of the flags that shape data on stdout.
const OUTPUT: &str = "Output options";
/// The help heading of the other flags every command accepts.
const GLOBAL: &str = "Global options";

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./cs-cmdb.toml, else <config dir>/cs-cmdb/config.toml].
    #[arg(long, global = true, env = "CS_CMDB_CONFIG", value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// A `[connection.NAME]` of the config file: its keys (profile, region, role-name, regions...)
    /// apply under the flags and the environment, over the file's top level.
    #[arg(long, global = true, env = "CS_CMDB_CONNECTION", value_name = "NAME", help_heading = GLOBAL)]
    pub connection: Option<String>,

    /// AWS shared-config profile to use: its credentials win over AWS_ACCESS_KEY_ID in the
    /// environment (as with the AWS CLI); an unknown profile is an error.
    #[arg(long, global = true, env = "CS_CMDB_PROFILE", value_name = "NAME", help_heading = GLOBAL)]
    pub profile: Option<String>,

    /// AWS region (else the profile's or AWS_REGION).
    #[arg(long, global = true, env = "CS_CMDB_REGION", value_name = "REGION", help_heading = GLOBAL)]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (an emulator, a VPC endpoint); AWS_ENDPOINT_URL is also honoured.
    #[arg(long, global = true, env = "CS_CMDB_ENDPOINT_URL", value_name = "URL", help_heading = GLOBAL)]
    pub endpoint_url: Option<String>,

    /// Output format for data written to stdout [default: table]; --output is the AWS CLI's
    /// spelling of the same flag.
    #[arg(
        long,
        short = 'f',
        visible_alias = "output",
        global = true,
        env = "CS_CMDB_FORMAT",
        value_enum,
        help_heading = OUTPUT
    )]
    pub format: Option<Format>,

    /// Only these columns, in this order (comma-separated); an unknown name is an error listing
    /// the columns.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "COLUMNS",
        help_heading = OUTPUT
    )]
    pub columns: Option<Vec<String>>,

    /// At most this many rows.
    #[arg(long, global = true, value_name = "N", help_heading = OUTPUT)]
    pub limit: Option<usize>,

    /// Tables: never cut cells or leave columns out to fit the terminal (a table on a terminal,
    /// or with COLUMNS set, is fitted to its width; piped, it stays whole).
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub wide: bool,

    /// CSV: the text of a NULL [default: an empty cell, like an empty string].
    #[arg(long, global = true, value_name = "TEXT", help_heading = OUTPUT)]
    pub null_marker: Option<String>,

    /// CSV: prefix with ' the cells a spreadsheet would run as a formula (=, +, -, @, tab, CR
    /// first) [default: true for `check`, false elsewhere].
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = OUTPUT
    )]
    pub csv_safe: Option<bool>,

    /// CloneSquad's MetadataAndBackupS3Path shared by all deployments (s3://bucket/prefix).
    #[arg(
        long,
        global = true,
        env = "CS_CMDB_METADATA_PATH",
        value_name = "S3_PATH",
        help_heading = GLOBAL
    )]
    pub metadata_path: Option<String>,

    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,

    /// Only errors on stderr: no summaries, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    /// No colours (also when NO_COLOR is set or the output is not a terminal).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
}

impl GlobalArgs {
    /// The flags the settings are layered from (`-v` only steers logging).
    pub fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            connection: self.connection.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            format: self.format,
            shaping: Shaping {
                columns: self.columns.clone(),
                limit: self.limit,
                wide: self.wide,
                null_marker: self.null_marker.clone(),
                csv_safe: self.csv_safe,
            },
            metadata_path: self.metadata_path.clone(),
            quiet: self.quiet,
            no_color: self.no_color,
        }
    }
}

/// The subcommands: each one's help is its `Args`' doc comment, in `commands/<name>.rs`.
#[derive(Debug, Subcommand)]
pub enum Command {
    Accounts(commands::accounts::Args),
    Whoami(commands::whoami::Args),
    Query(commands::query::Args),
    Tables(commands::tables::Args),
    Describe(commands::describe::Args),
    Install(commands::install::Args),
    Partitions(commands::partitions::Args),
    Discover(commands::discover::Args),
    Export(commands::export::Args),
    Mirror(commands::mirror::Args),
    Backups(commands::backups::Args),
    Sample(commands::sample::Args),
    Check(commands::check::Args),
    Org(commands::org::Args),
    Report(commands::report::Args),
    Completions(commands::completions::Args),
    Man(commands::man::Args),
}

// The choices of enum flags, with their help: the enums live with the code they steer, without
// clap; their names here are the ones the config file and the policy file use too.

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Format::Table,
            Format::Line,
            Format::Json,
            Format::Jsonl,
            Format::Csv,
            Format::Markdown,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Table => PossibleValue::new("table")
                .help("A table for people to read, fitted to the terminal (see --wide)"),
            Format::Line => PossibleValue::new("line")
                .help("One record per block, one `column | value` line per column"),
            Format::Jsonl => {
                PossibleValue::new("jsonl").help("JSON Lines: one object per line, typed values")
            }
            Format::Json => PossibleValue::new("json")
                .help("A JSON array of objects keyed by column name, typed values"),
            Format::Csv => PossibleValue::new("csv").help("CSV with a header row (RFC 4180)"),
            Format::Markdown => {
                PossibleValue::new("markdown").help("A GitHub-flavoured Markdown table")
            }
        })
    }
}
