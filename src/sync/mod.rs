//! The sync worker: claims a finding with its due jobs under a lease, applies its events, and
//! drives its GitHub issue to match (plan, create or update, close or reopen, recover what an
//! interrupted call made, respect what people decided). It holds the loop, not the state: a
//! finding's tables are `findings/`, what an issue says is `issue/`, GitHub's API is `github/`.
//! Between syncs it sleeps until woken (`wake/`), until the next job is due, or until its
//! fallback interval (`wait.rs`); the upkeep of the queue is `maintenance/`'s, not its passes'.
mod apply;
mod driver;
mod dry_run;
mod error;
mod labels;
mod lease;
mod link;
mod look;
mod own_issue;
mod owners;
mod plan;
mod recovery;
mod supervisor;
mod target;
mod wait;

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use driver::Driver;
use error::SyncError;
use lease::{Claim, Heartbeat};
pub use supervisor::{supervise, WorkerLiveness, WorkerState};
use wait::Look;

use crate::configuration::Settings;
use crate::findings::due;
use crate::findings::fence::StoreError;
use crate::findings::jobs::{self, JobEnd};
use crate::findings::lookups;
use crate::github::client::{self as github, GitHub};
use crate::github::errors::{backoff, AUTH_PAUSE};
use crate::overview::Overviews;
use crate::wake::Wakeups;

/// After a look said a job is due and the claim found it taken (another replica's claim was
/// committing), the worker looks again this soon rather than spin.
const RACED: Duration = Duration::from_millis(50);
/// How long the worker waits before trying the database again after an error.
const DATABASE_RETRY: Duration = Duration::from_secs(2);

pub struct Worker {
    pool: PgPool,
    driver: Driver,
    /// A finding is held this long (`SYNC_LEASE_SECS`); a worker that dies releases it when this
    /// runs out. A live worker renews it every quarter of this while it syncs.
    lease: Duration,
    /// The longest one sync may take, well inside the lease: a worker that cannot renew its
    /// lease (a stalled database) still stops before another worker may take the finding.
    deadline: Duration,
    /// With a DeepSource token, a `resolved` event's finding has its occurrences looked up
    /// (`findings/lookups.rs`) and its sync waits for that.
    lookups: bool,
    /// `SYNC_POLL_INTERVAL`: the longest an idle worker sleeps without a wake-up.
    poll: Duration,
}

