//! Brings one finding's GitHub issue in line with its stored state: create, update, close,
//! reopen, each step recorded in Postgres so a crash or retry never repeats a create.
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use super::github::{GitHub, GitHubError, IssuePatch, RemoteIssue};
use super::pacing::{Pacer, Slot};
use super::render::{marker, render};
use super::store::{self, Finding, JobEnd, Link};
use crate::configuration::{GitHubSettings, ReopenPolicy, SyncSettings};
use crate::domain::RepoSlug;

/// Budget waits up to this long are slept through; longer ones reschedule the jobs.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(20);

/// Why a sync stopped short. `Unauthorized` stops the whole worker, not just this finding.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("write budget exhausted for {0:?}")]
    Budget(Duration),
}

pub struct Driver {
    pool: PgPool,
    github: Option<GitHub>,
    pacer: Pacer,
    github_settings: GitHubSettings,
    sync: SyncSettings,
}

impl Driver {
    pub fn new(
        pool: PgPool,
        github: Option<GitHub>,
        github_settings: GitHubSettings,
        sync: SyncSettings,
    ) -> Self {
        Self {
            pacer: Pacer::new(pool.clone(), &github_settings),
            pool,
            github,
            github_settings,
            sync,
        }
    }

    pub fn is_dry_run(&self) -> bool {
        self.github.is_none()
    }

    /// Where this finding's issue lives, or why it is not synced.
    fn target(&self, finding: &Finding) -> Result<RepoSlug, String> {
        if let Some(repo) = &finding.github_repo {
            return RepoSlug::parse(repo);
        }
        if !self.sync.categories.is_empty()
            && !self
                .sync
                .categories
                .contains(&finding.category.to_ascii_uppercase())
        {
            return Err(format!("category {} is not in SYNC_CATEGORIES", finding.category));
        }
        if !self.sync.analyzers.is_empty() && !self.sync.analyzers.contains(&finding.analyzer_shortcode) {
            return Err(format!(
                "analyzer {} is not in SYNC_ANALYZERS",
                finding.analyzer_shortcode
            ));
        }
        if let Some(repo) = &self.github_settings.repo_override {
            return Ok(repo.clone());
        }
        match finding.vcs_provider.as_str() {
            "GITHUB" => RepoSlug::from_vcs_url(&finding.vcs_url),
            "GITHUB_ENTERPRISE" if self.github_settings.api_url_configured => {
                RepoSlug::from_vcs_url(&finding.vcs_url)
            }
            "GITHUB_ENTERPRISE" => Err("GITHUB_ENTERPRISE repository, but GITHUB_API_URL is not set".into()),
            other => Err(format!(
                "{other} repositories are not on GitHub (set GITHUB_REPO to track them in one)"
            )),
        }
    }

    /// Drives GitHub for one finding and says how its jobs end.
    pub async fn sync(&self, finding_id: &str, attempts: i32) -> Result<JobEnd, SyncError> {
        let Some(finding) = store::load_finding(&self.pool, finding_id).await? else {
            return Ok(JobEnd::Done);
        };
        let repo = match self.target(&finding) {
            Ok(repo) => repo,
            Err(reason) => return Ok(JobEnd::Skipped(reason)),
        };
        let Some(github) = &self.github else {
            self.dry_run(&finding, &repo).await?;
            return Ok(JobEnd::Done);
        };
        match self.reconcile(github, finding, &repo).await {
            Ok(()) => Ok(JobEnd::Done),
            Err(SyncError::Budget(wait)) => Ok(JobEnd::Retry {
                at: Utc::now() + wait,
                error: format!("GitHub write budget exhausted; next write allowed in {wait:?}"),
                counted: false,
            }),
            Err(SyncError::GitHub(GitHubError::RateLimited { until, detail })) => {
                self.pacer.block(&github.budget_key(&repo), until).await?;
                Ok(JobEnd::Retry {
                    at: until,
                    error: format!("rate limited by GitHub: {detail}"),
                    counted: false,
                })
            }
            Err(SyncError::GitHub(GitHubError::Transient { detail })) => Ok(JobEnd::Retry {
                at: Utc::now() + backoff(attempts),
                error: detail,
                counted: true,
            }),
            Err(SyncError::GitHub(e @ GitHubError::Permanent { .. })) => Ok(JobEnd::Dead(e.to_string())),
            Err(other) => Err(other),
        }
    }

