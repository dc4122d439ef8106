//! Brings one finding's GitHub issue in line with its stored state: create, update, close,
//! reopen, each step recorded in Postgres (fenced by the finding's lease) so a crash, a retry or
//! a worker that outlived its lease never repeats a create.
use std::sync::Arc;

use sqlx::PgPool;

use super::error::SyncError;
use super::plan::{self, Step};
use super::target::target;
use crate::configuration::{GitHubSettings, IssueSettings, SyncSettings};
use crate::deepsource::RepositoryRef;
use crate::domain::RepoSlug;
use crate::findings::decisions::Seen;
use crate::findings::fence::Lease;
use crate::findings::jobs::JobEnd;
use crate::findings::store::{self, Finding};
use crate::github::call::CALL_SETTLE;
use crate::github::client::{GitHub, GitHubError, IssuePatch};
use crate::github::content::IssueContent;
use crate::github::errors::backoff;
use crate::github::pacing::{Pacer, MAX_INLINE_WAIT};
use crate::issue::markers::with_comment_marker;
use crate::issue::render::render;
use crate::overview::Overviews;

pub struct Driver {
    pub(super) pool: PgPool,
    pub(super) github: Option<Arc<GitHub>>,
    /// With `OVERVIEW_ISSUE`: each sync marks its repository's overview changed, and a
    /// finding's first issue waits for the overview's first write (`own_issue.rs`).
    pub(super) overviews: Option<Arc<Overviews>>,
    pacer: Pacer,
    github_settings: GitHubSettings,
    pub(super) sync: SyncSettings,
    pub(super) issues: IssueSettings,
    /// Of the settings that decide what is synced (`findings/due.rs`): recorded on a finding these
    /// settings leave off GitHub, so a worker with other settings looks at it again.
    fingerprint: String,
}

