//! The sync worker: applies stored issue events to their findings exactly once and drives
//! GitHub to match, one finding at a time.
mod driver;
mod event;
mod github;
mod pacing;
mod render;
mod store;

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

pub use driver::backoff;
use driver::{Driver, SyncError};
pub use github::GitHub;
pub use render::{marker, neutralise};
use store::JobEnd;

use crate::configuration::Settings;

/// A finding is held this long; a worker that dies releases it when this runs out.
const LEASE: Duration = Duration::from_secs(120);
/// How often an idle worker looks for due jobs.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long the worker stops after GitHub rejects its credentials.
const AUTH_PAUSE: Duration = Duration::from_secs(300);

pub struct Worker {
    pool: PgPool,
    driver: Driver,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub findings: usize,
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// GitHub rejected the credentials; nothing can be synced until they are fixed.
    #[error("GitHub rejected the credentials (401): {0}")]
    Unauthorized(String),
}

impl Worker {
    pub fn new(pool: PgPool, settings: &Settings) -> anyhow::Result<Self> {
        let github = GitHub::new(&settings.github)?;
        if github.is_none() {
            tracing::warn!("no GITHUB_TOKEN or GITHUB_APP_ID: the worker runs dry, logging and recording what it would do");
        }
        let driver = Driver::new(
            pool.clone(),
            github,
            settings.github.clone(),
            settings.sync.clone(),
        );
        Ok(Self { pool, driver })
    }

    /// Claims one finding with due jobs and syncs it. `None` when nothing is due.
    #[tracing::instrument(skip_all, fields(finding = tracing::field::Empty, jobs = tracing::field::Empty))]
    pub async fn run_once(&self) -> Result<Option<usize>, WorkerError> {
        store::fail_jobs_without_finding(&self.pool).await?;
        let Some(claim) = store::claim(&self.pool, LEASE).await? else {
            return Ok(None);
        };
        let span = tracing::Span::current();
        span.record("finding", claim.finding_id.as_str());
        span.record("jobs", claim.jobs.len());
        let result = self.sync_claim(&claim).await;
        store::release_lease(&self.pool, &claim.finding_id, claim.token).await?;
        result.map(|()| Some(claim.jobs.len()))
    }

    async fn sync_claim(&self, claim: &store::Claim) -> Result<(), WorkerError> {
        let mut applicable = Vec::new();
        let mut tx = self.pool.begin().await?;
        for job in &claim.jobs {
            match event::FindingEvent::parse(&job.body, job.event_time) {
                Ok(parsed) if parsed.object.id == claim.finding_id => {
                    store::apply(&mut tx, &job.event_id, &parsed).await?;
                    applicable.push(job.id);
                }
                Ok(parsed) => {
                    let reason = format!(
                        "data.object.id {} does not match the job's finding",
                        parsed.object.id
                    );
                    store::finish_jobs(&self.pool, &[job.id], &JobEnd::Dead(reason)).await?;
                }
                Err(reason) => {
                    tracing::warn!(event_id = %job.event_id, reason, "an issue event cannot be synced");
                    store::finish_jobs(&self.pool, &[job.id], &JobEnd::Dead(reason)).await?;
                }
            }
        }
        tx.commit().await?;
        if applicable.is_empty() {
            return Ok(());
        }
        let attempts = claim.jobs.iter().map(|j| j.attempts).max().unwrap_or(1);
        let end = match self.driver.sync(&claim.finding_id, attempts).await {
            Ok(end) => end,
            Err(SyncError::GitHub(github::GitHubError::Unauthorized(message))) => {
                // The jobs go back untouched: they are not at fault.
                let end = JobEnd::Retry {
                    at: chrono::Utc::now(),
                    error: format!("GitHub rejected the credentials: {message}"),
                    counted: false,
                };
                store::finish_jobs(&self.pool, &applicable, &end).await?;
                return Err(WorkerError::Unauthorized(message));
            }
            Err(other) => {
                let end = JobEnd::Retry {
                    at: chrono::Utc::now() + backoff(attempts),
                    error: other.to_string(),
                    counted: true,
                };
                store::finish_jobs(&self.pool, &applicable, &end).await?;
                return match other {
                    SyncError::Database(e) => Err(e.into()),
                    _ => Ok(()),
                };
            }
        };
        match &end {
            JobEnd::Dead(reason) => tracing::error!(reason, "sync failed for good; jobs are dead"),
            JobEnd::Skipped(reason) => tracing::info!(reason, "finding not synced"),
            JobEnd::Retry { at, error, .. } => tracing::warn!(%at, error, "sync will be retried"),
            JobEnd::Done => {}
        }
        store::finish_jobs(&self.pool, &applicable, &end).await?;
        Ok(())
    }

    /// Works until no job is due now (later retries stay queued). For tests and one-off runs.
    pub async fn run_until_idle(&self) -> Result<Pass, WorkerError> {
        let mut pass = Pass::default();
        while let Some(jobs) = self.run_once().await? {
            pass.findings += 1;
            pass.jobs += jobs;
        }
        Ok(pass)
    }

    /// Works until `shutdown` turns true; the finding in hand is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(dry_run = self.driver.is_dry_run(), "sync worker started");
        while !*shutdown.borrow() {
            let pause = match self.run_once().await {
                Ok(Some(_)) => continue,
                Ok(None) => POLL_INTERVAL,
                Err(WorkerError::Unauthorized(message)) => {
                    tracing::error!(
                        message,
                        pause_secs = AUTH_PAUSE.as_secs(),
                        "GitHub REJECTED THE CREDENTIALS (401): fix GITHUB_TOKEN / GitHub App settings; the worker pauses, jobs stay queued"
                    );
                    AUTH_PAUSE
                }
                Err(WorkerError::Database(error)) => {
                    tracing::warn!(%error, "sync worker cannot reach the database; retrying");
                    Duration::from_secs(2)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("sync worker stopped");
    }
}
