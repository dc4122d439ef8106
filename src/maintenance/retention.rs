//! Retention: a background duty that deletes the stored bodies of events the service is done
//! with once they are older than `RETENTION_DAYS`, a small batch at a time, so the database
//! grows by a few hundred bytes per event rather than by every body received.
//!
//! Kept for ever: each event's row (its id and body hash tell a redelivery from a conflict), the
//! ledger rows that count each event once, the finding state, and the bodies of events whose job
//! has not finished well (pending, running, dead: a dead job may be retried). GitHub's deliveries
//! are applied as they arrive, so theirs go by age alone. Conflicting bodies follow their event.
use std::time::Duration;

use sqlx::PgPool;

/// Rows changed per statement: each is one short transaction, and replicas doing the same skip
/// each other's rows.
const BATCH: i64 = 2000;
/// How often it looks, once a pass found no full batch to delete.
const INTERVAL: Duration = Duration::from_secs(600);

/// What one pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub event_bodies: u64,
    pub conflicts: u64,
    pub github_bodies: u64,
    pub github_conflicts: u64,
}

impl Purged {
    fn total(&self) -> u64 {
        self.event_bodies + self.conflicts + self.github_bodies + self.github_conflicts
    }

    /// A kind filled its batch: more of it may be due.
    fn was_full(&self) -> bool {
        [
            self.event_bodies,
            self.conflicts,
            self.github_bodies,
            self.github_conflicts,
        ]
        .into_iter()
        .any(|n| n == BATCH as u64)
    }

    fn add(&mut self, other: &Purged) {
        self.event_bodies += other.event_bodies;
        self.conflicts += other.conflicts;
        self.github_bodies += other.github_bodies;
        self.github_conflicts += other.github_conflicts;
    }
}

pub struct Retention {
    pool: PgPool,
    keep: Duration,
}

impl Retention {
    /// `None` when `RETENTION_DAYS=0`: everything is kept.
    pub fn new(pool: PgPool, keep: Option<Duration>) -> Option<Self> {
        keep.map(|keep| Self { pool, keep })
    }

    /// One batch of each kind, older than the retention period.
    #[tracing::instrument(skip_all, fields(keep_days = self.keep.as_secs() / 86_400))]
    pub async fn run_once(&self) -> Result<Purged, sqlx::Error> {
        let keep = self.keep.as_secs_f64();
        let event_bodies = sqlx::query!(
            r#"WITH old AS (
                   SELECT e.id FROM webhook_events e
                   WHERE e.received_at < now() - make_interval(secs => $1) AND e.body IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM sync_jobs j
                                     WHERE j.event_id = e.id AND j.status NOT IN ('done', 'skipped'))
                   ORDER BY e.received_at, e.id
                   LIMIT $2
                   FOR UPDATE OF e SKIP LOCKED
               )
               UPDATE webhook_events e SET body = NULL, body_deleted_at = now()
               FROM old WHERE e.id = old.id"#,
            keep,
            BATCH
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        let conflicts = sqlx::query!(
            r#"DELETE FROM webhook_event_conflicts c
               WHERE c.id IN (
                   SELECT c.id FROM webhook_event_conflicts c
                   WHERE c.received_at < now() - make_interval(secs => $1)
                     AND NOT EXISTS (SELECT 1 FROM sync_jobs j
                                     WHERE j.event_id = c.event_id AND j.status NOT IN ('done', 'skipped'))
                   ORDER BY c.id
                   LIMIT $2
                   FOR UPDATE OF c SKIP LOCKED)"#,
            keep,
            BATCH
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        let github_bodies = sqlx::query!(
            r#"WITH old AS (
                   SELECT id FROM github_events
                   WHERE received_at < now() - make_interval(secs => $1) AND body IS NOT NULL
                   ORDER BY received_at, id
                   LIMIT $2
                   FOR UPDATE SKIP LOCKED
               )
               UPDATE github_events g SET body = NULL, body_deleted_at = now()
               FROM old WHERE g.id = old.id"#,
            keep,
            BATCH
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        let github_conflicts = sqlx::query!(
            r#"DELETE FROM github_event_conflicts
               WHERE id IN (SELECT id FROM github_event_conflicts
                            WHERE received_at < now() - make_interval(secs => $1)
                            ORDER BY id LIMIT $2
                            FOR UPDATE SKIP LOCKED)"#,
            keep,
            BATCH
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        let purged = Purged {
            event_bodies,
            conflicts,
            github_bodies,
            github_conflicts,
        };
        if purged.total() > 0 {
            tracing::info!(
                event_bodies,
                conflicts,
                github_bodies,
                github_conflicts,
                "deleted the bodies of finished events past RETENTION_DAYS"
            );
        }
        Ok(purged)
    }

    /// Passes until one finds less than a full batch of anything.
    pub async fn run_until_done(&self) -> Result<Purged, sqlx::Error> {
        let mut all = Purged::default();
        loop {
            let pass = self.run_once().await?;
            all.add(&pass);
            if !pass.was_full() {
                return Ok(all);
            }
        }
    }
}

impl super::duty::Duty for Retention {
    const NAME: &'static str = "retention";

    fn interval(&self) -> Duration {
        INTERVAL
    }

    async fn pass(&self) -> Result<bool, sqlx::Error> {
        Ok(self.run_once().await?.was_full())
    }
}
