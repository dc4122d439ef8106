//! What a sync records once GitHub answered: the action taken (`sync_actions`), and the link to
//! the issue with what it now shows (fenced by the finding's lease).
use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::fence::Lease;
use crate::findings::store::{self, Finding, Link};
use crate::github::client::RemoteIssue;
use crate::github::content::IssueContent;

impl Driver {
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

    /// Records what GitHub now shows: `content` when the issue shows it (its hashes), and the
    /// service's labels on it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn link(
        &self,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        issue: &RemoteIssue,
        content: Option<&IssueContent>,
        labels: Option<Vec<String>>,
        pending_comment: Option<&str>,
    ) -> Result<(), SyncError> {
        let repo = repo.to_string();
        let hash = content.map(IssueContent::hash);
        let text_hash = content.map(IssueContent::text_hash);
        let labels = labels.unwrap_or_default();
        tracing::Span::current().record("github_issue", issue.number);
        let link = Link {
            repo: &repo,
            number: issue.number,
            state: &issue.state,
            state_reason: issue.state_reason.as_deref(),
            content_hash: hash.as_deref(),
            text_hash: text_hash.as_deref(),
            labels: &labels,
            shown_occurrences: content.map(|_| finding.open_occurrences),
            pending_comment,
            issue_id: issue.id,
        };
        store::save_link(&self.pool, lease, link).await?;
        finding.github_repo = Some(repo);
        finding.github_issue_number = Some(issue.number);
        finding.github_state = Some(issue.state.clone());
        finding.github_content_hash = hash;
        finding.github_text_hash = text_hash;
        finding.github_labels = Some(labels);
        finding.pending_comment = pending_comment.map(str::to_owned);
        finding.comment_started_at = None;
        finding.create_started_at = None;
        if issue.state == "open" {
            finding.closed_by_person_with = None;
        }
        Ok(())
    }
}
