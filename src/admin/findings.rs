//! Findings as operators see them (state, counts, links, last error), and resyncing one.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{decode_cursor, one_of, AdminError, Links, Page};

/// A resync goes before every other due job (events' are 0, a snapshot's higher): an operator
/// is waiting on it.
pub const RESYNC_PRIORITY: i16 = -1;

/// The states of `finding_status` (V11), as `/metrics` counts them.
pub const STATES: [&str; 4] = ["open", "closed", "dismissed", "failed"];

#[derive(Debug, Default)]
pub struct FindingFilter {
    pub state: Option<String>,
    /// `login/name`, as DeepSource names the repository (any provider).
    pub repository: Option<String>,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingRow {
    pub id: String,
    pub state: String,
    /// `login/name`; `None` while no event has said where the finding is.
    pub repository: Option<String>,
    pub shortcode: String,
    pub title: String,
    pub category: String,
    pub severity: Option<String>,
    pub analyzer: String,
    pub open_occurrences: i64,
    pub github_issue_url: Option<String>,
    pub github_state: Option<String>,
    pub dismissed_reason: Option<String>,
    pub deepsource_url: Option<String>,
    /// The newest job's error, when it has one.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

struct Row {
    id: String,
    state: String,
    repository: Option<String>,
    vcs_provider: String,
    vcs_url: String,
    issue_shortcode: String,
    issue_title: String,
    category: String,
    severity: Option<String>,
    analyzer_shortcode: String,
    open_occurrences: i64,
    github_repo: Option<String>,
    github_issue_number: Option<i64>,
    github_state: Option<String>,
    dismissed_reason: Option<String>,
    last_error: Option<String>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_finding(self, links: &Links) -> FindingRow {
        FindingRow {
            github_issue_url: self
                .github_repo
                .as_deref()
                .zip(self.github_issue_number)
                .map(|(repo, number)| links.issue(repo, number)),
            deepsource_url: links.dashboard(&self.vcs_provider, &self.vcs_url, &self.issue_shortcode),
            id: self.id,
            state: self.state,
            repository: self.repository,
            shortcode: self.issue_shortcode,
            title: self.issue_title,
            category: self.category,
            severity: self.severity,
            analyzer: self.analyzer_shortcode,
            open_occurrences: self.open_occurrences,
            github_state: self.github_state,
            dismissed_reason: self.dismissed_reason,
            last_error: self.last_error,
            updated_at: self.updated_at,
        }
    }
}

/// A page of findings in id order (keyset: the cursor is the last id seen).
pub async fn list(
    pool: &PgPool,
    links: &Links,
    filter: &FindingFilter,
) -> Result<Page<FindingRow>, AdminError> {
    if let Some(state) = &filter.state {
        one_of("state", state, &STATES)?;
    }
    let after = filter.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = select(pool, links, filter, after.as_deref(), None).await?;
    Ok(Page::of(rows, filter.limit, |f: &FindingRow| f.id.clone()))
}

/// One finding, as listed.
pub async fn get(pool: &PgPool, links: &Links, id: &str) -> Result<FindingRow, AdminError> {
    let one = FindingFilter {
        limit: 1,
        ..Default::default()
    };
    select(pool, links, &one, None, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AdminError::NotFound(format!("no finding {id}")))
}

/// The one query behind `list` and `get`: up to one more row than `filter.limit` (so a page
/// knows whether another follows), after `after`, or only the finding `id`.
async fn select(
    pool: &PgPool,
    links: &Links,
    filter: &FindingFilter,
    after: Option<&str>,
    id: Option<&str>,
) -> Result<Vec<FindingRow>, AdminError> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT f.id, s.state AS "state!", nullif(split_part(f.repository_key, ':', 2), '') AS repository,
                  f.vcs_provider, f.vcs_url, f.issue_shortcode, f.issue_title, f.category, f.severity,
                  f.analyzer_shortcode, f.open_occurrences, f.github_repo, f.github_issue_number,
                  f.github_state, f.dismissed_reason, f.updated_at,
                  (SELECT j.last_error FROM sync_jobs j WHERE j.finding_id = f.id
                   ORDER BY j.id DESC LIMIT 1) AS last_error
           FROM findings f JOIN finding_status s ON s.finding_id = f.id
           WHERE ($1::text IS NULL OR s.state = $1)
             AND ($2::text IS NULL OR split_part(f.repository_key, ':', 2) = lower($2))
             AND ($3::text IS NULL OR f.id > $3)
             AND ($5::text IS NULL OR f.id = $5)
           ORDER BY f.id
           LIMIT $4"#,
        filter.state,
        filter.repository.as_deref().map(str::trim),
        after,
        filter.limit + 1,
        id
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| row.into_finding(links)).collect())
}

