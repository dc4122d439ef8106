//! Sub-issues (GitHub.com and GHEC; GitHub Enterprise Server's REST API has none): a child is
//! named by its issue's `id`, not its number, and must live under the parent's owner.
use serde_json::json;

use super::call::Method;
use super::client::{send, GitHub, GitHubError};
use crate::domain::RepoSlug;

impl GitHub {
    /// Attaches the issue with `child_id` to issue `parent` in `repo`.
    pub async fn attach_sub_issue(
        &self,
        repo: &RepoSlug,
        parent: i64,
        child_id: i64,
    ) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!(
            "/repos/{}/{}/issues/{parent}/sub_issues",
            repo.owner(),
            repo.repo()
        );
        let _: serde_json::Value = send(
            &client,
            Method::Post,
            &path,
            Some(&json!({ "sub_issue_id": child_id })),
        )
        .await?;
        Ok(())
    }

    /// Detaches it; one that is not attached (any more) is not an error.
    pub async fn detach_sub_issue(
        &self,
        repo: &RepoSlug,
        parent: i64,
        child_id: i64,
    ) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!(
            "/repos/{}/{}/issues/{parent}/sub_issue",
            repo.owner(),
            repo.repo()
        );
        match send::<serde_json::Value>(
            &client,
            Method::Delete,
            &path,
            Some(&json!({ "sub_issue_id": child_id })),
        )
        .await
        {
            Ok(_) | Err(GitHubError::Permanent { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
