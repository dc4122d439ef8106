//! Failing fast while the database is away: once a write has found it unreachable, deliveries
//! are answered 503 at once instead of each waiting out its own timeout in line, and a probe in
//! the background finds out when it is back, so intake recovers without a restart.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::time::{timeout_at, Instant};

use super::delivery::IngestError;

/// How often the probe asks while the database is away; a short pause keeps the time to
/// recover short without adding load a struggling server would notice.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long one probe waits for a connection and its answer.
const PROBE_DEADLINE: Duration = Duration::from_secs(1);

/// Whether the database is known to be away.
#[derive(Clone, Debug, Default)]
pub(super) struct Availability {
    down: Arc<AtomicBool>,
}

impl Availability {
    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records the outage and, unless a probe runs already, starts one.
    pub(super) fn mark_down(&self, pool: &PgPool) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::error!("the database is unreachable; answering 503 at once until it answers again");
            tokio::spawn(probe_until_back(pool.clone(), self.down.clone()));
        }
    }

    /// The answer for a delivery that arrives (or waits) while the database is known to be away.
    pub(super) fn refusal() -> IngestError {
        IngestError::Database("the database is unreachable; waiting for it to answer again".into())
    }
}

async fn probe_until_back(pool: PgPool, down: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        match probe(&pool).await {
            Ok(()) => {
                down.store(false, Ordering::Release);
                tracing::info!("the database answers again; intake resumes");
                return;
            }
            Err(reason) => tracing::debug!(%reason, "the database is still unreachable"),
        }
    }
}

async fn probe(pool: &PgPool) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_DEADLINE;
    let too_late = || format!("no answer within {} ms", PROBE_DEADLINE.as_millis());
    let mut conn = timeout_at(deadline, pool.acquire())
        .await
        .map_err(|_| too_late())?
        .map_err(|e| e.to_string())?;
    match timeout_at(deadline, sqlx::query("SELECT 1").execute(&mut *conn)).await {
        Ok(result) => result.map(drop).map_err(|e| e.to_string()),
        Err(_) => {
            // Its answer may still arrive: this connection must not serve another statement.
            conn.close_on_drop();
            Err(too_late())
        }
    }
}