    async fn reconcile(
        &self,
        github: &GitHub,
        mut finding: Finding,
        repo: &RepoSlug,
    ) -> Result<(), SyncError> {
        let key = github.budget_key(repo);
        let open_wanted = finding.open_occurrences > 0;

        if finding.github_issue_number.is_none() {
            if !open_wanted {
                return Ok(());
            }
            let previous = finding.previous_issues.last().copied();
            let content = render(&finding, previous);
            if finding.create_started_at.is_some() {
                // An earlier create may have worked without our hearing of it.
                self.wait_for_reads(&key).await?;
                if let Some(issue) = github.find_by_marker(repo, &marker(&finding.id)).await? {
                    tracing::info!(
                        number = issue.number,
                        "found the issue an interrupted create made"
                    );
                    self.link(&mut finding, repo, &issue, None, None).await?;
                    self.record(&finding.id, "link", repo, Some(issue.number)).await?;
                }
            }
            if finding.github_issue_number.is_none() {
                // The slot first: a budget wait must not leave an intent for a call never made.
                self.book_write(&key).await?;
                store::set_create_started(&self.pool, &finding.id, true).await?;
                let created = match github.create_issue(repo, &content).await {
                    Ok(issue) => issue,
                    Err(e) => {
                        if e.is_definite() {
                            store::set_create_started(&self.pool, &finding.id, false).await?;
                        }
                        return Err(e.into());
                    }
                };
                tracing::info!(number = created.number, repo = %repo, "created GitHub issue");
                self.record(&finding.id, "create", repo, Some(created.number))
                    .await?;
                let hash = content.hash();
                self.link(&mut finding, repo, &created, Some(&hash), None).await?;
                if let Some(previous) = previous {
                    tracing::info!(previous, "the new issue links the previous one");
                }
                return Ok(());
            }
        }

        let number = finding.github_issue_number.expect("linked above");
        if let Some(comment) = finding.pending_comment.clone() {
            self.post_owed_comment(github, &finding.id, repo, number, &comment)
                .await?;
        }

        let is_open = finding.github_state.as_deref() == Some("open");
        match (is_open, open_wanted) {
            (false, true) if self.sync.reopen_policy == ReopenPolicy::New => {
                store::retire_issue(&self.pool, &finding.id, number).await?;
                let finding = store::load_finding(&self.pool, &finding.id)
                    .await?
                    .expect("exists");
                Box::pin(self.reconcile(github, finding, repo)).await
            }
            (false, true) => {
                let content = render(&finding, None);
                let comment = format!(
                    "DeepSource reports this again: {} open occurrence(s). Reopened by deepsource-sync.",
                    finding.open_occurrences
                );
                self.transition(github, &mut finding, repo, &content, "reopen", comment)
                    .await
            }
            (true, false) => {
                let content = render(&finding, None);
                let comment =
                    "DeepSource reports every occurrence resolved. Closed by deepsource-sync.".to_owned();
                self.transition(github, &mut finding, repo, &content, "close", comment)
                    .await
            }
            (true, true) => {
                let content = render(&finding, None);
                let hash = content.hash();
                if finding.github_content_hash.as_deref() == Some(hash.as_str()) {
                    return Ok(());
                }
                self.book_write(&key).await?;
                let issue = github
                    .update_issue(
                        repo,
                        number,
                        IssuePatch {
                            content: Some(&content),
                            ..IssuePatch::default()
                        },
                    )
                    .await?;
                self.record(&finding.id, "update", repo, Some(number)).await?;
                self.link(&mut finding, repo, &issue, Some(&hash), None).await
            }
            (false, false) => Ok(()),
        }
    }

