//! The delivery log: DeepSource's events as stored, what became of each, and replaying them.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{decode_cursor, AdminError, Page};

#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub event_type: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// The sync job of a delivery; events that need no sync (analysis runs, …) have none.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryJob {
    pub id: i64,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub event_time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Bytes of the stored body; `None` once retention deleted it.
    pub size: Option<i32>,
    pub body_deleted_at: Option<DateTime<Utc>>,
    pub finding_id: Option<String>,
    pub job: Option<DeliveryJob>,
}

struct Row {
    id: String,
    event_type: String,
    event_time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    size: Option<i32>,
    body_deleted_at: Option<DateTime<Utc>>,
    finding_id: Option<String>,
    job_id: Option<i64>,
    job_status: Option<String>,
    job_attempts: Option<i32>,
    job_last_error: Option<String>,
}

impl From<Row> for DeliveryRow {
    fn from(r: Row) -> Self {
        let job = match (r.job_id, r.job_status, r.job_attempts) {
            (Some(id), Some(status), Some(attempts)) => Some(DeliveryJob {
                id,
                status,
                attempts,
                last_error: r.job_last_error,
            }),
            _ => None,
        };
        Self {
            id: r.id,
            event_type: r.event_type,
            event_time: r.event_time,
            received_at: r.received_at,
            size: r.size,
            body_deleted_at: r.body_deleted_at,
            finding_id: r.finding_id,
            job,
        }
    }
}

/// A cursor names the last row seen by (received_at, id): newest first, stable under inserts.
fn cursor_key(row: &DeliveryRow) -> String {
    format!("{}|{}", row.received_at.timestamp_micros(), row.id)
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), AdminError> {
    let key = decode_cursor(cursor)?;
    key.split_once('|')
        .and_then(|(micros, id)| {
            Some((
                DateTime::from_timestamp_micros(micros.parse().ok()?)?,
                id.to_owned(),
            ))
        })
        .ok_or_else(|| AdminError::BadRequest("cursor: not one this service gave".into()))
}

/// A page of stored deliveries, newest first.
pub async fn list(pool: &PgPool, filter: &DeliveryFilter) -> Result<Page<DeliveryRow>, AdminError> {
    let (before_time, before_id) = match filter.cursor.as_deref().map(parse_cursor).transpose()? {
        Some((time, id)) => (Some(time), Some(id)),
        None => (None, None),
    };
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT e.id, e.event_type, e.event_time, e.received_at, octet_length(e.body) AS size,
                  e.body_deleted_at, j.finding_id, j.id AS "job_id?", j.status AS "job_status?",
                  j.attempts AS "job_attempts?", j.last_error AS job_last_error
           FROM webhook_events e LEFT JOIN sync_jobs j ON j.event_id = e.id
           WHERE ($1::text IS NULL OR e.event_type = $1)
             AND ($2::timestamptz IS NULL OR e.received_at >= $2)
             AND ($3::timestamptz IS NULL OR (e.received_at, e.id) < ($3, $4::text))
           ORDER BY e.received_at DESC, e.id DESC
           LIMIT $5"#,
        filter.event_type,
        filter.since,
        before_time,
        before_id,
        filter.limit + 1
    )
    .fetch_all(pool)
    .await?;
    let rows = rows.into_iter().map(DeliveryRow::from).collect();
    Ok(Page::of(rows, filter.limit, cursor_key))
}

/// One delivery in full: its body as received, its conflicts, and what it counted.
#[derive(Debug, Serialize)]
pub struct Delivery {
    #[serde(flatten)]
    pub row: DeliveryRow,
    pub body_sha256: String,
    /// The body as JSON when it parses (it did at intake), else as text; `None` once deleted.
    pub body: Option<serde_json::Value>,
    /// The body byte for byte as received (as text; intake takes only UTF-8 JSON), which is what
    /// its signature and `body_sha256` are of.
    pub raw_body: Option<String>,
    /// Other bodies sent under this id, kept and never applied.
    pub conflicts: Vec<Conflict>,
    /// What the event added to (or took from) its finding's count, once applied.
    pub ledger: Option<LedgerEntry>,
}

#[derive(Debug, Serialize)]
pub struct Conflict {
    pub received_at: DateTime<Utc>,
    pub body_sha256: String,
}

#[derive(Debug, Serialize)]
pub struct LedgerEntry {
    pub finding_id: String,
    pub delta: i64,
    pub applied_at: DateTime<Utc>,
}