/// What a resync did.
#[derive(Debug, Serialize)]
pub struct Resync {
    pub finding_id: String,
    /// The job that will drive GitHub (an already queued one when there was one).
    pub job_id: i64,
    /// The issue was deleted: the link was dropped, so the sync creates a new one.
    pub relinked: bool,
}

/// Queues a sync of one finding now, ahead of other work. A finding whose issue a person deleted
/// gets a new issue; one a person closed as not planned or duplicate is theirs (409): reopening
/// the issue on GitHub brings it back.
#[tracing::instrument(skip_all, fields(finding = %id))]
pub async fn resync(pool: &PgPool, id: &str) -> Result<Resync, AdminError> {
    let mut tx = pool.begin().await?;
    let dismissed = sqlx::query_scalar!(
        "SELECT dismissed_reason FROM findings WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AdminError::NotFound(format!("no finding {id}")))?;
    let relinked = match dismissed.as_deref() {
        None => false,
        Some("deleted") => {
            // Unlinked while no worker holds the finding: a sync in flight would still act on
            // the old link.
            let held = sqlx::query_scalar!(
                r#"SELECT 1 AS "one!" FROM finding_leases WHERE finding_id = $1 AND expires_at > now() FOR UPDATE"#,
                id
            )
            .fetch_optional(&mut *tx)
            .await?;
            if held.is_some() {
                return Err(AdminError::Conflict(format!(
                    "finding {id} is being synced right now; try again in a moment"
                )));
            }
            sqlx::query!(
                r#"UPDATE findings
                   SET previous_issues = CASE WHEN github_issue_number IS NULL THEN previous_issues
                                              ELSE array_append(previous_issues, github_issue_number) END,
                       github_issue_number = NULL, github_state = NULL, github_content_hash = NULL,
                       github_text_hash = NULL, github_labels = NULL, github_state_reason = NULL,
                       github_shown_occurrences = NULL, github_seen_at = NULL,
                       pending_comment = NULL, comment_started_at = NULL, closed_by_person_with = NULL,
                       dismissed_at = NULL, dismissed_by = NULL, dismissed_reason = NULL,
                       updated_at = now()
                   WHERE id = $1"#,
                id
            )
            .execute(&mut *tx)
            .await?;
            true
        }
        Some(reason) => {
            return Err(AdminError::Conflict(format!(
                "a person closed the issue of finding {id} as {}: reopen it on GitHub to sync it again",
                reason.replace('_', " ")
            )))
        }
    };
    let queued = sqlx::query_scalar!(
        r#"SELECT id FROM sync_jobs WHERE finding_id = $1 AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let job_id = match queued {
        Some(job) => {
            sqlx::query!(
                "UPDATE sync_jobs SET next_attempt_at = now(), priority = $2, updated_at = now() WHERE id = $1",
                job,
                RESYNC_PRIORITY
            )
            .execute(&mut *tx)
            .await?;
            job
        }
        None => {
            sqlx::query_scalar!(
                "INSERT INTO sync_jobs (finding_id, priority) VALUES ($1, $2) RETURNING id",
                id,
                RESYNC_PRIORITY
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    crate::db::notify::notify_work(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(job_id, relinked, "resync queued");
    Ok(Resync {
        finding_id: id.to_owned(),
        job_id,
        relinked,
    })
}
