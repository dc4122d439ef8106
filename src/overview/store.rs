//! The `overviews` table: when a repository's overview is due, who holds it while it is written
//! (a lease, as findings have), what GitHub last showed of it, and whether a person turned it off.
//! Everything a write records is fenced by the writer's lease token; what people do (`people.rs`)
//! changes its own columns only, so a writer holding the lease never overwrites it.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::error::OverviewError;

/// An overview as a writer holds it.
#[derive(Clone, Debug)]
pub struct Held {
    pub key: String,
    pub token: Uuid,
    pub github_repo: Option<String>,
    pub number: Option<i64>,
    pub issue_id: Option<i64>,
    pub state: Option<String>,
    pub text_hash: Option<String>,
    pub etag: Option<String>,
    pub labels: Option<Vec<String>>,
    pub create_started_at: Option<DateTime<Utc>>,
    /// While a create begun earlier could still land, how long until it no longer can.
    pub create_unsettled: Option<Duration>,
    pub closed_by_service: bool,
    pub off: bool,
    pub visible: bool,
    pub attempts: i32,
    /// The last change when it was claimed: a change after it keeps the overview due.
    pub changed_at: Option<DateTime<Utc>>,
}

/// A change to the repository's findings: its overview is written `delay` after the last
/// change, no later than four delays after the first change not yet written, and at once while
/// it has never been written (the repository becomes visible in one write).
pub async fn mark_changed(
    conn: &mut PgConnection,
    key: &str,
    delay: Duration,
) -> Result<Option<Duration>, sqlx::Error> {
    let due_in = sqlx::query_scalar!(
        r#"INSERT INTO overviews (repository_key, changed_at, pending_since, due_at)
           VALUES ($1, now(), now(), now())
           ON CONFLICT (repository_key) DO UPDATE SET
               changed_at = now(),
               pending_since = COALESCE(overviews.pending_since, now()),
               due_at = CASE
                   WHEN overviews.off_at IS NOT NULL OR overviews.failed_reason IS NOT NULL THEN overviews.due_at
                   WHEN overviews.visible_at IS NULL THEN now()
                   ELSE LEAST(now() + make_interval(secs => $2),
                              COALESCE(overviews.pending_since, now()) + 4 * make_interval(secs => $2))
               END,
               updated_at = now()
           RETURNING EXTRACT(EPOCH FROM due_at - now())::float8 AS due_in"#,
        key,
        delay.as_secs_f64()
    )
    .fetch_one(conn)
    .await?;
    Ok(due_in.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// Every repository with findings and no overview gets one, due now, and one GitHub refused is
/// tried again (a start often follows fixed permissions). Returns how many.
pub async fn add_missing(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let retried = sqlx::query!(
        r#"UPDATE overviews SET failed_reason = NULL, due_at = now(), updated_at = now()
           WHERE failed_reason IS NOT NULL"#
    )
    .execute(pool)
    .await?;
    let added = sqlx::query!(
        r#"INSERT INTO overviews (repository_key, changed_at, pending_since, due_at)
           SELECT DISTINCT f.repository_key, now(), now(), now() FROM findings f
           WHERE f.repository_key IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM overviews o WHERE o.repository_key = f.repository_key)
           ON CONFLICT (repository_key) DO NOTHING"#
    )
    .execute(pool)
    .await?;
    Ok(added.rows_affected() + retried.rows_affected())
}

/// Whether a finding of the repository may have its own issue created now: only once its
/// overview has been written (or will not be: a person turned it off, or GitHub refused it).
/// When not, the overview is made due at once.
pub async fn creates_may_go(pool: &PgPool, key: &str) -> Result<bool, sqlx::Error> {
    let open = sqlx::query_scalar!(
        r#"SELECT visible_at IS NOT NULL OR off_at IS NOT NULL OR failed_reason IS NOT NULL AS "open!"
           FROM overviews WHERE repository_key = $1"#,
        key
    )
    .fetch_optional(pool)
    .await?;
    if open == Some(true) {
        return Ok(true);
    }
    let mut conn = pool.acquire().await?;
    mark_changed(&mut conn, key, Duration::ZERO).await?;
    Ok(false)
}

/// Takes one overview that is due (or, with `read_every`, due to be read) and not held by a
/// live lease.
pub async fn claim(
    pool: &PgPool,
    lease: Duration,
    read_every: Option<Duration>,
) -> Result<Option<Held>, sqlx::Error> {
    let token = Uuid::new_v4();
    let row = sqlx::query!(
        r#"UPDATE overviews o SET lease_token = $1, leased_until = now() + make_interval(secs => $2),
                                  updated_at = now()
           WHERE repository_key = (
               SELECT repository_key FROM overviews
               WHERE (leased_until IS NULL OR leased_until < now())
                 AND (due_at <= now()
                      OR ($3::float8 IS NOT NULL AND github_issue_number IS NOT NULL AND failed_reason IS NULL
                          AND off_reason IS DISTINCT FROM 'deleted'
                          AND COALESCE(read_at, 'epoch') + make_interval(secs => $3) <= now()))
               ORDER BY due_at NULLS LAST
               LIMIT 1
               FOR UPDATE SKIP LOCKED)
           RETURNING repository_key, github_repo, github_issue_number, github_issue_id, github_state,
                     text_hash, etag, labels, create_started_at, closed_by_service,
                     off_at IS NOT NULL AS "off!", visible_at IS NOT NULL AS "visible!", attempts,
                     changed_at,
                     EXTRACT(EPOCH FROM create_started_at + make_interval(secs => $4) - now())::float8
                         AS create_unsettled_secs"#,
        token,
        lease.as_secs_f64(),
        read_every.map(|d| d.as_secs_f64()),
        crate::github::call::CALL_SETTLE.as_secs_f64()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Held {
        key: r.repository_key,
        token,
        github_repo: r.github_repo,
        number: r.github_issue_number,
        issue_id: r.github_issue_id,
        state: r.github_state,
        text_hash: r.text_hash,
        etag: r.etag,
        labels: r.labels,
        create_started_at: r.create_started_at,
        create_unsettled: r
            .create_unsettled_secs
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64),
        closed_by_service: r.closed_by_service,
        off: r.off,
        visible: r.visible,
        attempts: r.attempts,
        changed_at: r.changed_at,
    }))
}

