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
        self.sub_issue_call(repo, parent, Method::Post, "sub_issues", child_id)
            .await
    }

    /// Detaches it; one that is not attached (any more) is not an error.
    pub async fn detach_sub_issue(
        &self,
        repo: &RepoSlug,
        parent: i64,
        child_id: i64,
    ) -> Result<(), GitHubError> {
        match self
            .sub_issue_call(repo, parent, Method::Delete, "sub_issue", child_id)
            .await
        {
            Ok(()) | Err(GitHubError::Permanent { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `…/issues/{parent}/{endpoint}` with `{"sub_issue_id": child_id}`.
    async fn sub_issue_call(
        &self,
        repo: &RepoSlug,
        parent: i64,
        method: Method,
        endpoint: &str,
        child_id: i64,
    ) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!(
            "/repos/{}/{}/issues/{parent}/{endpoint}",
            repo.owner(),
            repo.repo()
        );
        let body = json!({ "sub_issue_id": child_id });
        let _: serde_json::Value = send(&client, method, &path, Some(&body)).await?;
        Ok(())
    }
}
