//! GitHub's write limits, kept in Postgres so every replica using one credential shares one
//! budget: writes one at a time at least `min_interval` apart, at most `per_minute` in any
//! minute and `per_hour` in any hour, and none while GitHub has told us to back off.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::configuration::GitHubSettings;

#[derive(Clone, Debug)]
pub struct Pacer {
    pool: PgPool,
    min_interval: Duration,
    per_minute: i32,
    per_hour: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    /// The write is booked; make it now.
    Granted,
    /// No write may be made for this long.
    Wait(Duration),
}

impl Pacer {
    pub fn new(pool: PgPool, settings: &GitHubSettings) -> Self {
        Self {
            pool,
            min_interval: settings.min_write_interval,
            per_minute: settings.writes_per_minute.try_into().unwrap_or(i32::MAX),
            per_hour: settings.writes_per_hour.try_into().unwrap_or(i32::MAX),
        }
    }

    /// Books a write for `key` if the budget allows one now.
    pub async fn try_write(&self, key: &str) -> Result<Slot, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO github_budget (budget_key) VALUES ($1) ON CONFLICT DO NOTHING",
            key
        )
        .execute(&mut *tx)
        .await?;
        // The row lock makes replicas sharing a credential take turns here.
        let blocked_until = sqlx::query_scalar!(
            "SELECT blocked_until FROM github_budget WHERE budget_key = $1 FOR UPDATE",
            key
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM github_writes WHERE budget_key = $1 AND written_at < now() - interval '1 hour'",
            key
        )
        .execute(&mut *tx)
        .await?;
        // minute_edge / hour_edge: the oldest write that still fills the window; the window has
        // room again once it leaves.
        let w = sqlx::query!(
            r#"SELECT now() AS "now!",
                 (SELECT max(written_at) FROM github_writes WHERE budget_key = $1) AS last,
                 (SELECT written_at FROM github_writes
                  WHERE budget_key = $1 AND written_at > now() - interval '1 minute'
                  ORDER BY written_at DESC OFFSET $2 - 1 LIMIT 1) AS minute_edge,
                 (SELECT written_at FROM github_writes
                  WHERE budget_key = $1 AND written_at > now() - interval '1 hour'
                  ORDER BY written_at DESC OFFSET $3 - 1 LIMIT 1) AS hour_edge"#,
            key,
            self.per_minute,
            self.per_hour
        )
        .fetch_one(&mut *tx)
        .await?;
        let now = w.now;
        let free_at = [
            blocked_until,
            w.last.map(|t| t + self.min_interval),
            w.minute_edge.map(|t| t + chrono::Duration::minutes(1)),
            w.hour_edge.map(|t| t + chrono::Duration::hours(1)),
        ]
        .into_iter()
        .flatten()
        .max();
        let slot = match free_at.filter(|t| *t > now) {
            Some(t) => Slot::Wait(until(now, t)),
            None => {
                sqlx::query!(
                    "INSERT INTO github_writes (budget_key, written_at) VALUES ($1, now())",
                    key
                )
                .execute(&mut *tx)
                .await?;
                Slot::Granted
            }
        };
        tx.commit().await?;
        Ok(slot)
    }

    /// For reads: how long GitHub has asked us to wait, if it has.
    pub async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, sqlx::Error> {
        let row = sqlx::query!(
            r#"SELECT now() AS "now!", blocked_until FROM github_budget WHERE budget_key = $1"#,
            key
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| r.blocked_until.filter(|t| *t > r.now).map(|t| until(r.now, t))))
    }

    /// GitHub said to slow down: nothing goes out on this credential before `until`.
    pub async fn block(&self, key: &str, until: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"INSERT INTO github_budget (budget_key, blocked_until) VALUES ($1, $2)
               ON CONFLICT (budget_key) DO UPDATE
               SET blocked_until = GREATEST(github_budget.blocked_until, EXCLUDED.blocked_until)"#,
            key,
            until
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn until(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (t - now).to_std().unwrap_or_default()
}