/// How long until an overview is next due (to be written, or with `read_every` read), if any.
pub async fn next_due_in(
    pool: &PgPool,
    read_every: Option<Duration>,
) -> Result<Option<Duration>, sqlx::Error> {
    let secs = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM min(at) - now())::float8 FROM (
               SELECT GREATEST(due_at, COALESCE(leased_until, due_at)) AS at FROM overviews
               WHERE due_at IS NOT NULL
               UNION ALL
               SELECT GREATEST(COALESCE(read_at, 'epoch') + make_interval(secs => $1),
                               COALESCE(leased_until, 'epoch'))
               FROM overviews
               WHERE $1::float8 IS NOT NULL AND github_issue_number IS NOT NULL AND failed_reason IS NULL
                 AND off_reason IS DISTINCT FROM 'deleted'
           ) due"#,
        read_every.map(|d| d.as_secs_f64())
    )
    .fetch_one(pool)
    .await?;
    Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// Records what GitHub shows of the overview now, fenced by the lease.
pub async fn save(pool: &PgPool, held: &Held) -> Result<(), OverviewError> {
    let saved = sqlx::query!(
        r#"UPDATE overviews SET github_repo = $3, github_issue_number = $4, github_issue_id = $5,
                                github_state = $6, text_hash = $7, etag = $8, labels = $9,
                                create_started_at = $10, closed_by_service = $11,
                                visible_at = CASE WHEN $12 THEN COALESCE(visible_at, now()) END,
                                updated_at = now()
           WHERE repository_key = $1 AND lease_token = $2 AND leased_until > now()"#,
        held.key,
        held.token,
        held.github_repo,
        held.number,
        held.issue_id,
        held.state,
        held.text_hash,
        held.etag,
        held.labels.as_deref(),
        held.create_started_at,
        held.closed_by_service,
        held.visible
    )
    .execute(pool)
    .await?;
    match saved.rows_affected() {
        0 => Err(OverviewError::LeaseLost),
        _ => Ok(()),
    }
}

/// A write made: counted, and its time kept.
pub async fn written(pool: &PgPool, held: &Held) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE overviews SET writes = writes + 1, written_at = now() WHERE repository_key = $1 AND lease_token = $2",
        held.key,
        held.token
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How a pass at one overview ended.
#[derive(Debug)]
pub enum Ended {
    /// GitHub shows what it should (or nothing needed saying): due again only on a change made
    /// since it was claimed. `read` when it was read.
    Done {
        read: bool,
    },
    Retry {
        after: Duration,
        error: String,
    },
    /// GitHub will not take it (the repository is gone, issues are off): finding issues no
    /// longer wait for it.
    Failed(String),
}

/// Ends the lease with how the pass ended.
pub async fn release(pool: &PgPool, held: &Held, ended: &Ended) -> Result<(), sqlx::Error> {
    let (retry, error, failed, read) = match ended {
        Ended::Done { read } => (None, None, None, *read),
        Ended::Retry { after, error } => (Some(after.as_secs_f64()), Some(error.as_str()), None, false),
        Ended::Failed(reason) => (None, Some(reason.as_str()), Some(reason.as_str()), false),
    };
    sqlx::query!(
        r#"UPDATE overviews SET
               lease_token = NULL, leased_until = NULL,
               due_at = CASE WHEN $3::float8 IS NOT NULL THEN now() + make_interval(secs => $3)
                             WHEN changed_at IS DISTINCT FROM $6 THEN due_at END,
               pending_since = CASE WHEN $3::float8 IS NOT NULL OR changed_at IS DISTINCT FROM $6
                                    THEN pending_since END,
               attempts = CASE WHEN $3::float8 IS NOT NULL THEN attempts + 1 ELSE 0 END,
               last_error = $4,
               failed_reason = COALESCE($5, failed_reason),
               read_at = CASE WHEN $7 THEN now() ELSE read_at END,
               updated_at = now()
           WHERE repository_key = $1 AND lease_token = $2"#,
        held.key,
        held.token,
        retry,
        error,
        failed,
        held.changed_at,
        read
    )
    .execute(pool)
    .await?;
    Ok(())
}