/// What one step of the running worker came to.
enum Step {
    /// It synced a finding or ended jobs: more may be due.
    Worked,
    /// Nothing is due; the next job falls due after this long (`None`: none waits).
    Idle(Option<Duration>),
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
        let github = GitHub::new(&settings.github)?.map(std::sync::Arc::new);
        let overviews = Overviews::new(pool.clone(), github.clone(), settings).map(std::sync::Arc::new);
        if github.is_none() {
            tracing::warn!("no GITHUB_TOKEN or GITHUB_APP_ID: the worker runs dry, logging and recording what it would do");
        }
        let driver = Driver::new(
            pool.clone(),
            github,
            overviews,
            settings.github.clone(),
            settings.sync.clone(),
            settings.issues.clone(),
        );
        let lease = settings.sync.lease;
        Ok(Self {
            pool,
            driver,
            lease,
            deadline: lease * 3 / 4,
            lookups: settings.deepsource.token.is_some(),
            poll: settings.sync.poll_interval,
        })
    }

    /// Claims one finding with due jobs and syncs it. `None` when nothing is due.
    // `repository` and `github_issue` are filled in by the driver once it knows them.
    #[tracing::instrument(
        skip_all,
        fields(
            finding = tracing::field::Empty,
            jobs = tracing::field::Empty,
            repository = tracing::field::Empty,
            github_issue = tracing::field::Empty
        )
    )]
    pub async fn run_once(&self) -> Result<Option<usize>, WorkerError> {
        let Some(claim) = lease::claim(&self.pool, self.lease).await? else {
            return Ok(None);
        };
        let span = tracing::Span::current();
        span.record("finding", claim.lease.finding_id.as_str());
        span.record("jobs", claim.jobs.len());
        let mut heartbeat = Heartbeat::start(self.pool.clone(), claim.lease.clone(), self.lease);
        let result = tokio::select! {
            synced = tokio::time::timeout(self.deadline, self.sync_claim(&claim)) => match synced {
                Ok(result) => result,
                Err(_) => self.give_up_at_deadline(&claim).await,
            },
            () = heartbeat.lost() => Err(StoreError::LeaseLost.into()),
        };
        drop(heartbeat);
        let result = match result {
            Err(SyncError::LeaseLost) => {
                tracing::warn!("this worker's lease ran out and another worker holds the finding now; stopped this sync, changing nothing");
                Ok(())
            }
            other => other,
        };
        lease::release(&self.pool, &claim.lease).await?;
        match result {
            Ok(()) => Ok(Some(claim.jobs.len())),
            Err(SyncError::GitHub(github::GitHubError::Unauthorized(message))) => {
                Err(WorkerError::Unauthorized(message))
            }
            Err(SyncError::Database(e)) => Err(e.into()),
            Err(other) => {
                tracing::error!(error = %other, "a sync stopped short");
                Ok(Some(claim.jobs.len()))
            }
        }
    }

    /// Applies the claimed events (each on its own, so one that cannot be applied ends `dead`
    /// while the rest go on), then drives GitHub once for all of them.
    async fn sync_claim(&self, claim: &Claim) -> Result<(), SyncError> {
        let lease = &claim.lease;
        let apply::Applied { applicable, dead } = apply::apply_claim(&self.pool, claim, self.lookups).await?;
        for (job, reason) in &dead {
            jobs::finish_jobs(&self.pool, lease, &[*job], &JobEnd::Dead(reason.clone())).await?;
        }
        if applicable.is_empty() {
            return Ok(());
        }
        // The lookup queues the finding once it has been tried: driving GitHub now would cost a
        // write for the count and another for the lines a moment later.
        if self.lookups && lookups::awaited(&self.pool, &lease.finding_id).await? {
            tracing::debug!("waiting for the finding's occurrences from DeepSource");
            jobs::finish_jobs(&self.pool, lease, &applicable, &JobEnd::Done).await?;
            return Ok(());
        }
        let attempts = claim.jobs.iter().map(|j| j.attempts).max().unwrap_or(1);
        let end = match self.driver.sync(lease, attempts).await {
            Ok(end) => end,
            Err(SyncError::GitHub(github::GitHubError::Unauthorized(message))) => {
                // The jobs go back untouched: they are not at fault.
                let end = JobEnd::Retry {
                    after: Duration::ZERO,
                    error: format!("GitHub rejected the credentials: {message}"),
                    counted: false,
                };
                jobs::finish_jobs(&self.pool, lease, &applicable, &end).await?;
                return Err(github::GitHubError::Unauthorized(message).into());
            }
            Err(SyncError::LeaseLost) => return Err(SyncError::LeaseLost),
            Err(other) => {
                let end = JobEnd::Retry {
                    after: backoff(attempts),
                    error: other.to_string(),
                    counted: true,
                };
                jobs::finish_jobs(&self.pool, lease, &applicable, &end).await?;
                return match other {
                    SyncError::Database(e) => Err(e.into()),
                    _ => Ok(()),
                };
            }
        };
        match &end {
            JobEnd::Dead(reason) => tracing::error!(reason, "sync failed for good; jobs are dead"),
            JobEnd::Skipped(reason) => tracing::info!(reason, "finding not synced"),
            JobEnd::Retry { after, error, .. } => {
                tracing::warn!(retry_in_secs = after.as_secs(), error, "sync will be retried")
            }
            JobEnd::Done => {}
        }
        jobs::finish_jobs(&self.pool, lease, &applicable, &end).await?;
        Ok(())
    }

    /// The sync overran its deadline (a call that would not end, a stalled connection): its
    /// jobs are retried later, and an interrupted create or comment is looked for then.
    async fn give_up_at_deadline(&self, claim: &Claim) -> Result<(), SyncError> {
        tracing::warn!(
            deadline_secs = self.deadline.as_secs_f64(),
            "a sync overran its deadline; its jobs are retried later"
        );
        let ids: Vec<i64> = claim.jobs.iter().map(|j| j.id).collect();
        let attempts = claim.jobs.iter().map(|j| j.attempts).max().unwrap_or(1);
        let end = JobEnd::Retry {
            after: backoff(attempts),
            error: format!("the sync took longer than its deadline ({:?})", self.deadline),
            counted: true,
        };
        jobs::finish_jobs(&self.pool, &claim.lease, &ids, &end).await?;
        Ok(())
    }

    /// What a worker does first: queues the findings these settings may sync differently from
    /// the settings that last looked at them (see `findings/due.rs`), and with overviews on,
    /// gives every repository with findings its overview.
    async fn queue_due_findings(&self) -> Result<u64, sqlx::Error> {
        if let Some(overviews) = &self.driver.overviews {
            overviews.start().await?;
        }
        due::enqueue_due(
            &self.pool,
            self.driver.fingerprint(),
            self.driver.sync.min_occurrences,
        )
        .await
    }

    /// Jobs that name no finding: Autofix events are recorded (queueing the findings whose
    /// issues show their pull request) and the rest end now, with the reason.
    async fn finish_finding_less(&self) -> Result<(), sqlx::Error> {
        jobs::fail_jobs_without_finding(&self.pool).await?;
        crate::autofix::record::record_pending(&self.pool).await?;
        Ok(())
    }

    /// Brings one due overview in line, if overviews are on; true when it took one.
    async fn overview_pass(&self) -> Result<bool, WorkerError> {
        match &self.driver.overviews {
            Some(overviews) => Ok(overviews.pass().await?),
            None => Ok(false),
        }
    }

    /// Queues what these settings may sync differently, then works until no job is due now
    /// (later retries stay queued). For tests and one-off runs.
    pub async fn run_until_idle(&self) -> Result<Pass, WorkerError> {
        self.queue_due_findings().await?;
        self.finish_finding_less().await?;
        let mut pass = Pass::default();
        loop {
            if self.overview_pass().await? {
                continue;
            }
            let Some(jobs) = self.run_once().await? else {
                break;
            };
            pass.findings += 1;
            pass.jobs += jobs;
        }
        Ok(pass)
    }

    /// One step: after a wake-up or a finished sync (`claim_first`) it claims at once, the
    /// fastest way to what woke it; otherwise (a timer ended) it looks first, so an idle
    /// worker's fallback costs one statement.
    async fn step(&self, claim_first: bool) -> Result<Step, WorkerError> {
        // An overview first: a repository new to the service is visible after its one write,
        // and its findings' creates wait for it.
        if self.overview_pass().await? {
            return Ok(Step::Worked);
        }
        if claim_first && self.run_once().await?.is_some() {
            return Ok(Step::Worked);
        }
        let Look {
            finding_less,
            mut next_due_in,
        } = wait::look(&self.pool).await?;
        if let Some(overviews) = &self.driver.overviews {
            // `None`: it looks at the next step, which is after the shortest sleep.
            let due = overviews.next_look_in().unwrap_or_default().max(RACED);
            next_due_in = Some(next_due_in.map_or(due, |d| d.min(due)));
        }
        if finding_less {
            self.finish_finding_less().await?;
            return Ok(Step::Worked);
        }
        match next_due_in {
            Some(due) if due.is_zero() => match claim_first {
                // Due, yet the claim just found nothing: another replica is taking it.
                true => Ok(Step::Idle(Some(RACED))),
                false => match self.run_once().await? {
                    Some(_) => Ok(Step::Worked),
                    None => Ok(Step::Idle(Some(RACED))),
                },
            },
            other => Ok(Step::Idle(other)),
        }
    }

    /// Works until `shutdown` turns true; the finding in hand is finished first. Between syncs
    /// it sleeps until a wake-up (`wake`: a commit made work due), the next job's due time, or
    /// the fallback interval. `liveness` hears each time it goes idle.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>, mut wake: Wakeups, liveness: WorkerLiveness) {
        tracing::info!(
            dry_run = self.driver.is_dry_run(),
            poll_secs = self.poll.as_secs_f64(),
            "sync worker started"
        );
        // Findings the settings may sync differently are queued first (the database may be
        // away at start): a finding a dry run or a filter passed over must not wait for the
        // next restart.
        let mut due_queued = false;
        let mut claim_first = true;
        while !*shutdown.borrow() {
            if !due_queued {
                match self.queue_due_findings().await {
                    Ok(_) => due_queued = true,
                    Err(error) => {
                        tracing::warn!(%error, "could not queue the findings due at start; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(DATABASE_RETRY) => {}
                            changed = shutdown.changed() => if changed.is_err() { break },
                        }
                        continue;
                    }
                }
            }
            let (sleep, wakeable) = match self.step(claim_first).await {
                Ok(Step::Worked) => {
                    claim_first = true;
                    continue;
                }
                Ok(Step::Idle(next_due)) => (next_due.map_or(self.poll, |due| due.min(self.poll)), true),
                Err(WorkerError::Unauthorized(message)) => {
                    // A pass that could not write: once the pause is over, what it left is
                    // looked for again, as at start. Wake-ups cannot end the pause: every
                    // write would fail the same way.
                    due_queued = false;
                    tracing::error!(
                        message,
                        pause_secs = AUTH_PAUSE.as_secs(),
                        "GitHub REJECTED THE CREDENTIALS (401): fix GITHUB_TOKEN / GitHub App settings; the worker pauses, jobs stay queued"
                    );
                    (AUTH_PAUSE, false)
                }
                Err(WorkerError::Database(error)) if crate::db::is_unavailable(&error) => {
                    tracing::warn!(%error, "sync worker cannot reach the database; retrying");
                    (DATABASE_RETRY, true)
                }
                Err(WorkerError::Database(error)) => {
                    tracing::error!(%error, "a database error stopped this pass; retrying");
                    (DATABASE_RETRY, true)
                }
            };
            liveness.went_idle();
            tokio::select! {
                _ = tokio::time::sleep(sleep) => claim_first = false,
                _ = wake.wait(), if wakeable => claim_first = true,
                // A dropped sender can never say stop: stop now rather than spin.
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
        tracing::info!("sync worker stopped");
    }
}
