//! What an idle worker asks Postgres before it sleeps, in one statement: whether jobs that name
//! no finding wait (Autofix events, events naming nothing), and when the next job falls due —
//! a retry's time, or the end of a lease another worker holds on a finding with jobs queued
//! behind it (should that worker die, the job is claimable then). The worker sleeps until that
//! moment, a wake-up, or its fallback interval, whichever comes first; so an idle worker costs
//! Postgres this one statement per fallback interval, and a due time is kept to the millisecond
//! rather than to the next poll.
use std::time::Duration;

use sqlx::PgPool;

/// What the look found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Jobs that name no finding are due: the worker ends or records them (no claim needed).
    pub finding_less: bool,
    /// How long until the next job falls due (zero: one is due now); `None`: no job waits.
    pub next_due_in: Option<Duration>,
}

pub async fn look(pool: &PgPool) -> Result<Look, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT
               EXISTS (SELECT 1 FROM sync_jobs
                       WHERE finding_id IS NULL AND status = 'pending' AND next_attempt_at <= now())
                   AS "finding_less!",
               (SELECT EXTRACT(EPOCH FROM min(GREATEST(j.next_attempt_at, l.expires_at)) - now())::float8
                FROM sync_jobs j LEFT JOIN finding_leases l ON l.finding_id = j.finding_id
                WHERE j.status = 'pending') AS next_due_secs"#
    )
    .fetch_one(pool)
    .await?;
    Ok(Look {
        finding_less: row.finding_less,
        next_due_in: row
            .next_due_secs
            .map(|secs| Duration::from_secs_f64(secs.max(0.0))),
    })
}
