//! `cs-cmdb org snapshot`: the Organization's OU tree and accounts (with their tags) as the
//! `org_accounts` and `org_units` tables, written into the cache for the embedded engine and,
//! when a metadata path (or `--org-path`) is known, uploaded for Athena.

use crate::commands::org_args::OrgPathArg;
use crate::exit::Outcome;
use crate::org::snapshot;
use crate::printer::Printer;
use crate::rows::{Column, ColumnType, ResultSet, Value};
use crate::settings::Settings;

/// The Organization as tables: OU paths, accounts and their tags, for `query`, `check --ou` and
/// `report` (needs the management or a delegated-administrator account).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb org snapshot\n  cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad org snapshot   # and upload for Athena\n  cs-cmdb query coverage --source /data/clonesquad"
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Read the Organization (OU tree, accounts, account tags) into the local cache, and upload
    /// it under --org-path for Athena when a metadata path is known.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub org_path: OrgPathArg,

    /// Keep the snapshot local: do not upload it for Athena.
    #[arg(long)]
    pub no_upload: bool,

    /// Cache root; the snapshot goes to <root>/org [default: <cache dir>/cs-cmdb].
    #[arg(long, env = "CS_CMDB_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    match args.action {
        Action::Snapshot(args) => snapshot(args, settings, printer).await,
    }
}

async fn snapshot(
    args: SnapshotArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let upload_to = if args.no_upload {
        None
    } else {
        args.org_path.resolve(settings.metadata_path.as_ref())?
    };
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let taken = snapshot::take(&config, crate::time::now()?.naive_utc()).await?;
    let dir = snapshot::local_dir(&settings.cache_root(args.cache_dir));
    taken.write(&dir)?;
    if let Some(path) = &upload_to {
        taken.upload(&config, path).await?;
    }
    let info = &taken.info;
    let rs = ResultSet {
        columns: vec![
            Column::new("organization_id", ColumnType::String),
            Column::new("management_account", ColumnType::String),
            Column::new("accounts", ColumnType::Integer),
            Column::new("units", ColumnType::Integer),
            Column::new("taken_at", ColumnType::Timestamp),
            Column::new("local_dir", ColumnType::String),
            Column::new("uploaded_to", ColumnType::String),
        ],
        rows: vec![vec![
            Value::Str(info.organization_id.clone()),
            Value::Str(info.management_account.clone()),
            Value::Int(i64::try_from(info.accounts).unwrap_or(i64::MAX)),
            Value::Int(i64::try_from(info.units).unwrap_or(i64::MAX)),
            Value::Timestamp(info.taken_at),
            Value::Str(dir.display().to_string()),
            upload_to.map_or(Value::Null, |p| Value::Str(p.to_string())),
        ]],
    };
    printer.rows(&rs)?;
    Ok(Outcome::Success)
}
