//! `cs-cmdb report`: the fleet as one self-contained HTML page (see [`crate::report`]): the
//! canned queries run on the chosen engine, the Organization snapshot for OU context, the
//! backups of a local tree, a policy's violations, and the history of earlier runs.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::commands::check::{self, Inputs};
use crate::commands::history_args::HistoryArgs;
use crate::commands::org_args::OrgArgs;
use crate::commands::source_args::SourceArgs;
use crate::engine::{Engine, QueryEngine};
use crate::exit::Outcome;
use crate::printer::Printer;
use crate::queries::{self, Query};
use crate::report::{self, Violation, Violations};
use crate::rows::ResultSet;
use crate::settings::Settings;

/// Write the fleet report: ONE self-contained HTML page (charts, sortable and searchable
/// deployments table, violations with --policy, the trend of earlier runs), readable offline.
///
/// Every figure comes from a canned query, so the page and `cs-cmdb query` agree. Each run adds
/// one summary line to the history file the page charts (the last 90 days).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cs-cmdb report --out fleet.html --source examples\n  cs-cmdb report --out fleet.html --source s3://my-cmdb-bucket/clonesquad --policy policy.toml"
)]
pub struct Args {
    /// Write the page here.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Also evaluate this compliance policy and show its violations by rule and OU.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    #[command(flatten)]
    pub history: HistoryArgs,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub org: OrgArgs,
}

/// The canned query `name` run with its default parameters.
async fn canned(
    engine: &Engine,
    registry: &std::collections::BTreeMap<String, Query>,
    name: &str,
) -> anyhow::Result<ResultSet> {
    let query = registry
        .get(name)
        .with_context(|| format!("the canned query `{name}` is missing"))?;
    let params = query.bind_values(&[])?;
    engine
        .run(&query.sql, &params)
        .await
        .with_context(|| format!("query `{name}` failed on the {} engine", engine.name()))
}

