//! Brings one repository's overview issue in line, under its lease: created once (an interrupted
//! create is found by its hidden marker, not repeated), read before each write (a conditional
//! read: ticks merged, a person's close or reopen learnt) and written only when what it would say
//! differs from what GitHub shows, through the shared pacer. Findings' own issues wait for its
//! first write, so a repository is visible in GitHub after one.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use sqlx::PgPool;

use super::error::OverviewError;
use super::lines::{self, Listing};
use super::people;
use super::store::{self, Ended, Held};
use crate::configuration::{GitHubSettings, OverviewSettings, Settings, SyncSettings};
use crate::domain::RepoSlug;
use crate::github::client::{GitHub, GitHubError};
use crate::github::content::IssueContent;
use crate::github::errors::{backoff, AUTH_PAUSE};
use crate::github::home::home_repo;
use crate::github::pacing::{Pacer, MAX_INLINE_WAIT};
use crate::issue::labels::with_extra;
use crate::issue::overview::render;

/// A due overview another replica just took is looked at again this soon.
const RACED: Duration = Duration::from_millis(50);

/// What a read before a write found.
pub(super) enum Looked {
    /// GitHub shows what was last written or seen.
    Same,
    /// GitHub shows this title and body (hashed); `asked`: ticks there asked for findings'
    /// issues, so their lines change.
    Shows { hash: String, asked: bool },
    /// A person closed or deleted it: nothing more is written.
    Off,
}

pub struct Overviews {
    pub(super) pool: PgPool,
    github: Option<Arc<GitHub>>,
    pacer: Pacer,
    settings: OverviewSettings,
    github_settings: GitHubSettings,
    sync: SyncSettings,
    extra_labels: Vec<String>,
    /// When this process next looks for a due overview. A look on every step of the worker
    /// would cost each finding's sync a statement: a change made here brings it forward, and
    /// one made elsewhere (another replica, a person's reopen) is found within
    /// `SYNC_POLL_INTERVAL`. `None`: look at the next step.
    next_look: Mutex<Option<Instant>>,
    /// Repositories whose overview has been written (or never will be): their findings' creates
    /// need not ask again. It never goes back.
    creates_go: Mutex<HashSet<String>>,
}

impl Overviews {
    /// `None` unless `OVERVIEW_ISSUE` is on.
    pub fn new(pool: PgPool, github: Option<Arc<GitHub>>, settings: &Settings) -> Option<Self> {
        settings.overview.enabled.then(|| Self {
            pacer: Pacer::new(pool.clone(), &settings.github),
            pool,
            github,
            settings: settings.overview.clone(),
            github_settings: settings.github.clone(),
            sync: settings.sync.clone(),
            extra_labels: settings.issues.extra_labels.clone(),
            next_look: Mutex::new(None),
            creates_go: Mutex::new(HashSet::new()),
        })
    }

    /// Without GitHub's webhooks, overviews are read this often for ticks and people's closes.
    fn read_every(&self) -> Option<Duration> {
        (!self.github_settings.learns_from_webhooks()).then_some(self.settings.read_interval)
    }

    /// A finding of the repository `key` changed: its overview is due after `OVERVIEW_DELAY`.
    pub async fn changed(&self, key: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        if let Some(due_in) = store::mark_changed(&mut conn, key, self.settings.delay).await? {
            self.look_by(Instant::now() + due_in);
        }
        Ok(())
    }

    /// At the worker's start: a repository with findings and no overview yet (overviews were
    /// just turned on) gets one now, not only at its next change, and one GitHub refused is
    /// tried again.
    pub async fn start(&self) -> Result<(), sqlx::Error> {
        let added = store::add_missing(&self.pool).await?;
        if added > 0 {
            tracing::info!(
                repositories = added,
                "OVERVIEW_ISSUE is on: overviews are due for repositories that had none, or that GitHub refused before"
            );
            self.look_by(Instant::now());
        }
        Ok(())
    }

