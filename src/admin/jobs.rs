//! Sync jobs: listing them, and retrying the ones that gave up.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{decode_cursor, one_of, AdminError, Page};

pub const STATUSES: [&str; 5] = ["pending", "running", "done", "skipped", "dead"];
/// Jobs that ended without syncing and may be tried again.
pub const RETRYABLE: [&str; 2] = ["dead", "skipped"];
/// A bulk retry resets this many jobs per statement, so no lock is held for long.
const RETRY_BATCH: i64 = 1000;

#[derive(Debug, Default)]
pub struct JobFilter {
    pub status: Option<String>,
    pub finding: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub status: String,
    pub finding_id: Option<String>,
    /// The delivery it applies; `None` for a reconciliation (a resync, a snapshot, a person's
    /// reopen), which drives the finding as it stands.
    pub delivery_id: Option<String>,
    pub event_type: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of jobs, newest first.
pub async fn list(pool: &PgPool, filter: &JobFilter) -> Result<Page<JobRow>, AdminError> {
    if let Some(status) = &filter.status {
        one_of("status", status, &STATUSES)?;
    }
    let before = match filter.cursor.as_deref().map(decode_cursor).transpose()? {
        Some(key) => Some(
            key.parse::<i64>()
                .map_err(|_| AdminError::BadRequest("cursor: not one this service gave".into()))?,
        ),
        None => None,
    };
    let rows = select(pool, filter, before, None).await?;
    Ok(Page::of(rows, filter.limit, |j: &JobRow| j.id.to_string()))
}

/// A dead or skipped job goes back to pending with its attempts reset, due now.
#[tracing::instrument(skip_all, fields(job_id = id))]
pub async fn retry(pool: &PgPool, id: i64) -> Result<JobRow, AdminError> {
    let mut tx = pool.begin().await?;
    let retried = sqlx::query_scalar!(
        r#"UPDATE sync_jobs SET status = 'pending', attempts = 0, next_attempt_at = now(),
                  lease_expires_at = NULL, updated_at = now()
           WHERE id = $1 AND status = ANY($2)
           RETURNING id"#,
        id,
        &RETRYABLE.map(String::from)
    )
    .fetch_optional(&mut *tx)
    .await?;
    if retried.is_some() {
        crate::db::notify::notify_work(&mut tx).await?;
    }
    tx.commit().await?;
    let job = get(pool, id).await?;
    match retried {
        Some(_) => {
            tracing::info!(finding = job.finding_id.as_deref().unwrap_or(""), "job retried");
            Ok(job)
        }
        None => Err(AdminError::Conflict(format!(
            "job {id} is {}: only a dead or skipped job can be retried",
            job.status
        ))),
    }
}

pub async fn get(pool: &PgPool, id: i64) -> Result<JobRow, AdminError> {
    let one = JobFilter {
        limit: 1,
        ..Default::default()
    };
    select(pool, &one, None, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AdminError::NotFound(format!("no job {id}")))
}

/// The one query behind `list` and `get`: up to one more row than `filter.limit` (so a page
/// knows whether another follows), older than `before`, or only the job `id`.
async fn select(
    pool: &PgPool,
    filter: &JobFilter,
    before: Option<i64>,
    id: Option<i64>,
) -> Result<Vec<JobRow>, AdminError> {
    Ok(sqlx::query_as!(
        JobRow,
        r#"SELECT j.id, j.status, j.finding_id, j.event_id AS delivery_id, e.event_type AS "event_type?",
                  j.attempts, j.next_attempt_at, j.last_error, j.created_at, j.updated_at
           FROM sync_jobs j LEFT JOIN webhook_events e ON e.id = j.event_id
           WHERE ($1::text IS NULL OR j.status = $1)
             AND ($2::text IS NULL OR j.finding_id = $2)
             AND ($3::bigint IS NULL OR j.id < $3)
             AND ($5::bigint IS NULL OR j.id = $5)
           ORDER BY j.id DESC
           LIMIT $4"#,
        filter.status,
        filter.finding,
        before,
        filter.limit + 1,
        id
    )
    .fetch_all(pool)
    .await?)
}

/// Retries every job with `status` (dead or skipped), of one finding if given, in batches;
/// `progress` hears how many so far. Returns how many were retried.
#[tracing::instrument(skip_all, fields(status = %status, finding = finding.unwrap_or("")))]
pub async fn retry_all(
    pool: &PgPool,
    status: &str,
    finding: Option<&str>,
    mut progress: impl FnMut(u64),
) -> Result<u64, AdminError> {
    one_of("status", status, &RETRYABLE)?;
    let mut retried = 0;
    loop {
        let mut tx = pool.begin().await?;
        let batch = sqlx::query!(
            r#"WITH batch AS (
                   SELECT id FROM sync_jobs
                   WHERE status = $1 AND ($2::text IS NULL OR finding_id = $2)
                   ORDER BY id LIMIT $3
                   FOR UPDATE SKIP LOCKED
               )
               UPDATE sync_jobs j SET status = 'pending', attempts = 0, next_attempt_at = now(),
                      lease_expires_at = NULL, updated_at = now()
               FROM batch WHERE j.id = batch.id"#,
            status,
            finding,
            RETRY_BATCH
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if batch > 0 {
            crate::db::notify::notify_work(&mut tx).await?;
        }
        tx.commit().await?;
        retried += batch;
        progress(retried);
        if batch < RETRY_BATCH as u64 {
            break;
        }
    }
    tracing::info!(retried, "jobs retried");
    Ok(retried)
}

/// How many jobs a bulk retry would take: what the CLI's progress bar counts to.
pub async fn count(pool: &PgPool, status: &str, finding: Option<&str>) -> Result<u64, AdminError> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM sync_jobs WHERE status = $1 AND ($2::text IS NULL OR finding_id = $2)"#,
        status,
        finding
    )
    .fetch_one(pool)
    .await?;
    Ok(n as u64)
}
