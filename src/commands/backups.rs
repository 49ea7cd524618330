//! `cs-cmdb backups`: one row per deployment (latest backups, age, archive size, missing and
//! stale flags), whether a lifecycle rule bounds the archives, and optionally a restore check.

use crate::backups;
use crate::bucket::{layout, lifecycle};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::settings::Settings;

/// One row per deployment: latest backups, their age, the archive's size; and whether a
/// lifecycle rule bounds the archive.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Required: Needs --metadata-path (or CS_CMDB_METADATA_PATH, or metadata-path in cs-cmdb.toml).\n\nExamples:\n  cs-cmdb --metadata-path s3://my-cmdb-bucket/clonesquad backups\n  cs-cmdb backups --stale-hours 48 --output csv"
)]
pub struct Args {
    /// Download every latest backup and confirm it parses as YAML (exit 1 when one is missing or does not).
    #[arg(long)]
    pub restore_check: bool,

    /// A deployment whose latest backup is this many hours old (or older) is flagged `stale`.
    #[arg(
        long,
        default_value_t = 24,
        value_name = "HOURS",
        allow_negative_numbers = true,
        value_parser = hours
    )]
    pub stale_hours: i64,

    /// Parallel S3 calls (listings and downloads).
    #[arg(long, default_value_t = crate::bucket::list::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = settings.require_metadata_path()?;
    let config = crate::aws::sdk_config(&settings.aws, printer).await?;
    let client = crate::aws::s3_client(&config);
    let now = crate::time::now()?;
    let concurrency = usize::from(args.concurrency.max(1));
    let inventory = backups::inventory_with(&client, path, concurrency).await?;

    let restore = if args.restore_check {
        Some(backups::restore_checks(&client, &path.bucket, &inventory, concurrency).await)
    } else {
        None
    };
    let rs = backups::to_result_set(&inventory, now, args.stale_hours, restore.as_deref());
    printer.rows(&rs)?;

    let archives = layout::backups_prefix(path);
    let verdict = lifecycle::archives(&client, path, Some(&inventory.archive_keys), concurrency)
        .await
        .map(|(_, verdict)| verdict.rule_ids());
    match verdict {
        Ok(Some(id)) => printer.summary(&format!(
            "lifecycle: rule `{id}` of bucket `{}` expires the backup archives under {archives}",
            path.bucket
        )),
        Ok(None) => printer.summary(&format!(
            "lifecycle: NO rule of bucket `{}` expires the backup archives under {archives}: they grow forever; add an enabled rule with an Expiration on that prefix (as CloneSquad recommends)",
            path.bucket
        )),
        Err(e) => printer.warn(&format!("lifecycle: {}", crate::errors::report(&e.into()))),
    }
    {
        let missing = inventory
            .deployments
            .iter()
            .filter(|d| d.latest_configuration.is_none() || d.latest_scheduler.is_none())
            .count();
        let archived: u64 = inventory.deployments.iter().map(|d| d.archive_bytes).sum();
        printer.summary(&format!(
            "{} deployments, {missing} with a missing latest backup, {} archive objects ({})",
            inventory.deployments.len(),
            inventory.archive_keys.len(),
            crate::mirror::human_bytes(archived)
        ));
    }
    let failed = restore
        .as_ref()
        .map_or(0, |r| r.iter().filter(|s| *s != "ok").count());
    if failed > 0 {
        printer.summary(&format!(
            "restore check: {failed} deployment(s) cannot be restored from their latest backups"
        ));
        return Ok(Outcome::Failures);
    }
    Ok(Outcome::Success)
}

/// A number of hours, 0 or more (a negative one is read as a value, not as an unknown flag).
fn hours(text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(h) if h >= 0 => Ok(h),
        Ok(_) => Err("the age of a stale backup is 0 hours or more".to_string()),
        Err(_) => Err("a whole number of hours is expected".to_string()),
    }
}
