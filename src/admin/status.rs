//! The service at a glance: intake, the queue, GitHub's budget and when the queue will have
//! drained, findings by state, the last snapshot of each repository. `status` prints it, the
//! status page shows it.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::wake::WorkerRow;
use sqlx::PgPool;

use super::AdminError;
use crate::configuration::GitHubSettings;
use crate::github::pacing::{Budget, Pacer};

#[derive(Debug, Serialize)]
pub struct Status {
    pub intake: Intake,
    pub queue: Queue,
    pub github: Vec<Budget>,
    /// Roughly how long until GitHub shows every queued finding, one write each at the pace the
    /// limits allow; `None` when nothing waits.
    pub drain_eta_seconds: Option<f64>,
    /// By state (open, closed, dismissed, failed), each present.
    pub findings: Vec<(String, i64)>,
    pub snapshots: Vec<Snapshot>,
    /// Every running sync worker process and how it hears of work (listening, or polling and
    /// why).
    pub workers: Vec<WorkerRow>,
    /// Each repository's overview issue (`OVERVIEW_ISSUE`).
    pub overviews: Vec<super::overviews::OverviewRow>,
}

#[derive(Debug, Serialize)]
pub struct Intake {
    pub events: i64,
    pub last_hour: i64,
    pub last_day: i64,
    pub conflicts: i64,
    pub last_received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct Queue {
    /// By status (pending, running, done, skipped, dead), each present.
    pub jobs: Vec<(String, i64)>,
    /// Findings with a job waiting: each costs GitHub at least one write.
    pub findings_waiting: i64,
    pub oldest_pending_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub repository: String,
    pub at: DateTime<Utc>,
}

pub async fn status(pool: &PgPool, github: &GitHubSettings) -> Result<Status, AdminError> {
    let intake = sqlx::query_as!(
        Intake,
        r#"SELECT count(*) AS "events!",
                  count(*) FILTER (WHERE received_at > now() - interval '1 hour') AS "last_hour!",
                  count(*) FILTER (WHERE received_at > now() - interval '1 day') AS "last_day!",
                  (SELECT count(*) FROM webhook_event_conflicts) AS "conflicts!",
                  max(received_at) AS last_received_at
           FROM webhook_events"#
    )
    .fetch_one(pool)
    .await?;
    let counts =
        sqlx::query!(r#"SELECT status AS "status!", count(*) AS "n!" FROM sync_jobs GROUP BY status"#)
            .fetch_all(pool)
            .await?;
    let waiting = sqlx::query!(
        r#"SELECT count(DISTINCT finding_id) AS "findings!",
                  extract(epoch FROM now() - min(created_at))::float8 AS oldest
           FROM sync_jobs WHERE status IN ('pending', 'running')"#
    )
    .fetch_one(pool)
    .await?;
    let by_state =
        sqlx::query!(r#"SELECT state AS "state!", count(*) AS "n!" FROM finding_status GROUP BY state"#)
            .fetch_all(pool)
            .await?;
    let snapshots = sqlx::query_as!(
        Snapshot,
        r#"SELECT split_part(repository_key, ':', 2) AS "repository!", at AS "at!"
           FROM repository_snapshots ORDER BY repository_key"#
    )
    .fetch_all(pool)
    .await?;
    let pacer = Pacer::new(pool.clone(), github);
    let budgets = pacer.budgets().await?;
    let now = Utc::now();
    let first_wait = budgets
        .iter()
        .map(|b| (b.next_write_at - now).to_std().unwrap_or_default())
        .min()
        .unwrap_or_default();
    let left = budgets.iter().map(|b| b.writes_left_this_hour).min();
    let drain_eta_seconds = drain_eta(waiting.findings, left, first_wait, github);
    let jobs: Vec<(String, i64)> = counts.into_iter().map(|r| (r.status, r.n)).collect();
    let states: Vec<(String, i64)> = by_state.into_iter().map(|r| (r.state, r.n)).collect();
    Ok(Status {
        intake,
        queue: Queue {
            jobs: super::jobs::STATUSES
                .iter()
                .map(|s| (s.to_string(), count(&jobs, s)))
                .collect(),
            findings_waiting: waiting.findings,
            oldest_pending_age_seconds: waiting.oldest,
        },
        github: budgets,
        drain_eta_seconds,
        findings: super::findings::STATES
            .iter()
            .map(|s| (s.to_string(), count(&states, s)))
            .collect(),
        snapshots,
        workers: crate::wake::workers(pool).await?,
        overviews: super::overviews::overviews(pool, github, None).await?,
    })
}

/// The count under `key` in one of the status's lists (0 when absent).
pub fn count(pairs: &[(String, i64)], key: &str) -> i64 {
    pairs.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

/// How long until the credential's next write may go; `None` when it may go now (within half a
/// second: not worth saying).
pub fn next_write_in(budget: &Budget, now: DateTime<Utc>) -> Option<Duration> {
    (budget.next_write_at - now)
        .to_std()
        .ok()
        .filter(|wait| *wait > Duration::from_millis(500))
}

/// A span as people read it, to the second: `4m 2s`.
pub fn span(seconds: f64) -> String {
    humantime::format_duration(Duration::from_secs(seconds.max(0.0).round() as u64)).to_string()
}

/// A moment as the status shows it: `2026-12-01 18:59:08 UTC`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `waiting` writes: what is left of this hour goes at the minute's pace (or the interval's),
/// the rest at the hour's. A rough figure (a finding may need more than one write, a close and
/// a comment).
fn drain_eta(
    waiting: i64,
    left_this_hour: Option<i64>,
    first_wait: Duration,
    github: &GitHubSettings,
) -> Option<f64> {
    if waiting <= 0 {
        return None;
    }
    let interval = github.min_write_interval.as_secs_f64();
    let burst = f64::from(github.writes_per_minute.max(1)) / 60.0;
    let burst = if interval > 0.0 {
        burst.min(1.0 / interval)
    } else {
        burst
    };
    let sustained = burst.min(f64::from(github.writes_per_hour.max(1)) / 3600.0);
    let left = left_this_hour.unwrap_or(i64::from(github.writes_per_hour)).max(0);
    let now_part = waiting.min(left) as f64 / burst;
    let later = (waiting - left).max(0) as f64 / sustained;
    Some(first_wait.as_secs_f64() + now_part + later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn github() -> GitHubSettings {
        // GitHub's defaults here: one write a second, 80 a minute, 500 an hour.
        Settings::from_lookup(|_| None).unwrap().github
    }

    #[test]
    fn nothing_waiting_has_no_eta() {
        assert_eq!(drain_eta(0, Some(500), Duration::ZERO, &github()), None);
    }

    #[test]
    fn the_eta_follows_the_minute_then_the_hour() {
        let g = github();
        // 80 writes within this hour's budget go one a second (80 a minute would allow more).
        let eta = drain_eta(80, Some(500), Duration::ZERO, &g).unwrap();
        assert!((eta - 80.0).abs() < 1e-6, "{eta}");
        // Without the interval, the minute's limit paces them: 160 take two minutes.
        let fast = GitHubSettings {
            min_write_interval: Duration::ZERO,
            ..g.clone()
        };
        let eta = drain_eta(160, Some(500), Duration::ZERO, &fast).unwrap();
        assert!((eta - 120.0).abs() < 1e-6, "{eta}");
        // With the hour spent, each write waits for the hour's pace: 7.2 s apiece.
        let eta = drain_eta(10, Some(0), Duration::from_secs(30), &g).unwrap();
        assert!((eta - (30.0 + 72.0)).abs() < 1e-6, "{eta}");
    }
}
