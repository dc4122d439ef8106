//! What an interrupted GitHub call did. GitHub has no idempotency key, so a create or comment
//! whose answer was lost (timeout, dropped connection, 5xx, a worker killed or stalled mid-call)
//! may or may not have happened: once no such call can still land, the result is looked for by
//! its marker, and only if it is not there is the call made again.
use chrono::Duration as ChronoDuration;

use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::fence::Lease;
use crate::findings::store::{self, Call, Finding};
use crate::github::client::GitHub;
use crate::issue::markers::{comment_marker, current_marker};
use crate::issue::render::render;

impl Driver {
    /// Links the issue an interrupted create made, or clears the intent when there is none.
    pub(super) async fn find_interrupted_create(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
    ) -> Result<(), SyncError> {
        if let Some(wait) = finding.create_unsettled {
            return Err(SyncError::Settling(wait));
        }
        self.wait_for_reads(&github.budget_key(repo)).await?;
        let marker = current_marker(finding);
        let Some(issue) = github
            .find_by_marker(repo, &marker, &finding.previous_issues)
            .await?
        else {
            // Nothing carries the marker, so the create never happened.
            store::set_started(&self.pool, lease, Call::Create, false).await?;
            finding.create_started_at = None;
            return Ok(());
        };
        tracing::info!(
            github_issue = issue.number,
            repository = %repo,
            "found the issue an interrupted create made"
        );
        // The hash only when GitHub shows just what would be written now, so a found issue
        // costs no write unless something changed since the create.
        let content = render(finding, &self.issues);
        let shown = issue.shows(&content).then_some(&content);
        let ours = content
            .labels
            .iter()
            .filter(|l| issue.has_label(l))
            .cloned()
            .collect();
        self.link(lease, finding, repo, &issue, shown, Some(ours), None)
            .await?;
        self.record(&finding.id, "link", repo, Some(issue.number)).await
    }

    /// Posts the comment a state change owes, then marks it paid; a post whose answer was lost
    /// is looked for on the issue (by the comment's marker) before it is posted again.
    pub(super) async fn post_owed_comment(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &Finding,
        repo: &RepoSlug,
        number: i64,
        comment: &str,
    ) -> Result<(), SyncError> {
        if let Some(started) = finding.comment_started_at {
            if let Some(wait) = finding.comment_unsettled {
                return Err(SyncError::Settling(wait));
            }
            if let Some(marker) = comment_marker(comment) {
                self.wait_for_reads(&github.budget_key(repo)).await?;
                // GitHub's clock may differ from ours: look well before the post began.
                let since = started - ChronoDuration::hours(1);
                if github.has_comment(repo, number, marker, since).await? {
                    tracing::info!(github_issue = number, "the owed comment was posted already");
                    store::clear_pending_comment(&self.pool, lease).await?;
                    return self.record(&finding.id, "comment", repo, Some(number)).await;
                }
            }
        }
        self.book_write(&github.budget_key(repo)).await?;
        store::set_started(&self.pool, lease, Call::Comment, true).await?;
        if let Err(e) = github.comment(repo, number, comment).await {
            if e.is_definite() {
                store::set_started(&self.pool, lease, Call::Comment, false).await?;
            }
            return Err(e.into());
        }
        store::clear_pending_comment(&self.pool, lease).await?;
        self.record(&finding.id, "comment", repo, Some(number)).await
    }
}
