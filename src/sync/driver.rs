//! Brings one finding's GitHub issue in line with its stored state: create, update, close,
//! reopen, each step recorded in Postgres (fenced by the finding's lease) so a crash, a retry or
//! a worker that outlived its lease never repeats a create.
use std::time::Duration;

use sqlx::PgPool;

use super::github::{GitHub, GitHubError, IssuePatch, RemoteIssue};
use super::github_errors::backoff;
use super::lease::{Lease, StoreError};
use super::pacing::{Pacer, Slot};
use super::render::{render, with_comment_marker, IssueContent};
use super::store::{self, Finding, JobEnd, Link};
use super::target::target;
use crate::configuration::{GitHubSettings, IssueSettings, ReopenPolicy, SyncSettings};
use crate::deepsource::RepositoryRef;
use crate::domain::RepoSlug;

/// Budget waits up to this long are slept through; longer ones reschedule the jobs.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(20);
/// How long after a GitHub write was begun it may still land: the client's connect and read
/// timeouts with room to spare. A create or comment whose answer was lost is looked for only
/// after this, so a call still on the wire (a stalled worker's) is not followed by a second one.
pub const CALL_SETTLE: Duration = Duration::from_secs(60);

/// Why a sync stopped short. `Unauthorized` stops the whole worker, not just this finding.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("write budget exhausted for {0:?}")]
    Budget(Duration),
    /// A call begun earlier may still land; look for its result after this long.
    #[error("a GitHub call begun earlier may still land; looking for its result in {0:?}")]
    Settling(Duration),
    #[error("another worker holds this finding now")]
    LeaseLost,
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => SyncError::Database(e),
            StoreError::LeaseLost => SyncError::LeaseLost,
        }
    }
}

pub struct Driver {
    pub(super) pool: PgPool,
    github: Option<GitHub>,
    pacer: Pacer,
    github_settings: GitHubSettings,
    sync: SyncSettings,
    pub(super) issues: IssueSettings,
    /// Of the settings that decide what is synced (`due.rs`): recorded on a finding these
    /// settings leave off GitHub, so a worker with other settings looks at it again.
    fingerprint: String,
}

