//! Looking at GitHub for what an interrupted call made: the issue carrying a finding's marker,
//! the comment carrying a comment's (`sync/recovery.rs`).
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::call::Method;
use super::client::{send, GitHub, GitHubError, RemoteIssue};
use crate::domain::RepoSlug;

/// Recent issues (and comments) looked through for a marker when search has not indexed a new
/// issue yet: pages of 100, newest first.
const MARKER_SCAN_PAGES: u32 = 5;

impl GitHub {
    /// Looks for the issue carrying `marker`, skipping `retired` numbers: by search first, then
    /// through the repository's newest issues, since search lags behind a create by a while. The
    /// scan does not filter by label: GitHub drops labels on create for callers without push
    /// access. Of several matches the open one, then the newest, wins.
    pub async fn find_by_marker(
        &self,
        repo: &RepoSlug,
        marker: &str,
        retired: &[i64],
    ) -> Result<Option<RemoteIssue>, GitHubError> {
        let client = self.client_for(repo).await?;
        #[derive(Deserialize)]
        struct Search {
            items: Vec<RemoteIssue>,
        }
        let needle = marker.trim_start_matches("<!-- ").trim_end_matches(" -->");
        let query = format!("\"{needle}\" repo:{repo} is:issue in:body");
        let path = format!(
            "/search/issues?q={}",
            utf8_percent_encode(&query, NON_ALPHANUMERIC)
        );
        let found: Search = send(&client, Method::Get, &path, None).await?;
        let matches = |issue: &RemoteIssue| {
            !retired.contains(&issue.number) && issue.body.as_deref().is_some_and(|b| b.contains(marker))
        };
        if let Some(issue) = best(found.items.into_iter().filter(matches)) {
            return Ok(Some(issue));
        }
        let path = format!(
            "/repos/{}/{}/issues?state=all&sort=created&direction=desc",
            repo.owner(),
            repo.repo()
        );
        scan_pages(&client, &path, |issues: Vec<RemoteIssue>| {
            best(issues.into_iter().filter(matches))
        })
        .await
    }

    /// Whether a comment carrying `marker` is on the issue (comments since `since`).
    pub async fn has_comment(
        &self,
        repo: &RepoSlug,
        number: i64,
        marker: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, GitHubError> {
        let client = self.client_for(repo).await?;
        #[derive(Deserialize)]
        struct Comment {
            #[serde(default)]
            body: Option<String>,
        }
        let path = format!(
            "/repos/{}/{}/issues/{number}/comments?since={}",
            repo.owner(),
            repo.repo(),
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let found = scan_pages(&client, &path, |comments: Vec<Comment>| {
            comments
                .into_iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
        })
        .await?;
        Ok(found.is_some())
    }
}

/// Pages through `path` (a listing with a query string already), 100 at a time and at most
/// `MARKER_SCAN_PAGES` pages, until `pick` chooses something from a page or the listing ends.
async fn scan_pages<T: serde::de::DeserializeOwned>(
    client: &Octocrab,
    path: &str,
    pick: impl Fn(Vec<T>) -> Option<T>,
) -> Result<Option<T>, GitHubError> {
    for page in 1..=MARKER_SCAN_PAGES {
        let items: Vec<T> = send(
            client,
            Method::Get,
            &format!("{path}&per_page=100&page={page}"),
            None,
        )
        .await?;
        let last_page = items.len() < 100;
        if let Some(found) = pick(items) {
            return Ok(Some(found));
        }
        if last_page {
            break;
        }
    }
    Ok(None)
}

fn best(issues: impl Iterator<Item = RemoteIssue>) -> Option<RemoteIssue> {
    issues.max_by_key(|issue| (issue.state == "open", issue.number))
}
