//! Reading a finding's issue before a write that could undo what a person did (without GitHub's
//! webhooks), and recording what it shows through the same rules as a webhook
//! (`findings/decisions.rs`).
use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::decisions::{record, Seen, SeenState};
use crate::findings::store::Finding;
use crate::github::client::{GitHub, GitHubError, RemoteIssue};

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
            Ok(issue) => seen(&issue, repo),
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

/// The issue as a read answered it; `asked` is where it was asked for, so an answer from
/// elsewhere (a redirect) is a move.
fn seen(issue: &RemoteIssue, asked: &RepoSlug) -> Seen {
    let now_in = issue
        .repository_url
        .as_deref()
        .and_then(|url| url.split("/repos/").nth(1))
        .and_then(|slug| RepoSlug::parse(slug).ok());
    let moved_to = now_in
        .filter(|repo| !repo.to_string().eq_ignore_ascii_case(&asked.to_string()))
        .map(|repo| (repo.to_string(), issue.number));
    let state = match issue.state.as_str() {
        "closed" => SeenState::Closed {
            reason: issue.state_reason.clone(),
        },
        _ => SeenState::Open,
    };
    Seen {
        state,
        moved_to,
        by: issue.closed_by.as_ref().map(|u| u.login.clone()),
        at: issue.updated_at,
    }
}
