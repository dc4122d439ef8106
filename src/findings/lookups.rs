//! The table of findings whose occurrences DeepSource is to be asked for (V13): a `resolved`
//! event lowers the count but cannot say which lines were fixed. The worker asks (one row per
//! finding, however many events ask); the reconciler's lookup pass (`reconcile/lookup.rs`)
//! claims due rows, one replica at a time, and ends each. Until a lookup has been tried, the
//! finding's sync waits for it, so the fixed lines go in the same GitHub write as the count.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Asks for a lookup of the finding's occurrences, waking the reconciler when the caller's
/// transaction commits. A lookup already asked for is asked again
/// (one that began before this may have missed it) without hurrying one waiting out a backoff.
pub async fn request(conn: &mut PgConnection, finding_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO finding_lookups (finding_id) VALUES ($1)
           ON CONFLICT (finding_id) DO UPDATE SET requested_at = now()"#,
        finding_id
    )
    .execute(&mut *conn)
    .await?;
    // The reconciler listens too: it asks DeepSource as soon as this commits.
    crate::db::notify::notify_work(conn).await?;
    Ok(())
}

/// Whether the finding's sync should wait for a lookup: one is asked for and not yet tried and
/// failed (a failing lookup never holds the count back).
pub async fn awaited(pool: &PgPool, finding_id: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query_scalar!(
        r#"SELECT 1 AS "one!" FROM finding_lookups WHERE finding_id = $1 AND attempts = 0"#,
        finding_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// A lookup claimed by this replica.
#[derive(Clone, Debug)]
pub struct Lookup {
    pub finding_id: String,
    pub vcs_provider: String,
    pub vcs_url: String,
    pub attempts: i32,
    pub token: Uuid,
    /// The database's clock at the claim, before the first request: what DeepSource answers
    /// is at least as new as this.
    pub began_at: DateTime<Utc>,
}

/// Up to `limit` due lookups, each held for `lease` by this replica.
pub async fn claim_due(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Lookup>, sqlx::Error> {
    let token = Uuid::new_v4();
    let rows = sqlx::query!(
        r#"WITH due AS (
               SELECT finding_id FROM finding_lookups
               WHERE due_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY due_at LIMIT $1
               FOR UPDATE SKIP LOCKED
           ),
           claimed AS (
               UPDATE finding_lookups l SET lease_token = $2,
                      lease_expires_at = now() + make_interval(secs => $3)
               FROM due WHERE l.finding_id = due.finding_id
               RETURNING l.finding_id, l.attempts
           )
           SELECT c.finding_id, c.attempts, f.vcs_provider, f.vcs_url, now() AS "began_at!"
           FROM claimed c JOIN findings f ON f.id = c.finding_id"#,
        limit,
        token,
        lease.as_secs_f64()
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Lookup {
            finding_id: r.finding_id,
            vcs_provider: r.vcs_provider,
            vcs_url: r.vcs_url,
            attempts: r.attempts,
            token,
            began_at: r.began_at,
        })
        .collect())
}

/// The lookup is done (applied, or nothing to apply): its row goes, unless another was asked for
/// after it began, which is then due at once. In the caller's transaction, beside what it
/// applied.
pub async fn finish(conn: &mut PgConnection, lookup: &Lookup) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"WITH gone AS (
               DELETE FROM finding_lookups
               WHERE finding_id = $1 AND lease_token = $2 AND requested_at <= $3
               RETURNING finding_id
           )
           UPDATE finding_lookups SET lease_token = NULL, lease_expires_at = NULL, due_at = now(),
                  attempts = 0, last_error = NULL
           WHERE finding_id = $1 AND lease_token = $2 AND NOT EXISTS (SELECT 1 FROM gone)"#,
        lookup.finding_id,
        lookup.token,
        lookup.began_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The lookup failed: tried again after `retry_in`, with the reason kept.
pub async fn fail(
    conn: &mut PgConnection,
    lookup: &Lookup,
    retry_in: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE finding_lookups SET lease_token = NULL, lease_expires_at = NULL,
                  attempts = attempts + 1, last_error = $3,
                  due_at = now() + make_interval(secs => $4)
           WHERE finding_id = $1 AND lease_token = $2"#,
        lookup.finding_id,
        lookup.token,
        error,
        retry_in.as_secs_f64()
    )
    .execute(conn)
    .await?;
    Ok(())
}
