//! Command-line definitions (clap derive types only). Every flag is documented here once; most have
//! an environment fallback `CS_CMDB_*` and a `cs-cmdb.toml` key (see `settings`).

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::org::export::Via;
use crate::render::Format;

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

    /// AWS shared-config profile to use: its credentials win over AWS_ACCESS_KEY_ID in the
    /// environment (as with the AWS CLI); an unknown profile is an error.
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
    Accounts(commands::accounts::Args),
    /// Show the AWS identity in use: account, ARN, where the credentials come from, region, and
    /// the Organization (id, management account).
    Whoami(commands::whoami::Args),
    /// Run a canned CMDB query, or ad-hoc SQL, on the embedded engine or Athena.
    Query(commands::query::Args),
    /// Create the Athena database and the six CloneSquad tables, then register their partitions.
    Install(commands::install::Args),
    /// Register the partitions present in the bucket and missing from the catalog (exact, batched).
    Partitions(commands::partitions::Args),
    /// Find the CloneSquad deployments in every account × region of the Organization.
    Discover(DiscoverArgs),
    /// Trigger the `backup` export of every CloneSquad deployment, optionally verifying it landed.
    Export(ExportArgs),
    /// Copy the shared bucket's metadata and latest backups into a local cache, incrementally.
    Mirror(commands::mirror::Args),
    /// One row per deployment: latest backups, their age, the archive's size; and whether a
    /// lifecycle rule bounds the archive.
    Backups(commands::backups::Args),
    /// Write a synthetic metadata tree in CloneSquad's exact layout (for trials and benchmarks).
    Sample(commands::sample::Args),
    /// Check the fleet against a compliance policy (a CI gate: exit 1 on violations).
    Check(commands::check::Args),
    /// Print a shell completion script to stdout.
    Completions(commands::completions::Args),
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    Man(commands::man::Args),
}

/// Which targets (account × region) a fan-out visits, and how.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Only accounts under this organizational unit, nested OUs included (repeatable).
    #[arg(long = "ou", value_name = "OU_ID")]
    pub ous: Vec<String>,

    /// Leave this account out (repeatable).
    #[arg(long = "exclude-account", value_name = "ACCOUNT_ID")]
    pub exclude: Vec<String>,

    /// Only these accounts (comma-separated ids; they must be active members of the Organization).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub accounts: Vec<String>,

    /// Regions to visit in every account, comma-separated, or `all` for each account's enabled
    /// regions (opt-in regions it has not enabled are reported as skipped) [default: --region].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "REGION,...|all",
        env = "CS_CMDB_REGIONS"
    )]
    pub regions: Vec<String>,

    /// Role assumed in each member account: arn:aws:iam::<account>:role/<NAME>.
    #[arg(
        long,
        default_value = "OrganizationAccountAccessRole",
        env = "CS_CMDB_ROLE_NAME",
        value_name = "NAME"
    )]
    pub role_name: String,

    /// External id passed to AssumeRole.
    #[arg(long, env = "CS_CMDB_EXTERNAL_ID", value_name = "ID")]
    pub external_id: Option<String>,

    /// Session name of the assumed roles (shows in the members' CloudTrail).
    #[arg(long, default_value = "cs-cmdb", value_name = "NAME")]
    pub session_name: String,

    /// Assume this role first, then the member roles from it (a role chain's first hop).
    #[arg(long, value_name = "ARN")]
    pub via_role: Option<String>,

    /// Targets worked on at once (Lambda and STS quotas allow far more; stay polite).
    #[arg(
        long,
        default_value_t = 16,
        env = "CS_CMDB_CONCURRENCY",
        value_name = "N"
    )]
    pub concurrency: usize,

    /// Cap on AWS calls per second across the run.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,

    /// Timeout of one attempt of one AWS call (the SDK retries throttling and timeouts with backoff).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub call_timeout: std::time::Duration,

    /// Stop starting new targets once this many have failed (the others are reported as skipped).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,

    /// Only deployments of this CloneSquad group (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub fanout: FanoutArgs,

    /// Also invoke CloneSquad-Discovery-<group> for the version, metadata path and API URL.
    #[arg(long)]
    pub describe: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub fanout: FanoutArgs,

    /// How to call the `backup` operation.
    #[arg(long, value_enum, default_value = "lambda")]
    pub via: Via,

    /// List what would be triggered, trigger nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// After triggering, wait until each deployment's discovery object under --metadata-path is
    /// rewritten (needs --metadata-path).
    #[arg(long)]
    pub verify: bool,

    /// How long --verify waits per deployment.
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = crate::time::parse_duration)]
    pub verify_timeout: std::time::Duration,
}

// The choices of enum flags, with their help: the enums live with the code they steer, without
// clap; their names here are the ones the config file and the policy file use too.

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &[Format::Table, Format::Json, Format::Csv, Format::Markdown]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Format::Table => PossibleValue::new("table").help("A table for people to read"),
            Format::Json => PossibleValue::new("json")
                .help("A JSON array of objects keyed by column name, typed values"),
            Format::Csv => PossibleValue::new("csv").help("CSV with a header row"),
            Format::Markdown => {
                PossibleValue::new("markdown").help("A GitHub-flavoured Markdown table")
            }
        })
    }
}

impl ValueEnum for Via {
    fn value_variants<'a>() -> &'a [Self] {
        &[Via::Lambda, Via::Apigw, Via::Sqs]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()).help(match self {
            Via::Lambda => {
                "Synchronous invoke of `CloneSquad-Interact-<group>` with an API-Gateway-shaped event (works with PRIVATE gateways)"
            }
            Via::Apigw => "SigV4-signed `GET <InteractAPIGWUrl>backup` (REGIONAL gateways only)",
            Via::Sqs => {
                "`{\"OpType\":\"backup\"}` to the `CloneSquad-Interact-<group>` queue (asynchronous)"
            }
        }))
    }
}
