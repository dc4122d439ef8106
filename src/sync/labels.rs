//! The service's own labels on an issue. GitHub's PATCH replaces the whole label set, labels
//! people added with it, so the service never sends one: it adds and removes its own labels one
//! call at a time, against the set it last applied (`findings.github_labels`), and leaves every
//! other label (and assignees, and the milestone) as people set them.
use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::fence::Lease;
use crate::findings::store::{self, Finding};
use crate::github::client::GitHub;
use crate::github::content::IssueContent;
use crate::issue::labels::{change, LabelChange};

impl Driver {
    /// The service's labels to what `content` wants, then recorded as applied.
    pub(super) async fn bring_labels(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &mut Finding,
        repo: &RepoSlug,
        content: &IssueContent,
    ) -> Result<(), SyncError> {
        let change = change(finding.github_labels.as_deref(), &content.labels);
        if change.is_empty() {
            return Ok(());
        }
        let number = finding.github_issue_number.expect("linked");
        self.apply_labels(github, repo, number, &change).await?;
        store::save_labels(&self.pool, lease, &content.labels, &content.hash()).await?;
        finding.github_labels = Some(content.labels.clone());
        finding.github_content_hash = Some(content.hash());
        Ok(())
    }

    /// Brings the service's labels on issue `number` to `wanted`: one write to add any, one per
    /// label to remove. A label a person already took off is not an error.
    pub(super) async fn apply_labels(
        &self,
        github: &GitHub,
        repo: &RepoSlug,
        number: i64,
        change: &LabelChange,
    ) -> Result<(), SyncError> {
        let key = github.budget_key(repo);
        if !change.add.is_empty() {
            self.book_write(&key).await?;
            github.add_labels(repo, number, &change.add).await?;
        }
        for label in &change.remove {
            self.book_write(&key).await?;
            github.remove_label(repo, number, label).await?;
        }
        Ok(())
    }
}