    /// Close or reopen with the new content in one PATCH, then the comment that says why.
    async fn transition(
        &self,
        github: &GitHub,
        finding: &mut Finding,
        repo: &RepoSlug,
        content: &super::render::IssueContent,
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
        let hash = content.hash();
        self.link(finding, repo, &issue, Some(&hash), Some(&comment))
            .await?;
        self.post_owed_comment(github, &finding.id, repo, number, &comment)
            .await
    }

    /// Posts the comment a state change owes, then marks it paid.
    async fn post_owed_comment(
        &self,
        github: &GitHub,
        finding_id: &str,
        repo: &RepoSlug,
        number: i64,
        comment: &str,
    ) -> Result<(), SyncError> {
        self.book_write(&github.budget_key(repo)).await?;
        github.comment(repo, number, comment).await?;
        store::clear_pending_comment(&self.pool, finding_id).await?;
        self.record(finding_id, "comment", repo, Some(number)).await
    }

    async fn record(
        &self,
        finding_id: &str,
        action: &str,
        repo: &RepoSlug,
        number: Option<i64>,
    ) -> Result<(), SyncError> {
        store::record_action(&self.pool, finding_id, action, &repo.to_string(), number, false).await?;
        Ok(())
    }

    async fn link(
        &self,
        finding: &mut Finding,
        repo: &RepoSlug,
        issue: &RemoteIssue,
        hash: Option<&str>,
        pending_comment: Option<&str>,
    ) -> Result<(), SyncError> {
        let repo = repo.to_string();
        store::save_link(
            &self.pool,
            &finding.id,
            Link {
                repo: &repo,
                number: issue.number,
                state: &issue.state,
                content_hash: hash,
                pending_comment,
            },
        )
        .await?;
        finding.github_repo = Some(repo);
        finding.github_issue_number = Some(issue.number);
        finding.github_state = Some(issue.state.clone());
        finding.github_content_hash = hash.map(str::to_owned);
        finding.pending_comment = pending_comment.map(str::to_owned);
        finding.create_started_at = None;
        Ok(())
    }

    /// Books a write slot and sleeps until it; a slot further off reschedules the jobs instead.
    async fn book_write(&self, key: &str) -> Result<(), SyncError> {
        match self.pacer.book_write(key, MAX_INLINE_WAIT).await? {
            Slot::Booked { id, at } => {
                tokio::time::sleep_until(at).await;
                self.pacer.sending(id).await?;
                Ok(())
            }
            Slot::Wait(wait) => Err(SyncError::Budget(wait)),
        }
    }

    async fn wait_for_reads(&self, key: &str) -> Result<(), SyncError> {
        match self.pacer.blocked_for(key).await? {
            None => Ok(()),
            Some(wait) if wait <= MAX_INLINE_WAIT => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Some(wait) => Err(SyncError::Budget(wait)),
        }
    }

    /// Without credentials: say what would be done, and record it.
    async fn dry_run(&self, finding: &Finding, repo: &RepoSlug) -> Result<(), SyncError> {
        let action = if finding.open_occurrences > 0 {
            "create"
        } else {
            "close"
        };
        tracing::info!(
            finding = %finding.id,
            repo = %repo,
            action,
            open_occurrences = finding.open_occurrences,
            title = %render(finding, None).title,
            "dry run (no GitHub credentials): would {action} the issue"
        );
        store::record_action(&self.pool, &finding.id, action, &repo.to_string(), None, true).await?;
        Ok(())
    }
}

/// Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped near 10 minutes.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exp = attempts.clamp(1, 9) - 1;
    let base_ms = 2_000i64 << exp;
    let jitter = rand::random_range(0.75..1.25);
    chrono::Duration::milliseconds(((base_ms as f64) * jitter) as i64).min(chrono::Duration::minutes(10))
}
