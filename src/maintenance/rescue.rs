//! Lease rescue: a worker that dies mid-sync (a crash, a kill, a lost host) leaves its jobs
//! `running` and its lease on the finding. Once the lease has run out, this puts the jobs back
//! to pending — or `dead`, when they have used up their attempts, so a job that kills every
//! worker taking it stops being taken — deletes leases that have run out, and wakes the workers.
//! (A worker's claim also takes over what it finds expired; this makes sure it is looked for.)
use std::time::Duration;

use sqlx::PgPool;

use crate::db::notify::WORK_CHANNEL;
use crate::findings::jobs::MAX_ATTEMPTS;

/// Jobs and leases handled per statement.
const BATCH: i64 = 500;

pub struct LeaseRescue {
    pool: PgPool,
    interval: Duration,
}

impl LeaseRescue {
    /// Looks a quarter of a lease (`SYNC_LEASE_SECS`) apart, at most every 30 s and at least
    /// every second: a dead worker's finding waits at most that long past its lease.
    pub fn new(pool: PgPool, lease: Duration) -> Self {
        Self {
            pool,
            interval: (lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(30)),
        }
    }

    /// One batch, in one statement: how many jobs it rescued and how many leases it deleted.
    #[tracing::instrument(skip_all)]
    pub async fn run_once(&self) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query!(
            r#"WITH stuck AS (
                   SELECT j.id FROM sync_jobs j
                   WHERE j.status = 'running' AND j.lease_expires_at < now()
                     AND NOT EXISTS (SELECT 1 FROM finding_leases l
                                     WHERE l.finding_id = j.finding_id AND l.expires_at > now())
                   ORDER BY j.lease_expires_at
                   LIMIT $1
                   FOR UPDATE OF j SKIP LOCKED
               ),
               rescued AS (
                   UPDATE sync_jobs j SET
                       status = CASE WHEN j.attempts >= $2 THEN 'dead' ELSE 'pending' END,
                       last_error = CASE WHEN j.attempts >= $2
                                         THEN format('gave up after %s attempts; the worker holding it stopped before it ended', j.attempts)
                                         ELSE COALESCE(j.last_error, 'the worker holding it stopped before it ended') END,
                       next_attempt_at = now(), lease_expires_at = NULL, updated_at = now()
                   FROM stuck WHERE j.id = stuck.id
                   RETURNING j.status
               ),
               gone AS (
                   DELETE FROM finding_leases
                   WHERE finding_id IN (SELECT finding_id FROM finding_leases
                                        WHERE expires_at < now()
                                        ORDER BY expires_at LIMIT $1
                                        FOR UPDATE SKIP LOCKED)
                   RETURNING 1
               ),
               woke AS (
                   SELECT pg_notify($3, '') FROM (SELECT 1 FROM rescued WHERE status = 'pending' LIMIT 1) AS any_rescued
               )
               SELECT (SELECT count(*) FROM rescued) AS "rescued!", (SELECT count(*) FROM gone) AS "gone!",
                      (SELECT count(*) FROM woke) AS "woke!""#,
            BATCH,
            MAX_ATTEMPTS,
            WORK_CHANNEL
        )
        .fetch_one(&self.pool)
        .await?;
        if row.rescued > 0 {
            tracing::warn!(
                jobs = row.rescued,
                "rescued the jobs of a worker that stopped mid-sync (its lease ran out); they are due again"
            );
        }
        Ok((row.rescued, row.gone))
    }
}

impl super::duty::Duty for LeaseRescue {
    const NAME: &'static str = "lease rescue";

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn pass(&self) -> Result<bool, sqlx::Error> {
        let (rescued, gone) = self.run_once().await?;
        Ok(rescued == BATCH || gone == BATCH)
    }
}
