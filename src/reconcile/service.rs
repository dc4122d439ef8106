//! The reconciler: a background duty that compares repositories with DeepSource when they are
//! due — `RECONCILE_DELAY` after their last event that may change what is open, every
//! `RECONCILE_INTERVAL`, and at start for `DEEPSOURCE_REPOSITORIES` — one repository at a time
//! across replicas. A comparison that fails changes nothing and is tried again with backoff; a
//! rate limit is waited out; a rejected token pauses every comparison, loudly.
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::time::Instant;

use super::compare::{client, reconcile, ReconcileError};
use super::schedule;
use crate::configuration::Settings;
use crate::deepsource::{DeepSource, DeepSourceError, RepositoryRef, SnapshotError, AUTH_PAUSE};
use crate::github::errors::backoff;
use crate::wake::Wakeups;

/// Wake-ups (every intake batch sends one) are answered at most this often: what they bring
/// is due a margin later anyway (`schedule.rs`), except a lookup, which this delays a little.
const WAKE_GAP: Duration = Duration::from_millis(200);
/// The least wait after a pass that left something due.
const AFTER_PASS: Duration = Duration::from_millis(100);
/// A replica holds a repository this long while comparing it; one that dies frees it then.
const LEASE: Duration = Duration::from_secs(600);
/// Repositories compared per pass, so a pass ends and events are read between them.
const PER_PASS: usize = 10;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub compared: usize,
    pub failed: usize,
}

pub struct Reconciler {
    pool: PgPool,
    client: DeepSource,
    interval: Option<Duration>,
    delay: Duration,
    tracked: Vec<RepositoryRef>,
    /// The tracked repositories have been scheduled (the first pass).
    started: bool,
    /// When the timer next makes every known repository due; `None` without a timer.
    next_timer: Option<Instant>,
    paused_until: Option<Instant>,
    /// `SYNC_POLL_INTERVAL`: the longest it sleeps without a wake-up.
    poll: Duration,
}

impl Reconciler {
    /// `None` without `DEEPSOURCE_API_TOKEN`: the service then works from events alone.
    pub fn new(pool: PgPool, settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some(client) = client(&pool, settings)? else {
            return Ok(None);
        };
        let ds = &settings.deepsource;
        Ok(Some(Self {
            pool,
            client,
            interval: ds.reconcile_interval,
            delay: ds.reconcile_delay,
            tracked: ds.repositories.clone(),
            started: false,
            next_timer: None,
            paused_until: None,
            poll: settings.sync.poll_interval,
        }))
    }

    /// Schedules what events and the timer make due, then compares due repositories.
    pub async fn run_once(&mut self) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass::default();
        if self.paused_until.is_some_and(|until| Instant::now() < until) {
            return Ok(pass);
        }
        if !self.started {
            schedule::track(&self.pool, &self.tracked).await?;
            self.started = true;
            self.next_timer = self.interval.map(|interval| Instant::now() + interval);
        } else if let (Some(at), Some(interval)) = (self.next_timer, self.interval) {
            if Instant::now() >= at {
                schedule::all_due_now(&self.pool).await?;
                self.next_timer = Some(Instant::now() + interval);
            }
        }
        schedule::schedule_from_events(&self.pool, self.delay).await?;
        let rejected = super::lookup::run_due(&self.pool, &self.client).await?;
        if rejected {
            tracing::error!(
                pause_secs = AUTH_PAUSE.as_secs(),
                "DeepSource REJECTED THE TOKEN (401): fix DEEPSOURCE_API_TOKEN; lookups and comparisons pause, findings are untouched"
            );
            self.paused_until = Some(Instant::now() + AUTH_PAUSE);
            return Ok(pass);
        }
        while pass.compared + pass.failed < PER_PASS {
            let Some((repository, token, attempts)) = schedule::claim(&self.pool, LEASE).await? else {
                break;
            };
            let (next, error) = match reconcile(&self.pool, &self.client, &repository, false).await {
                Ok(applied) => {
                    pass.compared += 1;
                    // Findings that had events meanwhile keep their arithmetic; look again once quiet.
                    (Some(self.delay).filter(|_| applied.deferred > 0), None)
                }
                Err(e) => {
                    pass.failed += 1;
                    let wait = match &e {
                        ReconcileError::Snapshot(SnapshotError::Api(DeepSourceError::RateLimited {
                            wait,
                        }))
                        | ReconcileError::Snapshot(SnapshotError::Api(DeepSourceError::Budget { wait })) => {
                            *wait
                        }
                        ReconcileError::Snapshot(SnapshotError::Api(DeepSourceError::Unauthorized(
                            message,
                        ))) => {
                            tracing::error!(
                                message,
                                pause_secs = AUTH_PAUSE.as_secs(),
                                "DeepSource REJECTED THE TOKEN (401): fix DEEPSOURCE_API_TOKEN; comparisons pause, findings are untouched"
                            );
                            self.paused_until = Some(Instant::now() + AUTH_PAUSE);
                            AUTH_PAUSE
                        }
                        _ => backoff(attempts + 1),
                    };
                    tracing::warn!(repository = %repository, error = %e, retry_in_secs = wait.as_secs(), "a comparison with DeepSource did not complete; nothing changed");
                    (Some(wait), Some(e.to_string()))
                }
            };
            schedule::finish(&self.pool, &repository, token, next, error.as_deref()).await?;
            if self.paused_until.is_some() {
                break;
            }
        }
        Ok(pass)
    }

    /// Works until `stop` turns true: a pass whenever something is due (a wake-up, the next due
    /// time from the database, its own timer or pause), else one look per `SYNC_POLL_INTERVAL`.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>, mut wake: Wakeups) {
        tracing::info!(
            interval_secs = self.interval.map(|i| i.as_secs()),
            delay_secs = self.delay.as_secs(),
            "reconciler started: repositories are compared with DeepSource"
        );
        let mut pass_now = true;
        while !*stop.borrow() {
            let next = match self.step(pass_now).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "the reconciler could not reach the database; retrying");
                    Some(Duration::from_secs(2))
                }
            };
            let sleep = [next, self.until(self.next_timer), self.until(self.paused_until)]
                .into_iter()
                .flatten()
                .fold(self.poll, Duration::min);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => pass_now = false,
                _ = async { wake.wait().await; tokio::time::sleep(WAKE_GAP).await } => pass_now = true,
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        tracing::info!("reconciler stopped");
    }

    /// A pass when asked or when the look says something is due; then how long until the next.
    async fn step(&mut self, pass_now: bool) -> Result<Option<Duration>, sqlx::Error> {
        if self.until(self.paused_until).is_some_and(|d| !d.is_zero()) {
            return Ok(None); // the pause's end is the next thing due
        }
        let timer_due = self.until(self.next_timer).is_some_and(|d| d.is_zero());
        if !pass_now && !timer_due {
            let next = schedule::next_due_in(&self.pool).await?;
            if next.is_none_or(|d| !d.is_zero()) {
                return Ok(next);
            }
        }
        let pass = self.run_once().await?;
        if pass.compared + pass.failed >= PER_PASS {
            return Ok(Some(Duration::ZERO));
        }
        // Something still due after a pass is another replica's, or a lookup batch more: a
        // short breath rather than a spin.
        Ok(schedule::next_due_in(&self.pool)
            .await?
            .map(|d| d.max(AFTER_PASS)))
    }

    /// How long until `at`, if set.
    fn until(&self, at: Option<Instant>) -> Option<Duration> {
        at.map(|at| at.saturating_duration_since(Instant::now()))
    }
}
