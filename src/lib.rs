//! `cs-cmdb`: governance CMDB for CloneSquad deployments across an AWS Organization.
//!
//! The binary is a thin shell over [`run`]; every command lives in a module with one job.

// The sample generator's realistic EC2 records are deep `json!` literals.
#![recursion_limit = "256"]

pub mod aws;
pub mod backups;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod engine;
pub mod errors;
pub mod exit;
pub mod logging;
pub mod mirror;
pub mod org;
pub mod queries;
mod query_cmd;
pub mod render;
pub mod sample;
pub mod settings;
pub mod text;
pub mod whoami;

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::exit::Outcome;
use crate::settings::Settings;

/// Run one command line to its end.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Completions { shell } => {
            // clap_complete panics on a failed write: render into memory, then write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cs-cmdb", &mut script);
            write_stdout(&script)?;
            Ok(Outcome::Success)
        }
        Command::Man { out_dir } => write_man(out_dir.as_deref()).map(|()| Outcome::Success),
        command => {
            let settings = Settings::load(&cli.global)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(dispatch(command, settings))
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<Outcome> {
    match command {
        Command::Accounts(args) => {
            let config = aws::sdk_config(&settings.aws).await?;
            let filter = org::accounts::AccountFilter {
                ous: args.ous,
                exclude: args.exclude.into_iter().collect(),
                include_suspended: args.include_suspended,
            };
            let accounts = org::accounts::list(&config, &filter).await?;
            let rs = org::accounts::to_result_set(&accounts);
            render::to_stdout(&rs, settings.format, settings.color)?;
            tracing::info!("{} accounts", accounts.len());
            Ok(Outcome::Success)
        }
        Command::Whoami => whoami::run(&settings).await,
        Command::Query(args) => query_cmd::run(args, &settings).await,
        Command::Install(args) => {
            let path = settings.require_metadata_path()?;
            let options = settings.athena(&args.athena, None);
            if args.print {
                let script = catalog::install::script(&options.database, path)?;
                write_stdout(script.as_bytes())?;
                return Ok(Outcome::Success);
            }
            let config = aws::sdk_config(&settings.aws).await?;
            let athena = engine::athena::AthenaEngine::new(&config, options);
            let report = catalog::install::install(&config, &athena, path, args.replace).await?;
            eprintln!(
                "database {}: {}; tables created: {}, replaced: {}, unchanged: {}, outdated: {}",
                athena.options().database,
                if report.database_created {
                    "created"
                } else {
                    "exists"
                },
                report.created.len(),
                report.replaced.len(),
                report.unchanged.len(),
                report.outdated.len()
            );
            for (table, why) in &report.outdated {
                eprintln!(
                    "warning: {table} differs from the shipped DDL ({why}): run `cs-cmdb install --replace` to migrate it (its partitions are registered again)"
                );
            }
            if !args.no_partitions {
                print_partition_reports(
                    &catalog::install::sync_partitions(
                        &config,
                        &athena.options().database,
                        path,
                        &[],
                        false,
                    )
                    .await?,
                );
            }
            // Tables that still need `--replace` are a finding, not a success.
            Ok(if report.outdated.is_empty() {
                Outcome::Success
            } else {
                Outcome::Failures
            })
        }
        Command::Partitions(args) => {
            let path = settings.require_metadata_path()?;
            let options = settings.athena(&args.athena, None);
            catalog::install::validate_database(&options.database)?;
            let config = aws::sdk_config(&settings.aws).await?;
            if args.repair {
                let athena = engine::athena::AthenaEngine::new(&config, options);
                let n = catalog::install::repair(&athena, &args.tables).await?;
                eprintln!("MSCK REPAIR TABLE run on {n} table(s)");
            } else {
                let reports = catalog::install::sync_partitions(
                    &config,
                    &options.database,
                    path,
                    &args.tables,
                    args.prune,
                )
                .await?;
                print_partition_reports(&reports);
                if reports.iter().any(|(_, r)| !r.prune_errors.is_empty()) {
                    return Ok(Outcome::Failures);
                }
            }
            Ok(Outcome::Success)
        }
        Command::Check(args) => check::run(args, &settings).await,
        Command::Discover(args) => org::commands::discover(args, &settings).await,
        Command::Export(args) => org::commands::export(args, &settings).await,
        Command::Mirror(args) => mirror::run(args, &settings).await,
        Command::Backups(args) => backups::run(args, &settings).await,
        Command::Sample(args) => {
            let spec = sample::SampleSpec {
                deployments: args.deployments,
                instances: args.instances,
                seed: args.seed,
                now: query_cmd::now()?.naive_utc(),
            };
            let stats = sample::generate(&args.out, &spec)?;
            eprintln!(
                "wrote {} deployments, {} instances, {} files under {}",
                stats.deployments,
                stats.instances,
                stats.files,
                args.out.display()
            );
            Ok(Outcome::Success)
        }
        Command::Completions { .. } | Command::Man { .. } => unreachable!("handled before"),
    }
}

fn write_man(out_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let command = Cli::command();
    match out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            write_stdout(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut pages = vec![("cs-cmdb".to_string(), command.clone())];
            for sub in command.get_subcommands() {
                let name = format!("cs-cmdb-{}", sub.get_name());
                pages.push((name.clone(), sub.clone().name(name)));
            }
            for (name, page) in pages {
                let path = dir.join(format!("{name}.1"));
                let mut file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                clap_mangen::Man::new(page).render(&mut file)?;
            }
        }
    }
    Ok(())
}

fn print_partition_reports(reports: &[(String, catalog::partitions::SyncReport)]) {
    for (table, r) in reports {
        eprintln!(
            "{table}: {} partition(s) in the bucket, {} in the catalog; added {}, pruned {} ({} Glue call(s))",
            r.in_bucket, r.in_catalog, r.added, r.pruned, r.glue_calls
        );
        for error in &r.prune_errors {
            eprintln!("error: {error}");
        }
    }
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
