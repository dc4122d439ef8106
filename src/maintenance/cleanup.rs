//! Clean-up of finished work: a look at a finding that no event asked for (a comparison's, a
//! person's decision's, an Autofix pull request's, a resync's) leaves a job row that nothing
//! reads once it has ended. Those rows go once older than `RETENTION_DAYS`; a job of an event
//! is kept with its event (replay resets it; the ledger counts it), as retention keeps them.
use std::time::Duration;

use sqlx::PgPool;

/// Rows deleted per statement.
const BATCH: i64 = 2000;
/// How often it looks, once a pass found no full batch.
const INTERVAL: Duration = Duration::from_secs(600);

pub struct Cleanup {
    pool: PgPool,
    keep: Duration,
}

impl Cleanup {
    /// `None` when `RETENTION_DAYS=0`: everything is kept.
    pub fn new(pool: PgPool, keep: Option<Duration>) -> Option<Self> {
        keep.map(|keep| Self { pool, keep })
    }

    /// One batch: how many finished look jobs it deleted.
    #[tracing::instrument(skip_all)]
    pub async fn run_once(&self) -> Result<u64, sqlx::Error> {
        let deleted = sqlx::query!(
            r#"DELETE FROM sync_jobs
               WHERE id IN (SELECT id FROM sync_jobs
                            WHERE event_id IS NULL AND status IN ('done', 'skipped')
                              AND updated_at < now() - make_interval(secs => $1)
                            ORDER BY id LIMIT $2
                            FOR UPDATE SKIP LOCKED)"#,
            self.keep.as_secs_f64(),
            BATCH
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if deleted > 0 {
            tracing::info!(jobs = deleted, "deleted finished looks older than RETENTION_DAYS");
        }
        Ok(deleted)
    }
}

impl super::duty::Duty for Cleanup {
    const NAME: &'static str = "clean-up";

    fn interval(&self) -> Duration {
        INTERVAL
    }

    async fn pass(&self) -> Result<bool, sqlx::Error> {
        Ok(self.run_once().await? == BATCH as u64)
    }
}