pub async fn get(pool: &PgPool, id: &str) -> Result<Delivery, AdminError> {
    let row = sqlx::query!(
        r#"SELECT e.id, e.event_type, e.event_time, e.received_at, e.body, e.body_sha256, e.body_deleted_at,
                  j.finding_id, j.id AS "job_id?", j.status AS "job_status?",
                  j.attempts AS "job_attempts?", j.last_error AS job_last_error
           FROM webhook_events e LEFT JOIN sync_jobs j ON j.event_id = e.id
           WHERE e.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AdminError::NotFound(format!("no delivery {id}")))?;
    let conflicts = sqlx::query!(
        "SELECT received_at, body_sha256 FROM webhook_event_conflicts WHERE event_id = $1 ORDER BY id",
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|c| Conflict {
        received_at: c.received_at,
        body_sha256: hex::encode(c.body_sha256),
    })
    .collect();
    let ledger = sqlx::query_as!(
        LedgerEntry,
        "SELECT finding_id, delta, applied_at FROM finding_ledger WHERE event_id = $1",
        id
    )
    .fetch_optional(pool)
    .await?;
    let body = row.body.as_deref().map(|bytes| {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
    });
    Ok(Delivery {
        row: DeliveryRow::from(Row {
            id: row.id,
            event_type: row.event_type,
            event_time: row.event_time,
            received_at: row.received_at,
            size: row.body.as_ref().map(|b| b.len() as i32),
            body_deleted_at: row.body_deleted_at,
            finding_id: row.finding_id,
            job_id: row.job_id,
            job_status: row.job_status,
            job_attempts: row.job_attempts,
            job_last_error: row.job_last_error,
        }),
        body_sha256: hex::encode(row.body_sha256),
        raw_body: row
            .body
            .as_deref()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
        body,
        conflicts,
        ledger,
    })
}

/// What a replay did.
#[derive(Debug, Serialize)]
pub struct Replayed {
    pub delivery_id: String,
    pub job_id: i64,
    /// The job's status before: done, skipped or dead.
    pub was: String,
}

/// Queues a stored event again: its job goes back to pending with no attempts spent, and the
/// worker applies it and drives GitHub. The ledger still holds, so an event already counted is
/// not counted twice; a replay brings GitHub in line with what the events say.
#[tracing::instrument(skip_all, fields(delivery_id = %id))]
pub async fn replay(pool: &PgPool, id: &str) -> Result<Replayed, AdminError> {
    let row = sqlx::query!(
        r#"SELECT e.body IS NULL AS "purged!", j.id AS "job_id?", j.status AS "status?"
           FROM webhook_events e LEFT JOIN sync_jobs j ON j.event_id = e.id
           WHERE e.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AdminError::NotFound(format!("no delivery {id}")))?;
    let (Some(job_id), Some(status)) = (row.job_id, row.status) else {
        return Err(AdminError::Conflict(format!(
            "delivery {id} is of a type the service does not sync, so there is nothing to replay"
        )));
    };
    if row.purged {
        return Err(AdminError::Conflict(format!(
            "the body of delivery {id} was deleted by retention (RETENTION_DAYS), so it cannot be replayed"
        )));
    }
    // Only a finished job goes back; the status is checked in the same statement, so a job a
    // worker just claimed is never reset under it.
    let mut tx = pool.begin().await?;
    let reset = sqlx::query_scalar!(
        r#"UPDATE sync_jobs SET status = 'pending', attempts = 0, next_attempt_at = now(),
                  lease_expires_at = NULL, last_error = NULL, updated_at = now()
           WHERE id = $1 AND status IN ('done', 'skipped', 'dead')
           RETURNING id"#,
        job_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if reset.is_some() {
        crate::db::notify::notify_work(&mut tx).await?;
    }
    tx.commit().await?;
    if reset.is_none() {
        return Err(AdminError::Conflict(format!(
            "delivery {id} is {status} already: its job has not finished"
        )));
    }
    tracing::info!(job_id, was = %status, "delivery replayed");
    Ok(Replayed {
        delivery_id: id.to_owned(),
        job_id,
        was: status,
    })
}

/// Finished deliveries received since `since` (of one type, if given), oldest first: what
/// `replay --since` replays.
pub async fn replayable_since(
    pool: &PgPool,
    since: DateTime<Utc>,
    event_type: Option<&str>,
) -> Result<Vec<String>, AdminError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT e.id FROM webhook_events e JOIN sync_jobs j ON j.event_id = e.id
           WHERE e.received_at >= $1 AND ($2::text IS NULL OR e.event_type = $2)
             AND e.body IS NOT NULL AND j.status IN ('done', 'skipped', 'dead')
           ORDER BY e.received_at, e.id"#,
        since,
        event_type
    )
    .fetch_all(pool)
    .await?)
}
