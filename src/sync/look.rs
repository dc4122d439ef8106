//! Reading a finding's issue before a write that could undo what a person did (without GitHub's
//! webhooks), and recording what it shows through the same rules as a webhook
//! (`findings/decisions.rs`).
use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::decisions::{record, Seen};
use crate::findings::store::Finding;
use crate::github::client::{GitHub, GitHubError};

impl Driver {
    /// Reads the issue and records what a person did to it; the finding as it now stands.
    pub(super) async fn look_at_issue(
        &self,
        github: &GitHub,
        finding: Finding,
        repo: &RepoSlug,
    ) -> Result<Finding, SyncError> {
        let number = finding.github_issue_number.expect("linked");
        self.wait_for_reads(&github.budget_key(repo)).await?;
        let seen = match github.get_issue(repo, number).await {
            Ok(issue) => Seen::of_issue(&issue, repo),
            Err(GitHubError::Gone { .. }) => Seen::deleted(),
            Err(e) => return Err(e.into()),
        };
        self.learn(&finding.id, &seen).await?;
        self.load(&finding.id).await?.ok_or(SyncError::LeaseLost)
    }

    pub(super) async fn learn(&self, finding_id: &str, seen: &Seen) -> Result<(), SyncError> {
        let mut conn = self.pool.acquire().await?;
        record(&mut conn, finding_id, seen).await?;
        Ok(())
    }
}