pub async fn run(args: Args, settings: &Settings, printer: &Printer) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let registry = queries::registry(settings.queries_dir.as_deref())?;
    let mut options = args.source.options(settings, None, false);
    let org = args.org.context(settings, printer, &options).await?;
    let scope = args.org.scope(org.as_ref())?;
    let snapshot = org
        .as_ref()
        .map(|o| crate::org::snapshot::load(&o.dir))
        .transpose()?;
    let mut notes = Vec::new();
    if org.is_none() {
        notes.push(
            "No Organization snapshot: OU context is omitted (accounts show under \"(not in the snapshot)\"). Run `cs-cmdb org snapshot` with the management account's credentials to add it."
                .to_string(),
        );
    }
    options.org_dir = org.as_ref().map(|o| o.dir.clone());
    let opened = crate::engine::open(&options, &settings.aws, Arc::new(printer.clone())).await?;
    let engine = &opened.engine;
    let now = crate::time::now()?;

    // The page's queries side by side: one engine brings each table up to date once, with
    // the columns they all read.
    let page = [
        "deployments-by-ou",
        "stale",
        "versions",
        "freshness",
        "coverage-map",
        "coverage",
    ];
    let statements: Vec<crate::engine::Statement> = page
        .iter()
        .filter_map(|name| registry.get(*name))
        .map(|q| Ok((q.sql.clone(), q.bind_values(&[])?)))
        .collect::<anyhow::Result<_>>()?;
    engine.expect(&statements).await;
    let (mut deployments, mut stale, versions, freshness, coverage_map, coverage) = tokio::try_join!(
        canned(engine, &registry, "deployments-by-ou"),
        canned(engine, &registry, "stale"),
        canned(engine, &registry, "versions"),
        canned(engine, &registry, "freshness"),
        canned(engine, &registry, "coverage-map"),
        async {
            match &org {
                Some(_) => canned(engine, &registry, "coverage").await.map(Some),
                None => Ok(None),
            }
        },
    )?;
    if let Some(scope) = &scope {
        for rs in [&mut deployments, &mut stale] {
            let at = scope.account_column(&rs.columns)?;
            scope.retain(at, &mut rs.rows);
        }
        notes.push(format!(
            "Scoped to --ou {}: the versions, freshness and coverage figures cover the whole fleet.",
            scope.ous.join(", ")
        ));
    }
    let backups = match (&engine, options.source.as_deref()) {
        (Engine::Local(_), Some(source)) => {
            let dir = if source.starts_with("s3://") {
                let path: crate::bucket::S3Path = source.parse()?;
                crate::mirror::mirror_dir(&options.cache_root, &path)
            } else {
                PathBuf::from(source)
            };
            let backups_dir = crate::bucket::layout::backups_dir(&dir);
            if backups_dir.is_dir() {
                Ok(report::backup_bands(&backups_dir, &deployments, now)?)
            } else {
                Err(format!(
                    "No backups folder under {}: backup freshness is shown for a copy of <MetadataAndBackupS3Path> holding backups/ (or --source s3://...).",
                    dir.display()
                ))
            }
        }
        _ => Err("Backup freshness is read from a local copy of <MetadataAndBackupS3Path> (--source DIR or s3://...), not from Athena.".to_string()),
    };
    let violations = match &args.policy {
        None => None,
        Some(path) => {
            let policy = crate::check::policy::load(path)?;
            let evaluated = check::evaluate(
                &policy,
                engine,
                &Inputs {
                    settings,
                    source: options.source.as_deref(),
                    tree: opened.tree.as_deref(),
                    scope: scope.as_ref(),
                    snapshot: snapshot.as_ref(),
                    strict: false,
                    skew: chrono::Duration::minutes(5),
                },
                printer,
            )
            .await?;
            let ou_paths = snapshot.as_ref().map(|s| s.ou_paths()).unwrap_or_default();
            let check_report = crate::check::report::Report {
                policy: &policy,
                results: evaluated.results,
                fail_on: crate::check::policy::Severity::Low,
                deployments: evaluated.deployments,
                ou_paths: ou_paths.clone(),
            };
            let rows = check_report
                .results
                .iter()
                .flat_map(|r| {
                    let ou_paths = &ou_paths;
                    r.violations.iter().map(move |v| Violation {
                        rule: r.rule.name.clone(),
                        severity: r.rule.severity.as_str().to_string(),
                        ou: v
                            .subject
                            .account
                            .as_ref()
                            .and_then(|a| ou_paths.get(a))
                            .cloned()
                            .unwrap_or_default(),
                        account: v.subject.account.clone().unwrap_or_default(),
                        region: v.subject.region.clone().unwrap_or_default(),
                        group: v.subject.group.clone().unwrap_or_default(),
                        detail: v.detail.clone(),
                    })
                })
                .collect();
            Some(Violations {
                policy: path.display().to_string(),
                summary: check_report.summary(),
                rows,
            })
        }
    };
    let history = args
        .history
        .store(
            settings,
            printer,
            &options.cache_root,
            options.source.as_deref(),
        )
        .await?;
    let mut inputs = report::Inputs {
        generated_at: now,
        source: options
            .source
            .clone()
            .unwrap_or_else(|| "Athena".to_string()),
        engine: engine.name().to_string(),
        org: org.as_ref().map(|o| o.info.clone()),
        notes,
        versions,
        freshness,
        coverage_map,
        coverage,
        deployments,
        stale,
        backups,
        violations,
        history: Vec::new(),
    };
    if let Some(store) = &history {
        // This run is the newest point of its own trend.
        store
            .append(&report::history_entry(&inputs, "report")?)
            .await?;
        let (entries, unreadable) = store.recent(now).await?;
        if unreadable > 0 {
            printer.warn(&format!(
                "history {store}: {unreadable} unreadable line(s) skipped"
            ));
        }
        inputs.history = entries;
    }
    let page = report::render(&inputs)?;
    write_atomically(&args.out, page.as_bytes())?;
    printer.summary(&format!(
        "wrote {} ({} KiB): {} deployments{}",
        args.out.display(),
        page.len().div_ceil(1024),
        inputs.deployments.rows.len(),
        if printer.interactive() {
            format!(" in {} ms", started.elapsed().as_millis())
        } else {
            String::new()
        }
    ));
    Ok(if opened.mirror_incomplete {
        printer.warn(
            "some objects could not be mirrored (see above): the page may use their previous copy",
        );
        Outcome::Failures
    } else {
        Outcome::Success
    })
}

/// Write beside the target, then rename: a reader never sees half a page.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
