//! DeepSource's request limit, kept in Postgres so replicas sharing a token share one budget:
//! a token bucket refilled at the hourly share (`DEEPSOURCE_REQUESTS_PER_HOUR`) and holding at
//! most a minute's worth, so no hour ever sees more than the share plus that minute.
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// A wait up to this long is slept through; a longer one is the caller's to schedule.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct Budget {
    pool: PgPool,
    key: String,
    per_second: f64,
    capacity: f64,
}

impl Budget {
    /// `token` enters only hashed: the key says whose budget it is without saying the token.
    pub fn new(pool: PgPool, token: &str, per_hour: u32) -> Self {
        let per_hour = f64::from(per_hour.max(1));
        Self {
            pool,
            key: hex::encode(&Sha256::digest(token.as_bytes())[..8]),
            per_second: per_hour / 3600.0,
            capacity: (per_hour / 60.0).max(1.0),
        }
    }

    /// Takes one request from the budget, or says how long until one is free.
    pub async fn take(&self) -> Result<Option<Duration>, sqlx::Error> {
        // One statement: the upsert locks the row, so replicas take turns; a bucket that is
        // blocked or empty is left as it is and no row comes back.
        let taken = sqlx::query_scalar!(
            r#"INSERT INTO deepsource_budget AS b (budget_key, tokens, refilled_at)
               VALUES ($1, $3::float8 - 1, clock_timestamp())
               ON CONFLICT (budget_key) DO UPDATE SET
                   tokens = LEAST($3::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at)::float8 * $2::float8) - 1,
                   refilled_at = clock_timestamp()
               WHERE (b.blocked_until IS NULL OR b.blocked_until <= clock_timestamp())
                 AND LEAST($3::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.refilled_at)::float8 * $2::float8) >= 1
               RETURNING tokens"#,
            self.key,
            self.per_second,
            self.capacity
        )
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let wait = sqlx::query_scalar!(
            r#"SELECT GREATEST(
                   COALESCE(extract(epoch FROM blocked_until - clock_timestamp())::float8, 0),
                   (1 - LEAST($2::float8, tokens + extract(epoch FROM clock_timestamp() - refilled_at)::float8 * $3::float8)) / $3::float8
               ) AS "wait!"
               FROM deepsource_budget WHERE budget_key = $1"#,
            self.key,
            self.capacity,
            self.per_second
        )
        .fetch_one(&self.pool)
        .await?;
        // Rounded up to whole milliseconds, so a retry at the end of the wait finds the token.
        Ok(Some(Duration::from_millis(
            (wait.max(0.0) * 1000.0).ceil() as u64 + 1,
        )))
    }

    /// DeepSource said 429: nothing on this budget goes out for `wait`.
    pub async fn block(&self, wait: Duration) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"INSERT INTO deepsource_budget AS b (budget_key, tokens, refilled_at, blocked_until)
               VALUES ($1, 0, clock_timestamp(), clock_timestamp() + make_interval(secs => $2::float8))
               ON CONFLICT (budget_key) DO UPDATE SET
                   blocked_until = GREATEST(b.blocked_until, EXCLUDED.blocked_until)"#,
            self.key,
            wait.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
