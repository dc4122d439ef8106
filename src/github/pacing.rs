//! GitHub's write limits, kept in Postgres so every replica using one credential shares one
//! budget: writes one at a time at least `min_interval` apart, at most `per_minute` in any
//! minute and `per_hour` in any hour, and none while GitHub has told us to back off.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::configuration::GitHubSettings;

/// Budget waits up to this long are slept through; a caller given a longer one reschedules its
/// work for then.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(20);
/// A booked write not sent this long after its slot is taken to be abandoned.
const ABANDONED_AFTER: Duration = Duration::from_secs(1);
/// How much later than its slot the write before may have left without holding the next one
/// back: the usual wake-up and round trip. Waiting out every millisecond of it would pass each
/// write's lateness on to the next, and the schedule would drift.
const SEND_SLACK: Duration = Duration::from_millis(5);

#[derive(Clone, Debug)]
pub struct Pacer {
    pool: PgPool,
    min_interval: Duration,
    per_minute: i32,
    per_hour: i32,
}

struct Window {
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    minute_edge: Option<DateTime<Utc>>,
    hour_edge: Option<DateTime<Utc>>,
}

/// One credential's write budget as it stands.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Budget {
    pub key: String,
    pub writes_last_hour: i64,
    pub writes_left_this_hour: i64,
    /// Now when a write could go at once.
    pub next_write_at: DateTime<Utc>,
    /// GitHub asked for a pause until then.
    pub blocked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Slot {
    /// A write is booked: sleep until `at`, call `sending`, then make it. Booking the future
    /// slot (rather than asking again later) keeps writes on the floor.
    Booked { id: i64, at: tokio::time::Instant },
    /// No slot within the horizon; nothing was booked.
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

    /// Books a write slot for `key` and sleeps until it: `Ok(Err(wait))` when the first free one
    /// is further off than `horizon` (nothing booked; the caller comes back then).
    pub async fn take_write_slot(
        &self,
        key: &str,
        horizon: Duration,
    ) -> Result<Result<(), Duration>, sqlx::Error> {
        match self.book_write(key, horizon).await? {
            Slot::Booked { id, at } => {
                tokio::time::sleep_until(at).await;
                self.sending(id).await?;
                Ok(Ok(()))
            }
            Slot::Wait(wait) => Ok(Err(wait)),
        }
    }

    /// Books the first free write slot for `key`, if it is no further off than `horizon`.
    pub async fn book_write(&self, key: &str, horizon: Duration) -> Result<Slot, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Creating or touching the row locks it, so replicas sharing a credential take turns
        // here; one statement both ways.
        let blocked_until = sqlx::query_scalar!(
            r#"INSERT INTO github_budget (budget_key) VALUES ($1)
               ON CONFLICT (budget_key) DO UPDATE SET budget_key = EXCLUDED.budget_key
               RETURNING blocked_until"#,
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
        let w = self.window(&mut tx, key).await?;
        // The database's clock paired with ours at the moment its answer arrived: the slot's
        // local deadline is then never early, and late only by the answer's trip.
        let local_now = tokio::time::Instant::now();
        let now = w.now;
        let at = self.free_at(blocked_until, &w);
        let slot = if until(now, at) > horizon {
            Slot::Wait(until(now, at))
        } else {
            let id = sqlx::query_scalar!(
                "INSERT INTO github_writes (budget_key, written_at) VALUES ($1, $2) RETURNING id",
                key,
                at
            )
            .fetch_one(&mut *tx)
            .await?;
            crate::metrics::budget_wait(until(now, at));
            Slot::Booked {
                id,
                at: local_now + until(now, at),
            }
        };
        tx.commit().await?;
        Ok(slot)
    }

    /// The writes that decide when the next may go. minute_edge / hour_edge: the oldest write
    /// that still fills its window; the window has room again once it leaves.
    async fn window(&self, conn: &mut sqlx::PgConnection, key: &str) -> Result<Window, sqlx::Error> {
        sqlx::query_as!(
            Window,
            r#"SELECT clock_timestamp() AS "now!",
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
        .fetch_one(conn)
        .await
    }

    /// The first moment a write is allowed: now, or when the block, the interval or a full
    /// window ends, whichever is last.
    fn free_at(&self, blocked_until: Option<DateTime<Utc>>, w: &Window) -> DateTime<Utc> {
        let free_at = [
            blocked_until,
            w.last.map(|t| t + self.min_interval),
            w.minute_edge.map(|t| t + chrono::Duration::minutes(1)),
            w.hour_edge.map(|t| t + chrono::Duration::hours(1)),
        ]
        .into_iter()
        .flatten()
        .max();
        free_at.filter(|t| *t > w.now).unwrap_or(w.now)
    }

    /// Where every credential's budget stands, for the status page and `status`: read only,
    /// nothing booked.
    pub async fn budgets(&self) -> Result<Vec<Budget>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let keys = sqlx::query!("SELECT budget_key, blocked_until FROM github_budget ORDER BY budget_key")
            .fetch_all(&mut *conn)
            .await?;
        let mut budgets = Vec::with_capacity(keys.len());
        for key in keys {
            let w = self.window(&mut conn, &key.budget_key).await?;
            let last_hour = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM github_writes
                   WHERE budget_key = $1 AND written_at > now() - interval '1 hour'"#,
                key.budget_key
            )
            .fetch_one(&mut *conn)
            .await?;
            budgets.push(Budget {
                next_write_at: self.free_at(key.blocked_until, &w),
                blocked_until: key.blocked_until.filter(|t| *t > w.now),
                writes_last_hour: last_hour,
                writes_left_this_hour: (i64::from(self.per_hour) - last_hour).max(0),
                key: key.budget_key,
            });
        }
        Ok(budgets)
    }

    /// The booked write goes out now, once the write booked before it has been gone for the
    /// minimum interval (less `SEND_SLACK`): slots are booked from one another's times, and the
    /// process holding the earlier one may have woken late (a busy machine, another replica),
    /// which would otherwise crowd the two together at GitHub. A write that went out
    /// late also moves its record to when it really went, so the next booking cannot follow too
    /// close behind; lateness within the timer's 1 ms granularity is not carried forward, or
    /// every write would drift the schedule. An earlier write that never left (its process died
    /// between booking and sending) holds the next back only until `ABANDONED_AFTER` past its slot.
    ///
    /// The stamp is committed without waiting for the WAL to reach disk: the write leaves right
    /// after the commit, so a flush delayed by other work on the server (a checkpoint, a database
    /// being created) would make it leave that much later than its stamp says, and the next
    /// replica, timing itself from the stamp, would follow it too closely. A stamp a crash of
    /// Postgres loses only makes the next write wait `ABANDONED_AFTER`.
    pub async fn sending(&self, booked: i64) -> Result<(), sqlx::Error> {
        loop {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
            let wait = sqlx::query_scalar!(
                r#"WITH me AS (SELECT id, budget_key FROM github_writes WHERE id = $1),
                        prev AS (
                            SELECT w.sent_at, w.written_at FROM github_writes w, me
                            WHERE w.budget_key = me.budget_key AND w.id < me.id
                            ORDER BY w.id DESC LIMIT 1
                        ),
                        free AS (
                            SELECT CASE WHEN sent_at IS NOT NULL
                                        THEN sent_at + make_interval(secs => $2) - make_interval(secs => $4)
                                        ELSE written_at + make_interval(secs => $3) END AS at
                            FROM prev
                        ),
                        sent AS (
                            UPDATE github_writes
                            SET sent_at = clock_timestamp(),
                                written_at = GREATEST(written_at, clock_timestamp() - interval '1 millisecond')
                            WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM free WHERE at > clock_timestamp())
                            RETURNING id
                        )
                   SELECT CASE WHEN EXISTS (SELECT 1 FROM sent) THEN NULL
                               ELSE extract(epoch FROM (SELECT at FROM free) - clock_timestamp())::float8
                          END AS wait"#,
                booked,
                self.min_interval.as_secs_f64(),
                ABANDONED_AFTER.as_secs_f64(),
                SEND_SLACK.as_secs_f64()
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            match wait {
                None => return Ok(()),
                // At least a millisecond, so a wait that rounds to nothing cannot spin.
                Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.001))).await,
            }
        }
    }

    /// Before a read: sleeps out a pause GitHub asked for, when it ends within `horizon`;
    /// `Ok(Err(wait))` when it ends later (the caller comes back then).
    pub async fn wait_for_reads(
        &self,
        key: &str,
        horizon: Duration,
    ) -> Result<Result<(), Duration>, sqlx::Error> {
        match self.blocked_for(key).await? {
            None => Ok(Ok(())),
            Some(wait) if wait <= horizon => {
                tokio::time::sleep(wait).await;
                Ok(Ok(()))
            }
            Some(wait) => Ok(Err(wait)),
        }
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

    /// GitHub said to slow down: nothing goes out on this credential for `wait`, counted on the
    /// database's clock, which every replica's check reads.
    pub async fn block(&self, key: &str, wait: Duration) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"INSERT INTO github_budget (budget_key, blocked_until)
               VALUES ($1, now() + make_interval(secs => $2))
               ON CONFLICT (budget_key) DO UPDATE
               SET blocked_until = GREATEST(github_budget.blocked_until, EXCLUDED.blocked_until)"#,
            key,
            wait.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn until(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (t - now).to_std().unwrap_or_default()
}
