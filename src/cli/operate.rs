//! The operator commands: `status`, `jobs`, `retry`, `replay`, `resync`. Each does what the admin
//! API route of the same name does (`admin/`), against the database in the settings.
use std::io::IsTerminal;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::admin::status::{next_write_in, span, time};
use crate::admin::{self, deliveries, findings, jobs, AdminError};
use crate::configuration::{GitHubAuth, Settings};
use crate::db;

/// For the commands that change the database: it is brought up to date first, as by `serve`.
async fn pool(settings: &Settings) -> anyhow::Result<PgPool> {
    db::prepare(&settings.database).await?;
    Ok(db::pool(&settings.database)?)
}

/// For the commands that only read: the database as it is, never created nor migrated.
fn pool_as_is(settings: &Settings) -> anyhow::Result<PgPool> {
    Ok(db::pool(&settings.database)?)
}

/// What `status` says of the schema when it is behind this binary, which only `migrate` (or a
/// start of the service) changes.
fn schema_behind(applied: usize) -> Option<String> {
    let embedded = db::migration_count();
    (applied < embedded).then(|| {
        format!(
            "behind this binary: {applied} of its {embedded} migrations applied; `deepsource-sync migrate` (or starting the service) applies the rest"
        )
    })
}

/// An admin refusal reads as one line naming what is wrong.
fn refused(error: AdminError) -> anyhow::Error {
    match error {
        AdminError::Database(e) => anyhow::Error::new(e).context("the database failed"),
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let pool = pool_as_is(settings)?;
    let applied = db::migrations_applied(&pool)
        .await
        .context("could not read the database")?;
    let behind = schema_behind(applied);
    let status = match admin::status::status(&pool, &settings.github).await {
        Ok(status) => status,
        Err(error) => {
            let error = refused(error);
            return Err(match &behind {
                Some(behind) => error.context(format!("the schema is {behind}")),
                None => error,
            });
        }
    };
    if json {
        let mut report = serde_json::to_value(&status)?;
        report["schema"] = serde_json::json!({
            "current": behind.is_none(),
            "migrations_applied": applied,
            "migrations_embedded": db::migration_count(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(behind) = &behind {
        println!("{:<10} {behind}", "schema");
    }
    let now = Utc::now();
    let i = &status.intake;
    println!(
        "{:<10} {} events ({} in the last hour, {} in the last day), {} conflicting bodies; last {}",
        "intake",
        i.events,
        i.last_hour,
        i.last_day,
        i.conflicts,
        i.last_received_at.map_or("never".into(), |t| ago(now, t))
    );
    let q = &status.queue;
    println!(
        "{:<10} {}; {} findings waiting{}",
        "queue",
        counts(&q.jobs),
        q.findings_waiting,
        q.oldest_pending_age_seconds
            .map_or(String::new(), |s| format!(", the oldest queued {} ago", span(s)))
    );
    if status.github.is_empty() {
        println!("{:<10} no write made yet", "github");
    }
    for budget in &status.github {
        let next = match next_write_in(budget, now) {
            Some(wait) => format!("next write in {}", span(wait.as_secs_f64())),
            None => "a write may go now".to_owned(),
        };
        let blocked = budget.blocked_until.map_or(String::new(), |t| {
            format!(" (GitHub asked for a pause until {})", t.format("%H:%M:%S UTC"))
        });
        println!(
            "{:<10} {}: {} writes left this hour ({} made), {next}{blocked}",
            "github", budget.key, budget.writes_left_this_hour, budget.writes_last_hour
        );
    }
    if let Some(eta) = status.drain_eta_seconds {
        println!("{:<10} the queue drains in about {}", "", span(eta));
    }
    println!("{:<10} {}", "findings", counts(&status.findings));
    if status.snapshots.is_empty() {
        println!(
            "{:<10} none taken yet (DEEPSOURCE_API_TOKEN, `backfill`)",
            "snapshots"
        );
    }
    for snapshot in &status.snapshots {
        println!(
            "{:<10} {}: {}",
            "snapshot",
            snapshot.repository,
            ago(now, snapshot.at)
        );
    }
    for overview in &status.overviews {
        println!("{:<10} {}", "overview", overview.describe());
    }
    if status.workers.is_empty() {
        println!("{:<10} none running", "workers");
    }
    for w in &status.workers {
        println!(
            "{:<10} {} (pid {} on {}): {}{} since {}",
            "worker",
            w.process,
            w.pid,
            w.host,
            w.mode,
            w.reason.as_ref().map_or(String::new(), |r| format!(" ({r})")),
            ago(now, w.since)
        );
    }
    Ok(())
}

pub async fn jobs(
    settings: &Settings,
    status: Option<String>,
    finding: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    let pool = pool_as_is(settings)?;
    let filter = jobs::JobFilter {
        status,
        finding,
        cursor: None,
        limit: admin::limit(Some(limit)).map_err(refused)?,
    };
    let page = jobs::list(&pool, &filter).await.map_err(refused)?;
    if page.items.is_empty() {
        println!("no job");
        return Ok(());
    }
    println!(
        "{:>8}  {:<8}  {:>8}  {:<28}  {:<24}  last error",
        "id", "status", "attempts", "finding", "delivery"
    );
    for job in &page.items {
        println!(
            "{:>8}  {:<8}  {:>8}  {:<28}  {:<24}  {}",
            job.id,
            job.status,
            job.attempts,
            job.finding_id.as_deref().unwrap_or("-"),
            job.delivery_id.as_deref().unwrap_or("(reconciliation)"),
            job.last_error.as_deref().unwrap_or("")
        );
    }
    if page.next_cursor.is_some() {
        println!("(more: --limit {})", admin::MAX_LIMIT);
    }
    Ok(())
}

pub async fn retry(settings: &Settings, job: Option<i64>, finding: Option<String>) -> anyhow::Result<()> {
    let pool = pool(settings).await?;
    if let Some(id) = job {
        let job = jobs::retry(&pool, id).await.map_err(refused)?;
        println!(
            "job {} is pending again ({})",
            job.id,
            job.finding_id.as_deref().unwrap_or("no finding")
        );
        return Ok(());
    }
    let total = jobs::count(&pool, "dead", finding.as_deref())
        .await
        .map_err(refused)?;
    let bar = Progress::new(total, "dead jobs retried");
    let retried = jobs::retry_all(&pool, "dead", finding.as_deref(), |n| bar.at(n))
        .await
        .map_err(refused)?;
    bar.finish();
    println!("{retried} dead jobs are pending again");
    Ok(())
}

pub async fn replay(settings: &Settings, since: &str, event_type: Option<&str>) -> anyhow::Result<()> {
    let since = admin::parse_since(since).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let pool = pool(settings).await?;
    let ids = deliveries::replayable_since(&pool, since, event_type)
        .await
        .map_err(refused)?;
    let bar = Progress::new(ids.len() as u64, "deliveries replayed");
    let (mut replayed, mut passed) = (0u64, 0u64);
    for (n, id) in ids.iter().enumerate() {
        match deliveries::replay(&pool, id).await {
            Ok(_) => replayed += 1,
            // Claimed by a worker since it was listed: it is being applied anyway.
            Err(AdminError::Conflict(_)) => passed += 1,
            Err(other) => return Err(refused(other)),
        }
        bar.at(n as u64 + 1);
    }
    bar.finish();
    println!(
        "{replayed} deliveries received since {} queued again{}",
        time(since),
        match passed {
            0 => String::new(),
            n => format!(" ({n} were being applied already)"),
        }
    );
    Ok(())
}

pub async fn resync(settings: &Settings, finding: &str) -> anyhow::Result<()> {
    let pool = pool(settings).await?;
    let resync = findings::resync(&pool, finding).await.map_err(refused)?;
    if matches!(settings.github.auth, GitHubAuth::DryRun) {
        eprintln!(
            "note: no GitHub credentials are set here; a worker without them only records what it would do"
        );
    }
    println!(
        "finding {finding}: job {} queued ahead of other work{}",
        resync.job_id,
        match resync.relinked {
            true => "; its deleted issue is replaced by a new one",
            false => "",
        }
    );
    Ok(())
}

/// A bar on a terminal, a line every tenth of the way otherwise (a log, a pipe).
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    what: &'static str,
}

impl Progress {
    fn new(total: u64, what: &'static str) -> Self {
        let bar = (std::io::stderr().is_terminal() && total > 0).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(what);
            bar
        });
        Self { bar, total, what }
    }

    fn at(&self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.total >= 10 && done.is_multiple_of(self.total / 10) => {
                eprintln!("{done} of {} {}", self.total, self.what)
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn counts(pairs: &[(String, i64)]) -> String {
    pairs
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    format!("{} ({} ago)", time(at), span((now - at).num_seconds() as f64))
}