impl Driver {
    pub fn new(
        pool: PgPool,
        github: Option<Arc<GitHub>>,
        overviews: Option<Arc<Overviews>>,
        github_settings: GitHubSettings,
        sync: SyncSettings,
        issues: IssueSettings,
    ) -> Self {
        Self {
            pacer: Pacer::new(pool.clone(), &github_settings),
            fingerprint: crate::findings::due::fingerprint(&github_settings, &sync, &issues),
            issues,
            pool,
            github,
            overviews,
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
    pub(super) async fn load(&self, id: &str) -> Result<Option<Finding>, SyncError> {
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
        let key = finding.repository_key.clone();
        let end = self.drive(lease, attempts, finding).await;
        // Whatever it came to, the repository's overview may now say something else.
        if let (Some(overviews), Some(key)) = (&self.overviews, key) {
            overviews.changed(&key).await?;
        }
        end
    }

    async fn drive(&self, lease: &Lease, attempts: i32, mut finding: Finding) -> Result<JobEnd, SyncError> {
        let repo = match target(&finding, &self.github_settings, &self.sync) {
            Ok(repo) => crate::github::observe::name_in_span(repo, finding.github_issue_number),
            Err(reason) => {
                self.leave_off(lease).await?;
                return Ok(JobEnd::Skipped(reason));
            }
        };
        if let Some(end) = self.own_issue_waits(lease, &finding).await? {
            return Ok(end);
        }
        let Some(github) = &self.github else {
            self.dry_run(&mut finding, &repo).await?;
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
        // Whatever is wanted now, an issue an earlier create may have made is found and linked
        // first, then brought in line like any other: closed, if nothing is open any more.
        if finding.github_issue_number.is_none() && finding.create_started_at.is_some() {
            self.find_interrupted_create(github, lease, &mut finding, repo)
                .await?;
        }
        // Without webhooks, what a person did to the issue is read before anything is written
        // to it (a read costs no write budget), and a dismissed finding is looked at for a reopen.
        let mut looked = false;
        loop {
            let repo = linked_repo(&finding).unwrap_or_else(|| repo.clone());
            finding.state_note = plan::state_note(&finding, &self.sync);
            let content = render(&finding, &self.issues);
            let step = plan::plan(&finding, &content, &self.sync);
            let may_undo = step.writes_to_the_issue()
                || finding.pending_comment.is_some()
                || finding.dismissed_reason.is_some();
            let must_look = !looked && finding.github_issue_number.is_some() && may_undo;
            if must_look && !self.github_settings.learns_from_webhooks() {
                looked = true;
                finding = self.look_at_issue(github, finding, &repo).await?;
                continue;
            }
            return match self
                .carry_out(github, lease, &mut finding, &repo, &content, step)
                .await
            {
                // Transferred since last seen: followed, then synced where it lives now.
                Err(SyncError::GitHub(GitHubError::Moved { .. })) if !looked => {
                    looked = true;
                    finding = self.look_at_issue(github, finding, &repo).await?;
                    continue;
                }
                Err(SyncError::GitHub(GitHubError::Gone { .. })) => {
                    self.learn(&finding.id, &Seen::deleted()).await
                }
                other => other,
            };
        }
    }

    async fn carry_out(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        content: &IssueContent,
        step: Step,
    ) -> Result<(), SyncError> {
        let Some(number) = finding.github_issue_number else {
            return match step {
                Step::Create => self.create(github, lease, finding, repo).await,
                _ => Ok(()),
            };
        };
        if finding.dismissed_reason.is_some() {
            return Ok(());
        }
        if let Some(comment) = finding.pending_comment.clone() {
            self.post_owed_comment(github, lease, finding, repo, number, &comment)
                .await?;
        }
        match step {
            Step::Nothing | Step::Create => Ok(()),
            Step::ForgetPersonClose => Ok(store::clear_person_close(&self.pool, lease).await?),
            Step::Recreate => {
                store::retire_issue(&self.pool, lease, number).await?;
                let finding = self.load(&finding.id).await?.ok_or(SyncError::LeaseLost)?;
                Box::pin(self.reconcile(github, lease, finding, repo)).await
            }
            Step::Reopen { comment } => {
                self.transition(github, lease, finding, repo, content, "reopen", comment)
                    .await
            }
            Step::Close { comment } => {
                self.transition(github, lease, finding, repo, content, "close", comment)
                    .await
            }
            Step::Update => {
                let key = github.budget_key(repo);
                if plan::text_stale(finding, content) {
                    self.book_write(&key).await?;
                    let patch = IssuePatch {
                        content: Some(content),
                        ..IssuePatch::default()
                    };
                    let issue = github.update_issue(repo, number, patch).await?;
                    self.record(&finding.id, "update", repo, Some(number)).await?;
                    let applied = finding.github_labels.clone();
                    self.link(lease, finding, repo, &issue, Some(content), applied, None)
                        .await?;
                }
                self.bring_labels(github, lease, finding, repo, content).await
            }
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
        let labels = Some(content.labels.clone());
        self.link(lease, finding, repo, &created, Some(&content), labels, None)
            .await
    }

    /// Close or reopen with the new content in one PATCH, then the comment that says why
    /// (with `STATE_COMMENTS=false`, the body says it and no comment is owed).
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
        let comment = self.sync.state_comments.then(|| with_comment_marker(&comment));
        let applied = finding.github_labels.clone();
        self.link(
            lease,
            finding,
            repo,
            &issue,
            Some(content),
            applied,
            comment.as_deref(),
        )
        .await?;
        if let Some(comment) = comment {
            self.post_owed_comment(github, lease, finding, repo, number, &comment)
                .await?;
        }
        self.bring_labels(github, lease, finding, repo, content).await
    }

    /// Books a write slot and sleeps until it; a slot further off reschedules the jobs instead.
    pub(super) async fn book_write(&self, key: &str) -> Result<(), SyncError> {
        self.pacer
            .take_write_slot(key, MAX_INLINE_WAIT)
            .await?
            .map_err(SyncError::Budget)
    }

    /// Reads go out only when GitHub has not asked this credential to pause.
    pub(super) async fn wait_for_reads(&self, key: &str) -> Result<(), SyncError> {
        self.pacer
            .wait_for_reads(key, MAX_INLINE_WAIT)
            .await?
            .map_err(SyncError::Budget)
    }

    /// Skipped, dry or refused: the finding stays due for a worker whose settings differ (see
    /// `findings/due.rs`); only a sync that made GitHub match settles it.
    pub(super) async fn leave_off(&self, lease: &Lease) -> Result<(), SyncError> {
        store::set_unsynced_under(&self.pool, lease, Some(&self.fingerprint)).await?;
        Ok(())
    }
}

/// Where the linked issue lives (it may have been transferred since the finding was targeted).
fn linked_repo(finding: &Finding) -> Option<RepoSlug> {
    finding.github_issue_number?;
    RepoSlug::parse(finding.github_repo.as_deref()?).ok()
}
