//! Each repository's overview issue as operators see it: where it is, when it was last written,
//! whether a person turned it off (and who), and what is wrong with it if anything is.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::AdminError;
use crate::configuration::GitHubSettings;

#[derive(Debug, Serialize)]
pub struct OverviewRow {
    /// `login/name` as DeepSource names it.
    pub repository: String,
    pub github_repo: Option<String>,
    pub issue_number: Option<i64>,
    pub issue_url: Option<String>,
    pub state: Option<String>,
    /// First written: the repository has been visible in GitHub since.
    pub visible_at: Option<DateTime<Utc>>,
    pub written_at: Option<DateTime<Utc>>,
    pub writes: i64,
    /// A change waits to be written then.
    pub due_at: Option<DateTime<Utc>>,
    /// A person closed (`completed`, `not_planned`, …) or deleted it: not written until reopened.
    pub off_reason: Option<String>,
    pub off_by: Option<String>,
    pub off_at: Option<DateTime<Utc>>,
    /// GitHub will not take it.
    pub failed_reason: Option<String>,
    pub last_error: Option<String>,
    /// Sub-issues are off for its target, and why.
    pub sub_issues_off: Option<String>,
}

/// Every overview, or the one of `repository_key` (`provider:login/name`, lower case).
pub async fn overviews(
    pool: &PgPool,
    github: &GitHubSettings,
    repository_key: Option<&str>,
) -> Result<Vec<OverviewRow>, AdminError> {
    let rows = sqlx::query!(
        r#"SELECT repository_key, github_repo, github_issue_number, github_state, visible_at, written_at,
                  writes, due_at, off_reason, off_by, off_at, failed_reason, last_error, sub_issues_off
           FROM overviews
           WHERE $1::text IS NULL OR repository_key = $1
           ORDER BY repository_key"#,
        repository_key
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OverviewRow {
            repository: r
                .repository_key
                .split_once(':')
                .map_or(r.repository_key.clone(), |(_, name)| name.to_owned()),
            issue_url: r
                .github_repo
                .as_deref()
                .zip(r.github_issue_number)
                .map(|(repo, n)| github.issue_url(repo, n)),
            github_repo: r.github_repo,
            issue_number: r.github_issue_number,
            state: r.github_state,
            visible_at: r.visible_at,
            written_at: r.written_at,
            writes: r.writes,
            due_at: r.due_at,
            off_reason: r.off_reason,
            off_by: r.off_by,
            off_at: r.off_at,
            failed_reason: r.failed_reason,
            last_error: r.last_error,
            sub_issues_off: r.sub_issues_off,
        })
        .collect())
}

impl OverviewRow {
    /// One line for `deepsource-sync status` and `backfill`.
    pub fn describe(&self) -> String {
        let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let place = match (&self.github_repo, self.issue_number) {
            (Some(repo), Some(n)) => format!("{repo}#{n}"),
            _ => "not written yet".to_owned(),
        };
        let mut line = format!("{}: {place}", self.repository);
        if let Some(reason) = &self.off_reason {
            let by = self.off_by.as_deref().unwrap_or("someone");
            line.push_str(&format!(", off: {reason} by {by}"));
            if let Some(t) = self.off_at {
                line.push_str(&format!(" at {}", at(t)));
            }
            line.push_str(" (reopen it on GitHub to resume)");
        } else if let Some(t) = self.written_at {
            line.push_str(&format!(", last written {}", at(t)));
        }
        if let Some(t) = self.visible_at {
            line.push_str(&format!(", visible since {}", at(t)));
        }
        if let Some(reason) = &self.failed_reason {
            line.push_str(&format!(", GitHub refuses it: {reason}"));
        } else if let Some(error) = &self.last_error {
            line.push_str(&format!(", last error: {error}"));
        }
        line
    }
}
