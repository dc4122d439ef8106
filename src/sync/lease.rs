//! Which worker holds a finding: claimed with its due jobs, renewed while the sync runs, and
//! the fence every state write of that sync passes. A worker that stalls past its lease (a long
//! GitHub call, a paused process, a stalled database connection) may find another worker holding
//! the finding when it wakes; its writes then change nothing and it stops (`LeaseLost`).
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::findings::fence::Lease;

/// The jobs of one finding, leased to this worker.
#[derive(Debug)]
pub struct Claim {
    pub lease: Lease,
    pub jobs: Vec<ClaimedJob>,
}

/// A claimed job. The event fields are `None` for a reconciliation (see `findings/due.rs`), which has
/// no event to apply and only asks for the finding to be driven.
#[derive(Debug)]
pub struct ClaimedJob {
    pub id: i64,
    pub event_id: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// When the event says it happened, but never later than its receipt plus
    /// `MAX_EVENT_CLOCK_SKEW`: the newest event's metadata wins, and one event dated far ahead
    /// (a broken clock, milliseconds read as seconds) would otherwise win over every later one.
    pub event_time: Option<DateTime<Utc>>,
    pub body: Option<Vec<u8>>,
}

/// A finding with a backlog is worked through in claims of at most this many events, and of at
/// most `MAX_CLAIM_BYTES` of bodies, each claim followed by one GitHub update, so one claim never
/// holds an unbounded number of bodies in memory.
const MAX_JOBS_PER_CLAIM: i64 = 200;
const MAX_CLAIM_BYTES: i64 = 8 * 1024 * 1024;
/// How far ahead of its receipt an event's own time is believed: DeepSource's clock may run a
/// little ahead of ours, but no event is sent before it happens.
pub const MAX_EVENT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Leases one finding that has due jobs, and claims them: several events of one finding are
/// applied together and GitHub is driven once. `None` when nothing is due.
pub async fn claim(pool: &PgPool, lease: Duration) -> Result<Option<Claim>, sqlx::Error> {
    let lease_secs = lease.as_secs_f64();
    let token = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let candidates = sqlx::query_scalar!(
        r#"SELECT j.finding_id AS "finding_id!"
           FROM sync_jobs j
           WHERE j.finding_id IS NOT NULL
             AND ((j.status = 'pending' AND j.next_attempt_at <= now())
                  OR (j.status = 'running' AND j.lease_expires_at < now()))
             AND NOT EXISTS (SELECT 1 FROM finding_leases l
                             WHERE l.finding_id = j.finding_id AND l.expires_at > now())
           ORDER BY j.priority, j.next_attempt_at, j.id
           LIMIT 8
           FOR UPDATE OF j SKIP LOCKED"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for finding_id in candidates {
        // Two workers may both see a finding unleased; the unique key makes one of them wait
        // and then find the lease taken. Taking over an expired lease changes its token, which
        // fences out the worker that held it.
        let leased = sqlx::query_scalar!(
            r#"INSERT INTO finding_leases (finding_id, token, expires_at)
               VALUES ($1, $2, now() + make_interval(secs => $3))
               ON CONFLICT (finding_id) DO UPDATE
                   SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
                   WHERE finding_leases.expires_at <= now()
               RETURNING finding_id"#,
            finding_id,
            token,
            lease_secs
        )
        .fetch_optional(&mut *tx)
        .await?;
        if leased.is_none() {
            continue;
        }
        // The first due job always fits; the rest while the bodies stay under the byte cap.
        let jobs = sqlx::query_as!(
            ClaimedJob,
            r#"WITH due AS (
                   SELECT id FROM sync_jobs
                   WHERE finding_id = $1
                     AND ((status = 'pending' AND next_attempt_at <= now())
                          OR (status = 'running' AND lease_expires_at < now()))
                   ORDER BY id
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED
               ),
               sized AS (
                   SELECT due.id, COALESCE(octet_length(e.body), 0) AS size,
                          sum(COALESCE(octet_length(e.body), 0)) OVER (ORDER BY due.id) AS upto
                   FROM due JOIN sync_jobs j ON j.id = due.id LEFT JOIN webhook_events e ON e.id = j.event_id
               ),
               claimed AS (
                   UPDATE sync_jobs j
                   SET status = 'running', attempts = attempts + 1, updated_at = now(),
                       lease_expires_at = now() + make_interval(secs => $2)
                   FROM sized WHERE j.id = sized.id AND sized.upto - sized.size < $4
                   RETURNING j.id, j.event_id, j.attempts, j.last_error
               )
               SELECT c.id, c.event_id, c.attempts, c.last_error, e.body AS "body?",
                      LEAST(e.event_time, e.received_at + make_interval(secs => $5)) AS event_time
               FROM claimed c LEFT JOIN webhook_events e ON e.id = c.event_id
               ORDER BY event_time, c.id"#,
            finding_id,
            lease_secs,
            MAX_JOBS_PER_CLAIM,
            MAX_CLAIM_BYTES,
            MAX_EVENT_CLOCK_SKEW.as_secs_f64()
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Some(Claim {
            lease: Lease { finding_id, token },
            jobs,
        }));
    }
    tx.commit().await?;
    Ok(None)
}

/// Pushes the lease (and its jobs' leases) `lease_for` into the future. False once it has gone.
pub async fn renew(pool: &PgPool, lease: &Lease, lease_for: Duration) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query_scalar!(
        r#"WITH renewed AS (
               UPDATE finding_leases SET expires_at = now() + make_interval(secs => $3)
               WHERE finding_id = $1 AND token = $2
               RETURNING finding_id
           ),
           jobs AS (
               UPDATE sync_jobs SET lease_expires_at = now() + make_interval(secs => $3)
               WHERE finding_id IN (SELECT finding_id FROM renewed) AND status = 'running'
           )
           SELECT count(*) AS "n!" FROM renewed"#,
        lease.finding_id,
        lease.token,
        lease_for.as_secs_f64()
    )
    .fetch_one(pool)
    .await?;
    Ok(renewed > 0)
}

pub async fn release(pool: &PgPool, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM finding_leases WHERE finding_id = $1 AND token = $2",
        lease.finding_id,
        lease.token
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Renews a lease every quarter of its length while a sync runs, and says when it was lost.
/// Stops when dropped.
pub struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    lost: watch::Receiver<bool>,
}

impl Heartbeat {
    pub fn start(pool: PgPool, lease: Lease, lease_for: Duration) -> Self {
        let (tell, lost) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut beat = tokio::time::interval(lease_for / 4);
            beat.tick().await; // the first tick is immediate; the claim has just set the lease
            loop {
                beat.tick().await;
                match renew(&pool, &lease, lease_for).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = tell.send(true);
                        return;
                    }
                    // The database is away: the sync's deadline, well inside the lease, stops it
                    // in time should this go on.
                    Err(error) => tracing::warn!(%error, "could not renew the lease; trying again"),
                }
            }
        });
        Self { task, lost }
    }

    /// Resolves once the lease is known to be lost.
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|lost| *lost).await;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}