impl Driver {
    pub fn new(
        pool: PgPool,
        github: Option<GitHub>,
        github_settings: GitHubSettings,
        sync: SyncSettings,
        issues: IssueSettings,
    ) -> Self {
        Self {
            pacer: Pacer::new(pool.clone(), &github_settings),
            fingerprint: super::due::fingerprint(&github_settings, &sync, &issues),
            issues,
            pool,
            github,
            github_settings,
            sync,
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn is_dry_run(&self) -> bool {
        self.github.is_none()
    }

    /// The finding as stored, with its link into DeepSource's dashboard.
    async fn load(&self, id: &str) -> Result<Option<Finding>, SyncError> {
        let mut finding = store::load_finding(&self.pool, id, CALL_SETTLE).await?;
        if let Some(f) = finding.as_mut() {
            f.dashboard_url = RepositoryRef::from_vcs(&f.vcs_provider, &f.vcs_url)
                .and_then(|r| r.dashboard_url(&self.sync.deepsource_app_url, &f.issue_shortcode));
        }
        Ok(finding)
    }

    /// Drives GitHub for one finding and says how its jobs end.
    pub async fn sync(&self, lease: &Lease, attempts: i32) -> Result<JobEnd, SyncError> {
        let Some(finding) = self.load(&lease.finding_id).await? else {
            return Ok(JobEnd::Done);
        };
        let repo = match target(&finding, &self.github_settings, &self.sync) {
            Ok(repo) => repo,
            Err(reason) => {
                self.leave_off(lease).await?;
                return Ok(JobEnd::Skipped(reason));
            }
        };
        let Some(github) = &self.github else {
            self.dry_run(&finding, &repo).await?;
            self.leave_off(lease).await?;
            return Ok(JobEnd::Done);
        };
        match self.reconcile(github, lease, finding, &repo).await {
            Ok(()) => {
                store::set_unsynced_under(&self.pool, lease, None).await?;
                Ok(JobEnd::Done)
            }
            Err(SyncError::Budget(wait)) => Ok(JobEnd::Retry {
                after: wait,
                error: format!("GitHub write budget exhausted; next write allowed in {wait:?}"),
                counted: false,
            }),
            Err(SyncError::Settling(wait)) => Ok(JobEnd::Retry {
                after: wait,
                error: "a GitHub call begun earlier may still land; its result is looked for first".into(),
                counted: false,
            }),
            Err(SyncError::GitHub(GitHubError::RateLimited { wait, detail })) => {
                self.pacer.block(&github.budget_key(&repo), wait).await?;
                Ok(JobEnd::Retry {
                    after: wait,
                    error: format!("rate limited by GitHub: {detail}"),
                    counted: false,
                })
            }
            Err(SyncError::GitHub(GitHubError::Transient { detail })) => Ok(JobEnd::Retry {
                after: backoff(attempts),
                error: detail,
                counted: true,
            }),
            Err(SyncError::GitHub(e @ GitHubError::Permanent { .. })) => {
                self.leave_off(lease).await?;
                Ok(JobEnd::Dead(e.to_string()))
            }
            Err(other) => Err(other),
        }
    }

    async fn reconcile(
        &self,
        github: &GitHub,
        lease: &Lease,
        mut finding: Finding,
        repo: &RepoSlug,
    ) -> Result<(), SyncError> {
        let key = github.budget_key(repo);
        let open_wanted = finding.open_occurrences > 0;

        // Whatever is wanted now, an issue an earlier create may have made is found and linked
        // first, then brought in line like any other: closed, if nothing is open any more.
        if finding.github_issue_number.is_none() && finding.create_started_at.is_some() {
            self.find_interrupted_create(github, lease, &mut finding, repo)
                .await?;
        }
        if finding.github_issue_number.is_none() {
            if open_wanted {
                self.create(github, lease, &mut finding, repo).await?;
            }
            return Ok(());
        }

        let number = finding.github_issue_number.expect("linked above");
        if let Some(comment) = finding.pending_comment.clone() {
            self.post_owed_comment(github, lease, &finding, repo, number, &comment)
                .await?;
        }

        let is_open = finding.github_state.as_deref() == Some("open");
        let content = render(&finding, &self.issues);
        match (is_open, open_wanted) {
            (false, true) if self.sync.reopen_policy == ReopenPolicy::New => {
                store::retire_issue(&self.pool, lease, number).await?;
                let finding = self.load(&finding.id).await?.ok_or(SyncError::LeaseLost)?;
                Box::pin(self.reconcile(github, lease, finding, repo)).await
            }
            (false, true) => {
                let comment = format!(
                    "DeepSource reports this again: {} open occurrence(s). Reopened by deepsource-sync.",
                    finding.open_occurrences
                );
                self.transition(github, lease, &mut finding, repo, &content, "reopen", comment)
                    .await
            }
            (true, false) => {
                let comment =
                    "DeepSource reports every occurrence resolved. Closed by deepsource-sync.".to_owned();
                self.transition(github, lease, &mut finding, repo, &content, "close", comment)
                    .await
            }
            (true, true) => {
                let hash = content.hash();
                if finding.github_content_hash.as_deref() == Some(hash.as_str()) {
                    return Ok(());
                }
                self.book_write(&key).await?;
                let patch = IssuePatch {
                    content: Some(&content),
                    ..IssuePatch::default()
                };
                let issue = github.update_issue(repo, number, patch).await?;
                self.record(&finding.id, "update", repo, Some(number)).await?;
                self.link(lease, &mut finding, repo, &issue, Some(&hash), None)
                    .await
            }
            (false, false) => Ok(()),
        }
    }

    /// Creates the finding's issue and links it; `owners.rs` books the write, records the intent
    /// and chooses the assignees.
    async fn create(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
    ) -> Result<(), SyncError> {
        let content = render(finding, &self.issues);
        let created = self
            .create_assigned(github, lease, finding, repo, &content)
            .await?;
        tracing::info!(github_issue = created.number, repository = %repo, "created GitHub issue");
        self.record(&finding.id, "create", repo, Some(created.number))
            .await?;
        let hash = content.hash();
        self.link(lease, finding, repo, &created, Some(&hash), None).await
    }

    /// Close or reopen with the new content in one PATCH, then the comment that says why.
    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        content: &IssueContent,
        action: &str,
        comment: String,
    ) -> Result<(), SyncError> {
        let key = github.budget_key(repo);
        let number = finding.github_issue_number.expect("linked");
        self.book_write(&key).await?;
        let patch = IssuePatch {
            content: Some(content),
            close: action == "close",
            reopen: action == "reopen",
        };
        let issue = github.update_issue(repo, number, patch).await?;
        self.record(&finding.id, action, repo, Some(number)).await?;
        // The comment is owed from here on: a retry posts it without repeating the state change.
        // Its marker lets a retry whose answer was lost see that it is already there.
        let comment = with_comment_marker(&comment);
        let hash = content.hash();
        self.link(lease, finding, repo, &issue, Some(&hash), Some(&comment))
            .await?;
        self.post_owed_comment(github, lease, finding, repo, number, &comment)
            .await
    }

    pub(super) async fn record(
        &self,
        finding_id: &str,
        action: &str,
        repo: &RepoSlug,
        number: Option<i64>,
    ) -> Result<(), SyncError> {
        store::record_action(&self.pool, finding_id, action, &repo.to_string(), number, false).await?;
        Ok(())
    }

    pub(super) async fn link(
        &self,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        issue: &RemoteIssue,
        hash: Option<&str>,
        pending_comment: Option<&str>,
    ) -> Result<(), SyncError> {
        let repo = repo.to_string();
        let link = Link {
            repo: &repo,
            number: issue.number,
            state: &issue.state,
            content_hash: hash,
            pending_comment,
        };
        store::save_link(&self.pool, lease, link).await?;
        finding.github_repo = Some(repo);
        finding.github_issue_number = Some(issue.number);
        finding.github_state = Some(issue.state.clone());
        finding.github_content_hash = hash.map(str::to_owned);
        finding.pending_comment = pending_comment.map(str::to_owned);
        finding.comment_started_at = None;
        finding.create_started_at = None;
        Ok(())
    }

    /// Books a write slot and sleeps until it; a slot further off reschedules the jobs instead.
    pub(super) async fn book_write(&self, key: &str) -> Result<(), SyncError> {
        match self.pacer.book_write(key, MAX_INLINE_WAIT).await? {
            Slot::Booked { id, at } => {
                tokio::time::sleep_until(at).await;
                self.pacer.sending(id).await?;
                Ok(())
            }
            Slot::Wait(wait) => Err(SyncError::Budget(wait)),
        }
    }

    /// Reads go out only when GitHub has not asked this credential to pause.
    pub(super) async fn wait_for_reads(&self, key: &str) -> Result<(), SyncError> {
        match self.pacer.blocked_for(key).await? {
            None => Ok(()),
            Some(wait) if wait <= MAX_INLINE_WAIT => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Some(wait) => Err(SyncError::Budget(wait)),
        }
    }

    /// Skipped, dry or refused: the finding stays due for a worker whose settings differ (see
    /// `due.rs`); only a sync that made GitHub match settles it.
    async fn leave_off(&self, lease: &Lease) -> Result<(), SyncError> {
        store::set_unsynced_under(&self.pool, lease, Some(&self.fingerprint)).await?;
        Ok(())
    }

    /// Without credentials: say what would be done, and record it; nothing when GitHub already
    /// shows what is wanted. The finding stays due (`leave_off`): the first run with
    /// credentials does it.
    async fn dry_run(&self, finding: &Finding, repo: &RepoSlug) -> Result<(), SyncError> {
        let content = render(finding, &self.issues);
        let open_wanted = finding.open_occurrences > 0;
        let is_open = finding.github_state.as_deref() == Some("open");
        let stale = finding.github_content_hash.as_deref() != Some(content.hash().as_str());
        let action = match (finding.github_issue_number, is_open, open_wanted) {
            (None, _, true) => "create",
            (Some(_), false, true) if self.sync.reopen_policy == ReopenPolicy::New => "create",
            (Some(_), false, true) => "reopen",
            (Some(_), true, false) => "close",
            (Some(_), true, true) if stale => "update",
            _ => return Ok(()),
        };
        tracing::info!(
            finding = %finding.id,
            repository = %repo,
            action,
            open_occurrences = finding.open_occurrences,
            title = %content.title,
            "dry run (no GitHub credentials): would {action} the issue"
        );
        let number = finding.github_issue_number.filter(|_| action != "create");
        store::record_action(&self.pool, &finding.id, action, &repo.to_string(), number, true).await?;
        Ok(())
    }
}
