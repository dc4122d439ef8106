//! How a finding's claimed jobs end: done, skipped, dead with the reason, or back to pending for
//! a retry (an attempt counted or not), fenced by the finding's lease; and jobs that name no
//! finding, which end at once.
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::fence::{fenced, Lease, StoreError};
use crate::domain::AUTOFIX_EVENT_TYPE;

/// A job is tried this many times; then it is `dead` with its last error, so a finding is never
/// retried forever.
pub const MAX_ATTEMPTS: i32 = 10;

/// How a claimed job ends this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Done,
    Skipped(String),
    Dead(String),
    /// Try again `after` this long (on the database's clock); `counted` says whether this
    /// round used up an attempt.
    Retry {
        after: Duration,
        error: String,
        counted: bool,
    },
}

/// Jobs whose event named no finding cannot be synced; they end now, with the reason.
pub async fn fail_jobs_without_finding(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE sync_jobs
           SET status = 'dead', attempts = attempts + 1, updated_at = now(),
               last_error = 'the event has no data.object.id, so it names no RepositoryIssue'
           WHERE finding_id IS NULL AND status IN ('pending', 'running')
             -- Autofix events name no finding of their own: `autofix/record.rs` takes them.
             AND NOT EXISTS (SELECT 1 FROM webhook_events e
                             WHERE e.id = sync_jobs.event_id AND e.event_type = $1)"#,
        AUTOFIX_EVENT_TYPE
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Ends this round of the claimed (running) jobs. A counted retry of a job that has used up `MAX_ATTEMPTS` makes
/// it `dead` instead, keeping the last error. Fenced: a worker that lost its lease leaves the
/// jobs to the worker that holds them now.
pub async fn finish_jobs(
    pool: &PgPool,
    lease: &Lease,
    job_ids: &[i64],
    end: &JobEnd,
) -> Result<(), StoreError> {
    let (status, error, after, counted) = match end {
        JobEnd::Done => ("done", None, None, false),
        JobEnd::Skipped(reason) => ("skipped", Some(reason.as_str()), None, false),
        JobEnd::Dead(reason) => ("dead", Some(reason.as_str()), None, false),
        JobEnd::Retry {
            after,
            error,
            counted,
        } => (
            "pending",
            Some(error.as_str()),
            Some(after.as_secs_f64()),
            *counted,
        ),
    };
    if job_ids.is_empty() {
        return Ok(());
    }
    let uncount = after.is_some() && !counted;
    let ended = fenced(
        sqlx::query!(
            r#"UPDATE sync_jobs SET
                   status = CASE WHEN $6 AND attempts >= $7 THEN 'dead' ELSE $4 END,
                   last_error = CASE WHEN $6 AND attempts >= $7
                                     THEN format('gave up after %s attempts; the last: %s', attempts, $5::text)
                                     ELSE $5 END,
                   next_attempt_at = COALESCE(now() + make_interval(secs => $8), next_attempt_at),
                   attempts = attempts - CASE WHEN $9 THEN 1 ELSE 0 END,
                   lease_expires_at = NULL, updated_at = now()
               WHERE id = ANY($3) AND status = 'running'
                 AND EXISTS (SELECT 1 FROM finding_leases WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            job_ids,
            status,
            error,
            counted,
            MAX_ATTEMPTS,
            after,
            uncount
        )
        .execute(pool)
        .await?,
    );
    // A retry is work due later: every idle worker (on any replica) learns its time now, so
    // the first free one wakes for it then, whatever this worker is busy with.
    if ended.is_ok() && after.is_some() {
        crate::db::notify::notify_work(&mut *pool.acquire().await?).await?;
    }
    ended
}

/// The repository's pending jobs that wait for a later time (creates that waited for its
/// overview, retries) are made due now, and the workers woken. Returns how many.
pub async fn hurry_repository(conn: &mut PgConnection, repository_key: &str) -> Result<u64, sqlx::Error> {
    let hurried = sqlx::query!(
        r#"UPDATE sync_jobs j SET next_attempt_at = now()
           FROM findings f
           WHERE j.finding_id = f.id AND f.repository_key = $1
             AND j.status = 'pending' AND j.next_attempt_at > now()"#,
        repository_key
    )
    .execute(&mut *conn)
    .await?;
    if hurried.rows_affected() > 0 {
        crate::db::notify::notify_work(conn).await?;
    }
    Ok(hurried.rows_affected())
}
