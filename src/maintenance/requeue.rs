//! Re-queueing findings whose state disagrees: the worker queues them when it starts
//! (`findings/due.rs`: left off GitHub under other settings, or an open count without an open
//! issue and the reverse); this looks again every hour, so one that came to disagree without
//! any event or restart (a sync that ended short, a row repaired by hand) is not left so.
use std::time::Duration;

use sqlx::PgPool;

use crate::configuration::Settings;
use crate::findings::due;

const INTERVAL: Duration = Duration::from_secs(3600);

pub struct Requeue {
    pool: PgPool,
    fingerprint: String,
    min_occurrences: i64,
}

impl Requeue {
    pub fn new(pool: PgPool, settings: &Settings) -> Self {
        Self {
            pool,
            fingerprint: due::fingerprint(&settings.github, &settings.sync, &settings.issues),
            min_occurrences: settings.sync.min_occurrences,
        }
    }
}

impl super::duty::Duty for Requeue {
    const NAME: &'static str = "re-queue";

    fn interval(&self) -> Duration {
        INTERVAL
    }

    /// Walks every finding in bounded batches (`due::enqueue_due`), each its own transaction.
    async fn pass(&self) -> Result<bool, sqlx::Error> {
        due::enqueue_due(&self.pool, &self.fingerprint, self.min_occurrences).await?;
        Ok(false)
    }
}
