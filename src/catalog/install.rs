//! `cs-cmdb install` and `cs-cmdb partitions`: the CloneSquad tables on Athena in one command.

use std::fmt::Write as _;

use anyhow::Context;
use aws_config::SdkConfig;

use crate::aws::{describe, error_code};
use crate::bucket::S3Path;
use crate::catalog::ddl::{self, TableDef};
use crate::catalog::partitions::{self, SyncReport};
use crate::engine::athena::AthenaEngine;

/// A database name Athena accepts unquoted.
pub fn validate_database(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    anyhow::ensure!(
        valid,
        "`{name}` is not a valid Athena database name (lowercase letters, digits and _)"
    );
    Ok(())
}

/// The statements `install` runs, in order, for review (`install --print`).
pub fn script(database: &str, path: &S3Path) -> anyhow::Result<String> {
    validate_database(database)?;
    let mut out = String::new();
    let _ = writeln!(out, "CREATE DATABASE IF NOT EXISTS {database};\n");
    for table in ddl::tables()? {
        let _ = writeln!(out, "{};\n", table.render(&path.to_string()).trim_end());
    }
    Ok(out)
}

/// What `install` did.
#[derive(Debug, Default)]
pub struct InstallReport {
    pub database_created: bool,
    pub created: Vec<String>,
    pub replaced: Vec<String>,
    pub unchanged: Vec<String>,
    /// Tables left alone although they differ from `ddl/` (name, what differs): `--replace`
    /// migrates them.
    pub outdated: Vec<(String, String)>,
}

async fn glue_has_database(glue: &aws_sdk_glue::Client, database: &str) -> anyhow::Result<bool> {
    match glue.get_database().name(database).send().await {
        Ok(_) => Ok(true),
        Err(e) if error_code(&e) == Some("EntityNotFoundException") => Ok(false),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read database {database} from Glue: {}",
            describe(&e)
        )),
    }
}

/// The table as the catalog holds it, if it exists.
async fn glue_table(
    glue: &aws_sdk_glue::Client,
    database: &str,
    table: &str,
) -> anyhow::Result<Option<aws_sdk_glue::types::Table>> {
    match glue
        .get_table()
        .database_name(database)
        .name(table)
        .send()
        .await
    {
        Ok(out) => Ok(out.table),
        Err(e) if error_code(&e) == Some("EntityNotFoundException") => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read table {database}.{table} from Glue: {}",
            describe(&e)
        )),
    }
}

/// Create the database and the six tables; existing ones are left alone unless `replace`.
pub async fn install(
    config: &SdkConfig,
    athena: &AthenaEngine,
    path: &S3Path,
    replace: bool,
) -> anyhow::Result<InstallReport> {
    let database = athena.options().database.clone();
    validate_database(&database)?;
    let glue = aws_sdk_glue::Client::new(config);
    let mut report = InstallReport::default();
    if !glue_has_database(&glue, &database).await? {
        athena
            .execute(&format!("CREATE DATABASE IF NOT EXISTS {database}"), false)
            .await
            .with_context(|| format!("cannot create database {database}"))?;
        report.database_created = true;
    }
    for table in ddl::tables()? {
        let installed = glue_table(&glue, &database, &table.name).await?;
        let exists = installed.is_some();
        if let (Some(installed), false) = (&installed, replace) {
            match differences(&table, installed) {
                Some(why) => report.outdated.push((table.name.clone(), why)),
                None => report.unchanged.push(table.name.clone()),
            }
            continue;
        }
        if exists {
            athena
                .execute(&format!("DROP TABLE IF EXISTS {}", table.name), true)
                .await
                .with_context(|| format!("cannot drop {database}.{}", table.name))?;
        }
        athena
            .execute(&table.render(&path.to_string()), true)
            .await
            .with_context(|| format!("cannot create {database}.{}", table.name))?;
        if exists {
            report.replaced.push(table.name.clone());
        } else {
            report.created.push(table.name.clone());
        }
    }
    Ok(report)
}

/// How an installed table differs from the shipped DDL (SerDe, its timestamp formats, columns
/// and their types), or `None` when it matches.
pub fn differences(table: &TableDef, installed: &aws_sdk_glue::types::Table) -> Option<String> {
    let descriptor = installed.storage_descriptor();
    let serde = descriptor.and_then(|d| d.serde_info());
    let library = serde
        .and_then(|s| s.serialization_library())
        .unwrap_or_default();
    if library != table.serde {
        return Some(format!(
            "SerDe {} instead of {}",
            if library.is_empty() {
                "(none)"
            } else {
                library
            },
            table.serde
        ));
    }
    let formats = serde
        .and_then(|s| s.parameters())
        .and_then(|p| p.get("timestamp.formats"))
        .map(String::as_str);
    if formats != table.serde_property("timestamp.formats") {
        return Some("other timestamp.formats".into());
    }
    let normal = |ty: &str| ty.to_ascii_lowercase().replace([' ', '`', '\n'], "");
    let columns: Vec<(String, String)> = descriptor
        .map(|d| d.columns())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c.name().to_ascii_lowercase(),
                normal(c.r#type().unwrap_or_default()),
            )
        })
        .collect();
    let wanted: Vec<(String, String)> = table
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.catalog_name()))
        .collect();
    if columns == wanted {
        return None;
    }
    let changed: Vec<&str> = wanted
        .iter()
        .filter(|w| !columns.contains(w))
        .map(|(name, _)| name.as_str())
        .chain(
            columns
                .iter()
                .filter(|c| !wanted.iter().any(|w| w.0 == c.0))
                .map(|(name, _)| name.as_str()),
        )
        .collect();
    Some(if changed.is_empty() {
        "columns in another order".into()
    } else {
        format!("columns added, removed or retyped: {}", changed.join(", "))
    })
}

/// Register (and with `prune`, drop) partitions of the chosen tables (all when empty).
pub async fn sync_partitions(
    config: &SdkConfig,
    database: &str,
    path: &S3Path,
    only: &[String],
    prune: bool,
) -> anyhow::Result<Vec<(String, SyncReport)>> {
    let mut reports = Vec::new();
    for table in selected(only)? {
        let report = partitions::sync(config, path, database, &table, prune)
            .await
            .with_context(|| format!("partitions of {database}.{}", table.name))?;
        reports.push((table.name.clone(), report));
    }
    Ok(reports)
}

/// `MSCK REPAIR TABLE` for the chosen tables: the slow full scan, on request only.
pub async fn repair(athena: &AthenaEngine, only: &[String]) -> anyhow::Result<usize> {
    let tables = selected(only)?;
    for table in &tables {
        athena
            .execute(&format!("MSCK REPAIR TABLE {}", table.name), true)
            .await
            .with_context(|| format!("MSCK REPAIR TABLE {} failed", table.name))?;
    }
    Ok(tables.len())
}

fn selected(only: &[String]) -> anyhow::Result<Vec<TableDef>> {
    let all = ddl::tables()?;
    if only.is_empty() {
        return Ok(all);
    }
    only.iter()
        .map(|name| {
            let wanted = name.to_ascii_lowercase();
            all.iter()
                .find(|t| t.name == wanted || t.name == format!("clonesquad_{wanted}"))
                .cloned()
                .with_context(|| {
                    format!(
                        "no table `{name}`; the tables are {}",
                        all.iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}
