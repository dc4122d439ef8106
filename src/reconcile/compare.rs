//! One comparison with DeepSource: a complete snapshot of a repository taken and applied, what
//! that leaves for the worker to do on GitHub, and how long GitHub's write budget makes it take.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

use crate::configuration::{GitHubSettings, Settings};
use crate::deepsource::{take_snapshot_with_progress, Budget, DeepSource, RepositoryRef, SnapshotError};
use crate::findings::snapshots::{apply_snapshot, snapshot_begins, SnapshotApplied};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What the worker has queued for one repository after a snapshot: issues to create, to
/// update (or reopen), and to close.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    pub create: i64,
    pub update: i64,
    pub close: i64,
}

impl Planned {
    /// GitHub writes they take: a close or a reopen is followed by its comment.
    pub fn writes(&self) -> i64 {
        self.create + self.update + 2 * self.close
    }
}

/// The client for `settings`, drawing on the budget replicas share; `None` without a token.
pub fn client(pool: &PgPool, settings: &Settings) -> anyhow::Result<Option<DeepSource>> {
    use secrecy::ExposeSecret;
    let ds = &settings.deepsource;
    let Some(token) = &ds.token else {
        return Ok(None);
    };
    let budget = Budget::new(pool.clone(), token.expose_secret(), ds.requests_per_hour);
    Ok(Some(
        DeepSource::new(&ds.api_url, token.clone())?.with_budget(budget),
    ))
}

/// Takes a complete snapshot of `repository` and applies it. `show_progress` draws a bar on a
/// terminal and prints plain lines otherwise.
pub async fn reconcile(
    pool: &PgPool,
    client: &DeepSource,
    repository: &RepositoryRef,
    show_progress: bool,
) -> Result<SnapshotApplied, ReconcileError> {
    let began = snapshot_begins(pool).await?;
    let bar = (show_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} issues")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(repository.to_string());
        bar
    });
    let progress = |listed: usize, total: Option<usize>| match &bar {
        Some(bar) => {
            bar.set_length(total.unwrap_or(listed) as u64);
            bar.set_position(listed as u64);
        }
        None if show_progress => {
            let total = total.map_or("?".to_owned(), |t| t.to_string());
            eprintln!("{repository}: {listed} of {total} issues listed");
        }
        None => {}
    };
    let snapshot = take_snapshot_with_progress(client, repository, progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(apply_snapshot(pool, &snapshot?, began).await?)
}

/// The GitHub work queued for `repository`'s findings.
pub async fn planned(pool: &PgPool, repository: &RepositoryRef) -> Result<Planned, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE f.open_occurrences > 0 AND f.github_issue_number IS NULL) AS "create!",
                  count(*) FILTER (WHERE f.open_occurrences <= 0 AND f.github_state = 'open') AS "close!",
                  count(*) FILTER (WHERE f.open_occurrences > 0 AND f.github_issue_number IS NOT NULL) AS "update!"
           FROM findings f
           WHERE f.repository_key = $1
             AND EXISTS (SELECT 1 FROM sync_jobs j WHERE j.finding_id = f.id AND j.status = 'pending')"#,
        repository.key()
    )
    .fetch_one(pool)
    .await?;
    Ok(Planned {
        create: row.create,
        update: row.update,
        close: row.close,
    })
}

/// How long `writes` GitHub writes take at the configured pace: the slowest of the interval
/// between writes and the per-minute and per-hour limits.
pub fn estimate(writes: i64, github: &GitHubSettings) -> Duration {
    let n = writes.max(0) as f64;
    let by_interval = github.min_write_interval.as_secs_f64() * n;
    let by_minute = 60.0 * n / f64::from(github.writes_per_minute.max(1));
    let by_hour = 3600.0 * n / f64::from(github.writes_per_hour.max(1));
    Duration::from_secs_f64(by_interval.max(by_minute).max(by_hour))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_limit_is_what_a_large_backfill_waits_for() {
        let github = crate::configuration::tests::settings(&[]).unwrap().github;
        // 500 an hour: 60 writes take 7.2 minutes, 2,000 take four hours.
        assert_eq!(estimate(60, &github), Duration::from_secs(432));
        assert_eq!(estimate(2000, &github), Duration::from_secs(4 * 3600));
        // Without the hourly limit, one a second, and at most 80 a minute: 160 take 160 s, and
        // at 40 a minute 120 s.
        let fast = crate::configuration::tests::settings(&[("GITHUB_WRITES_PER_HOUR", "100000")])
            .unwrap()
            .github;
        assert_eq!(estimate(160, &fast), Duration::from_secs(160));
        let slow_minute = crate::configuration::tests::settings(&[
            ("GITHUB_WRITES_PER_HOUR", "100000"),
            ("GITHUB_WRITES_PER_MINUTE", "40"),
            ("GITHUB_MIN_WRITE_INTERVAL_MS", "0"),
        ])
        .unwrap()
        .github;
        assert_eq!(estimate(80, &slow_minute), Duration::from_secs(120));
        assert_eq!(estimate(0, &github), Duration::ZERO);
        let planned = Planned {
            create: 3,
            update: 1,
            close: 2,
        };
        assert_eq!(planned.writes(), 8);
    }
}
