//! `OVERVIEW_SUB_ISSUES`: findings' own issues hung under their overview as sub-issues, so GitHub
//! shows the repository's progress. Which ones is `sub_plan.rs`'s; each attach or detach is a
//! write through the shared pacer. A GitHub without the API (GitHub Enterprise Server answers
//! 404) turns sub-issues off for that target with one WARN line; nothing else fails.
use chrono::{DateTime, Utc};

use super::error::OverviewError;
use super::store::{self, Held};
use super::sub_plan::{plan, Candidate, MAX_SUB_ISSUES};
use super::writer::Overviews;
use crate::configuration::severity_rank;
use crate::domain::RepoSlug;
use crate::github::client::{GitHub, GitHubError};

/// Sub-issues attached or detached in one pass at most.
const PER_PASS: usize = 10;

impl Overviews {
    pub(super) async fn bring_sub_issues(
        &self,
        github: &GitHub,
        held: &Held,
        repo: &RepoSlug,
    ) -> Result<(), OverviewError> {
        let Some(parent) = held.number else { return Ok(()) };
        let pool = &self.pool;
        let off = sqlx::query_scalar!(
            "SELECT sub_issues_off FROM overviews WHERE repository_key = $1",
            held.key
        )
        .fetch_one(pool)
        .await?;
        if off.is_some() {
            return Ok(());
        }
        let rows = sqlx::query!(
            r#"SELECT f.id, f.github_repo AS "github_repo!", f.github_issue_number AS "number!",
                      f.github_issue_id, f.github_state, f.severity, f.open_occurrences,
                      (SELECT max(a.at) FROM sync_actions a
                       WHERE a.finding_id = f.id AND a.action = 'close') AS closed_at
               FROM findings f
               WHERE f.repository_key = $1 AND f.github_issue_number IS NOT NULL
                 AND split_part(lower(f.github_repo), '/', 1) = lower($2)
               ORDER BY f.id"#,
            held.key,
            repo.owner()
        )
        .fetch_all(pool)
        .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        let mut finding_of = std::collections::HashMap::new();
        for r in rows {
            let id = match r.github_issue_id {
                Some(id) => id,
                // An issue linked before ids were kept: read once to learn it.
                None => match self
                    .learn_issue_id(github, &r.id, &r.github_repo, r.number)
                    .await?
                {
                    Some(id) => id,
                    None => continue,
                },
            };
            finding_of.insert(id, r.id);
            candidates.push(Candidate {
                id,
                open: r.github_state.as_deref() == Some("open"),
                rank: severity_rank(r.severity.map(|s| s.to_ascii_uppercase()).as_deref()),
                occurrences: r.open_occurrences,
                closed_at: r.closed_at.map(|t: DateTime<Utc>| t),
            });
        }
        let known = sqlx::query!(
            "SELECT issue_id, refused IS NOT NULL AS \"refused!\" FROM overview_sub_issues WHERE repository_key = $1",
            held.key
        )
        .fetch_all(pool)
        .await?;
        let attached: Vec<i64> = known.iter().filter(|k| !k.refused).map(|k| k.issue_id).collect();
        let refused: Vec<i64> = known.iter().filter(|k| k.refused).map(|k| k.issue_id).collect();
        let mut planned = plan(&candidates, &attached, &refused, MAX_SUB_ISSUES);
        // A pass holds the overview by a lease it does not renew: a bounded batch each pass (a
        // second a write at GitHub's pace), the rest at once in the next.
        let more = planned.detach.len() + planned.attach.len() > PER_PASS;
        planned.detach.truncate(PER_PASS);
        planned.attach.truncate(PER_PASS - planned.detach.len());
        for id in planned.detach {
            self.book(github, repo).await?;
            github.detach_sub_issue(repo, parent, id).await?;
            crate::metrics::overview_write("sub_issue");
            sqlx::query!(
                "DELETE FROM overview_sub_issues WHERE repository_key = $1 AND issue_id = $2",
                held.key,
                id
            )
            .execute(pool)
            .await?;
        }
        for id in planned.attach {
            self.book(github, repo).await?;
            let refused = match github.attach_sub_issue(repo, parent, id).await {
                Ok(()) => None,
                Err(GitHubError::Permanent { status: 404, detail }) => {
                    return self.turn_off(repo, &detail).await;
                }
                Err(GitHubError::Permanent { status, detail }) => Some(format!("{status}: {detail}")),
                Err(e) => return Err(e.into()),
            };
            crate::metrics::overview_write("sub_issue");
            sqlx::query!(
                r#"INSERT INTO overview_sub_issues (repository_key, issue_id, finding_id, refused)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (repository_key, issue_id) DO UPDATE SET refused = EXCLUDED.refused"#,
                held.key,
                id,
                finding_of.get(&id).cloned().unwrap_or_default(),
                refused
            )
            .execute(pool)
            .await?;
        }
        if more {
            let mut conn = pool.acquire().await?;
            store::mark_changed(&mut conn, &held.key, std::time::Duration::ZERO).await?;
        }
        Ok(())
    }

    /// GitHub answered that the API is not there: off for every overview in `repo`, said once.
    async fn turn_off(&self, repo: &RepoSlug, detail: &str) -> Result<(), OverviewError> {
        let reason = format!("GitHub answered 404 to a sub-issue: {detail}");
        let turned = sqlx::query!(
            "UPDATE overviews SET sub_issues_off = $2 WHERE lower(github_repo) = lower($1) AND sub_issues_off IS NULL",
            repo.to_string(),
            reason
        )
        .execute(&self.pool)
        .await?;
        if turned.rows_affected() > 0 {
            tracing::warn!(github_repo = %repo, detail, "GitHub has no sub-issues API here (GitHub Enterprise Server?): OVERVIEW_SUB_ISSUES is off for this repository; overviews go on without");
        }
        Ok(())
    }

    async fn learn_issue_id(
        &self,
        github: &GitHub,
        finding: &str,
        repo: &str,
        number: i64,
    ) -> Result<Option<i64>, OverviewError> {
        let Ok(slug) = RepoSlug::parse(repo) else {
            return Ok(None);
        };
        let id = match github.get_issue(&slug, number).await {
            Ok(issue) => issue.id,
            Err(GitHubError::Gone { .. } | GitHubError::Moved { .. } | GitHubError::Permanent { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        sqlx::query!(
            "UPDATE findings SET github_issue_id = $3 WHERE id = $1 AND github_issue_number = $2",
            finding,
            number,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(id)
    }
}