    /// Whether a finding of `key` may have its own issue created now (see `store.rs`).
    pub async fn creates_may_go(&self, key: &str) -> Result<bool, sqlx::Error> {
        if self.creates_go.lock().expect("not poisoned").contains(key) {
            return Ok(true);
        }
        let go = store::creates_may_go(&self.pool, key).await?;
        match go {
            true => {
                self.creates_go
                    .lock()
                    .expect("not poisoned")
                    .insert(key.to_owned());
            }
            // Made due at once: it is written before the creates.
            false => self.look_by(Instant::now()),
        }
        Ok(go)
    }

    /// How long until this process looks for a due overview again (`None`: at the next step).
    pub fn next_look_in(&self) -> Option<Duration> {
        self.next_look
            .lock()
            .expect("not poisoned")
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn look_by(&self, at: Instant) {
        let mut next = self.next_look.lock().expect("not poisoned");
        *next = Some(next.map_or(at, |n| n.min(at)));
    }

    /// Takes one due overview and brings it in line; false when none is due.
    #[tracing::instrument(skip_all, fields(repository = tracing::field::Empty, github_issue = tracing::field::Empty))]
    pub async fn pass(&self) -> Result<bool, sqlx::Error> {
        if self.next_look_in().is_some_and(|wait| !wait.is_zero()) {
            return Ok(false);
        }
        let Some(mut held) = store::claim(&self.pool, self.sync.lease, self.read_every()).await? else {
            // Nothing due now: the next look is when the next one falls due (taken by another
            // replica just now: shortly), or after the fallback interval.
            let due = store::next_due_in(&self.pool, self.read_every()).await?;
            let wait = due.map_or(self.sync.poll_interval, |d| {
                d.clamp(RACED, self.sync.poll_interval)
            });
            *self.next_look.lock().expect("not poisoned") = Some(Instant::now() + wait);
            return Ok(false);
        };
        *self.next_look.lock().expect("not poisoned") = None;
        tracing::Span::current().record("repository", held.key.as_str());
        let ended = match self.bring(&mut held).await {
            Ok(read) => Ended::Done { read },
            Err(e) => self.ended_by(e, &held).await?,
        };
        match &ended {
            Ended::Retry { after, error } => {
                tracing::warn!(
                    retry_in_secs = after.as_secs_f64(),
                    error,
                    "the overview will be written later"
                )
            }
            Ended::Failed(reason) => {
                tracing::error!(
                    reason,
                    "GitHub will not take this overview; findings' issues no longer wait for it"
                );
                let mut conn = self.pool.acquire().await?;
                crate::findings::jobs::hurry_repository(&mut conn, &held.key).await?;
            }
            Ended::Done { .. } => {}
        }
        store::release(&self.pool, &held, &ended).await?;
        Ok(true)
    }

    async fn ended_by(&self, error: OverviewError, held: &Held) -> Result<Ended, sqlx::Error> {
        let retry = |after: Duration, error: String| Ended::Retry { after, error };
        Ok(match error {
            OverviewError::Database(e) => return Err(e),
            OverviewError::GitHub(GitHubError::RateLimited { wait, detail }) => {
                if let (Some(github), Some(repo)) = (&self.github, &held.github_repo) {
                    if let Ok(repo) = RepoSlug::parse(repo) {
                        self.pacer.block(&github.budget_key(&repo), wait).await?;
                    }
                }
                retry(wait, format!("rate limited by GitHub: {detail}"))
            }
            OverviewError::GitHub(e @ GitHubError::Transient { .. }) => {
                retry(backoff(held.attempts + 1), e.to_string())
            }
            OverviewError::GitHub(e @ GitHubError::Unauthorized(_)) => retry(AUTH_PAUSE, e.to_string()),
            OverviewError::GitHub(GitHubError::Gone { .. } | GitHubError::Moved { .. }) => {
                let mut conn = self.pool.acquire().await?;
                people::closed(&mut conn, &held.key, "deleted", None).await?;
                Ended::Done { read: false }
            }
            OverviewError::GitHub(e @ GitHubError::Permanent { .. }) => Ended::Failed(e.to_string()),
            OverviewError::Budget(wait) => retry(
                wait,
                format!("GitHub write budget exhausted; next write allowed in {wait:?}"),
            ),
            OverviewError::Settling(wait) => retry(
                wait,
                "a create begun earlier may still land; it is looked for first".into(),
            ),
            OverviewError::Refused(reason) => Ended::Failed(reason),
            OverviewError::LeaseLost => Ended::Done { read: false },
        })
    }

    /// Says whether the overview was read.
    async fn bring(&self, held: &mut Held) -> Result<bool, OverviewError> {
        let Some(mut listing) =
            lines::load(&self.pool, &held.key, &self.sync, held.github_repo.as_deref()).await?
        else {
            return Ok(false);
        };
        let repo = match &held.github_repo {
            Some(repo) => RepoSlug::parse(repo),
            None => home_repo(&listing.vcs_provider, &listing.vcs_url, &self.github_settings),
        }
        .map_err(OverviewError::Refused)?;
        let Some(github) = self.github.clone() else {
            return self.dry_run(held, &listing, &repo).await.map(|()| false);
        };
        if held.number.is_none() && held.create_started_at.is_some() {
            self.find_interrupted_create(&github, held, &repo, &listing)
                .await?;
        }
        if held.number.is_none() {
            if !held.off && listing.anything_open() {
                self.create(&github, held, &repo, &listing).await?;
            }
            return Ok(false);
        }
        // Read first: ticks are merged and a person's close is learnt before anything is written.
        let looked = self.read(&github, held, &repo).await?;
        let shown = match looked {
            Looked::Off => return Ok(true),
            _ if held.off => return Ok(true),
            Looked::Same => held.text_hash.clone(),
            Looked::Shows { hash, asked: false } => Some(hash),
            Looked::Shows { hash, asked: true } => {
                // Read again: a tick just merged changes its line.
                listing = lines::load(&self.pool, &held.key, &self.sync, held.github_repo.as_deref())
                    .await?
                    .unwrap_or(listing);
                Some(hash)
            }
        };
        let content = self.content(&listing);
        let hash = content.text_hash();
        let open = listing.anything_open();
        let closed = held.state.as_deref() == Some("closed");
        let stale = shown.as_deref() != Some(hash.as_str());
        let reopen = open && closed;
        let close = !open && stale && !closed;
        if stale || reopen {
            self.write(&github, held, &repo, &content, close, reopen).await?;
        } else if shown != held.text_hash {
            held.text_hash = shown;
            store::save(&self.pool, held).await?;
        }
        self.bring_labels(&github, held, &repo, &content.labels).await?;
        if self.settings.sub_issues {
            self.bring_sub_issues(&github, held, &repo).await?;
        }
        Ok(true)
    }

    pub(super) fn content(&self, listing: &Listing) -> IssueContent {
        let lines = listing.lines();
        let labels = with_extra(
            vec!["deepsource".to_owned(), "deepsource/overview".to_owned()],
            &self.extra_labels,
        );
        IssueContent {
            title: self.settings.title_for(&listing.name),
            labels,
            body: render(&listing.overview(&lines)),
        }
    }

    pub(super) async fn book(&self, github: &GitHub, repo: &RepoSlug) -> Result<(), OverviewError> {
        self.pacer
            .take_write_slot(&github.budget_key(repo), MAX_INLINE_WAIT)
            .await?
            .map_err(OverviewError::Budget)
    }

    pub(super) async fn wait_for_reads(&self, github: &GitHub, repo: &RepoSlug) -> Result<(), OverviewError> {
        self.pacer
            .wait_for_reads(&github.budget_key(repo), MAX_INLINE_WAIT)
            .await?
            .map_err(OverviewError::Budget)
    }

    /// Without credentials: what would be written is logged once per change, and its hash kept.
    async fn dry_run(
        &self,
        held: &mut Held,
        listing: &Listing,
        repo: &RepoSlug,
    ) -> Result<(), OverviewError> {
        let content = self.content(listing);
        let hash = content.text_hash();
        if held.text_hash.as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        tracing::info!(
            github_repo = %repo,
            title = %content.title,
            findings = listing.rows.len(),
            body_chars = content.body.chars().count(),
            "dry run: would write the repository's overview issue"
        );
        held.text_hash = Some(hash);
        held.github_repo = Some(repo.to_string());
        store::save(&self.pool, held).await
    }
}
