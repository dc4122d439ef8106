//! A finding as stored and its GitHub link. Every write a sync makes to its finding's state is
//! fenced by its lease (`fence.rs`): it changes nothing, and says `LeaseLost`, once another
//! worker holds the finding.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::PgPool;

use super::fence::{fenced, Lease, StoreError};
use crate::autofix::record::shown_fixes;
use crate::autofix::ProposedFix;
use crate::findings::event::Occurrence;

/// A finding as stored: DeepSource's description of it, its count, and its GitHub link.
#[derive(Clone, Debug, Default)]
pub struct Finding {
    pub id: String,
    pub repository_name: String,
    pub vcs_provider: String,
    pub vcs_url: String,
    pub default_branch: String,
    pub issue_shortcode: String,
    pub issue_title: String,
    pub issue_description: String,
    pub category: String,
    pub analyzer_shortcode: String,
    pub analyzer_name: String,
    pub open_occurrences: i64,
    pub locations: Vec<Occurrence>,
    pub github_repo: Option<String>,
    pub github_issue_number: Option<i64>,
    pub github_state: Option<String>,
    pub github_content_hash: Option<String>,
    pub create_started_at: Option<DateTime<Utc>>,
    /// While a create begun earlier could still land at GitHub, how long until it no longer can.
    pub create_unsettled: Option<Duration>,
    pub pending_comment: Option<String>,
    pub comment_started_at: Option<DateTime<Utc>>,
    pub comment_unsettled: Option<Duration>,
    pub previous_issues: Vec<i64>,
    /// CRITICAL, MAJOR or MINOR, once a DeepSource snapshot has said.
    pub severity: Option<String>,
    /// Its occurrences in DeepSource's dashboard; set by the driver from its settings.
    pub dashboard_url: Option<String>,
    /// A person closed the issue as not planned or duplicate, or deleted it (`decisions.rs`).
    pub dismissed_reason: Option<String>,
    /// A person closed the issue as completed while this many occurrences were open.
    pub closed_by_person_with: Option<i64>,
    /// The service's own labels as it last set them; `None` for issues from before.
    pub github_labels: Option<Vec<String>>,
    pub github_text_hash: Option<String>,
    /// Why the issue is closed, in its body when state comments are off; set by the driver.
    pub state_note: Option<String>,
    /// DeepSource says it can fix this issue itself.
    pub autofix_available: Option<bool>,
    /// Autofix pull requests that fix it, newest first (`autofix/record.rs`).
    pub fixes: Vec<ProposedFix>,
    /// `provider:login/name`, lower case: its repository's overview.
    pub repository_key: Option<String>,
    /// A person ticked its box in the overview: it gets an issue of its own.
    pub issue_requested: bool,
}

/// The finding as stored. `settle` is how long a GitHub call may still land after it was begun:
/// the `*_unsettled` fields say how much of it is left, by the database's clock.
pub async fn load_finding(pool: &PgPool, id: &str, settle: Duration) -> Result<Option<Finding>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT id, repository_name, vcs_provider, vcs_url, default_branch, issue_shortcode, issue_title,
                  issue_description, category, analyzer_shortcode, analyzer_name, open_occurrences,
                  locations AS "locations: Json<Vec<Occurrence>>", github_repo, github_issue_number,
                  github_state, github_content_hash, create_started_at, pending_comment,
                  comment_started_at, previous_issues, severity, dismissed_reason,
                  closed_by_person_with, github_labels, github_text_hash, autofix_available,
                  repository_key, issue_requested_at IS NOT NULL AS "issue_requested!",
                  EXTRACT(EPOCH FROM create_started_at + make_interval(secs => $2) - now())::float8
                      AS create_unsettled_secs,
                  EXTRACT(EPOCH FROM comment_started_at + make_interval(secs => $2) - now())::float8
                      AS comment_unsettled_secs
           FROM findings WHERE id = $1"#,
        id,
        settle.as_secs_f64()
    )
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let fixes = shown_fixes(pool, id).await?;
    let left = |secs: Option<f64>| secs.filter(|s| *s > 0.0).map(Duration::from_secs_f64);
    Ok(Some(Finding {
        id: r.id,
        repository_name: r.repository_name,
        vcs_provider: r.vcs_provider,
        vcs_url: r.vcs_url,
        default_branch: r.default_branch,
        issue_shortcode: r.issue_shortcode,
        issue_title: r.issue_title,
        issue_description: r.issue_description,
        category: r.category,
        analyzer_shortcode: r.analyzer_shortcode,
        analyzer_name: r.analyzer_name,
        open_occurrences: r.open_occurrences,
        locations: r.locations.0,
        github_repo: r.github_repo,
        github_issue_number: r.github_issue_number,
        github_state: r.github_state,
        github_content_hash: r.github_content_hash,
        create_started_at: r.create_started_at,
        create_unsettled: left(r.create_unsettled_secs),
        pending_comment: r.pending_comment,
        comment_started_at: r.comment_started_at,
        comment_unsettled: left(r.comment_unsettled_secs),
        previous_issues: r.previous_issues,
        severity: r.severity,
        dashboard_url: None,
        dismissed_reason: r.dismissed_reason,
        closed_by_person_with: r.closed_by_person_with,
        github_labels: r.github_labels,
        github_text_hash: r.github_text_hash,
        state_note: None,
        autofix_available: r.autofix_available,
        fixes,
        repository_key: r.repository_key,
        issue_requested: r.issue_requested,
    }))
}

/// A GitHub write whose answer can be lost, so it is recorded as begun before it goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Create,
    Comment,
}

/// Records that `call` is going out, or clears that once its outcome is known: while recorded,
/// what it made may exist, and is looked for before the call is made again.
pub async fn set_started(pool: &PgPool, lease: &Lease, call: Call, started: bool) -> Result<(), StoreError> {
    let started_at = |this: Call| (call == this).then_some(started);
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET
                   create_started_at = CASE WHEN $3::bool IS NULL THEN create_started_at
                                            WHEN $3 THEN now() END,
                   comment_started_at = CASE WHEN $4::bool IS NULL THEN comment_started_at
                                             WHEN $4 THEN now() END,
                   updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            started_at(Call::Create),
            started_at(Call::Comment)
        )
        .execute(pool)
        .await?,
    )
}

/// What GitHub now shows for this finding's issue, and any comment still owed for it.
pub struct Link<'a> {
    pub repo: &'a str,
    pub number: i64,
    pub state: &'a str,
    pub state_reason: Option<&'a str>,
    pub content_hash: Option<&'a str>,
    /// Of the title and body alone.
    pub text_hash: Option<&'a str>,
    /// The service's own labels now on the issue.
    pub labels: &'a [String],
    /// The open-occurrence count its body shows, when the body was written.
    pub shown_occurrences: Option<i64>,
    pub pending_comment: Option<&'a str>,
    /// GitHub's id of the issue, when the answer gave it.
    pub issue_id: Option<i64>,
}

pub async fn save_link(pool: &PgPool, lease: &Lease, link: Link<'_>) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET github_repo = $3, github_issue_number = $4, github_state = $5,
                      github_content_hash = $6, pending_comment = $7, comment_started_at = NULL,
                      create_started_at = NULL, github_state_reason = $8, github_text_hash = $9,
                      github_labels = $10,
                      github_issue_id = COALESCE($12, CASE WHEN github_issue_number = $4
                                                           THEN github_issue_id END),
                      github_shown_occurrences = COALESCE($11, github_shown_occurrences),
                      -- Open again by the service's hand, or closed with nothing open: a
                      -- person's completed close has been answered.
                      closed_by_person_with = CASE WHEN $5 = 'open' THEN NULL
                                                   ELSE closed_by_person_with END,
                      -- Fixes proposed while the issue was open belong to that episode.
                      fixes_cleared_at = CASE WHEN $5 = 'closed' AND github_state IS DISTINCT FROM 'closed'
                                              THEN now() ELSE fixes_cleared_at END,
                      updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            link.repo,
            link.number,
            link.state,
            link.content_hash,
            link.pending_comment,
            link.state_reason,
            link.text_hash,
            link.labels,
            link.shown_occurrences,
            link.issue_id
        )
        .execute(pool)
        .await?,
    )
}

/// The service's labels on the issue are now `labels` (and its whole content hashes to `hash`).
pub async fn save_labels(
    pool: &PgPool,
    lease: &Lease,
    labels: &[String],
    hash: &str,
) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET github_labels = $3, github_content_hash = $4, updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            labels,
            hash
        )
        .execute(pool)
        .await?,
    )
}

/// A person closed the issue as completed, and DeepSource now agrees (nothing open): a later
/// rise is a regression like any other.
pub async fn clear_person_close(pool: &PgPool, lease: &Lease) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET closed_by_person_with = NULL, updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token
        )
        .execute(pool)
        .await?,
    )
}

/// The owed comment is on the issue.
pub async fn clear_pending_comment(pool: &PgPool, lease: &Lease) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET pending_comment = NULL, comment_started_at = NULL, updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token
        )
        .execute(pool)
        .await?,
    )
}

/// REOPEN_POLICY=new: the closed issue becomes history and the finding has none linked.
pub async fn retire_issue(pool: &PgPool, lease: &Lease, number: i64) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET previous_issues = array_append(previous_issues, $3),
                      github_issue_number = NULL, github_state = NULL, github_content_hash = NULL,
                      pending_comment = NULL, comment_started_at = NULL, github_labels = NULL,
                      github_text_hash = NULL, github_state_reason = NULL,
                      closed_by_person_with = NULL, updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            number
        )
        .execute(pool)
        .await?,
    )
}

/// What the sync just learnt: GitHub shows what the finding wants (`None`), or it was left off
/// GitHub under the settings with this fingerprint (a dry run, a filter, a refusal), so a worker
/// started with other settings looks at it again (see `due.rs`).
pub async fn set_unsynced_under(
    pool: &PgPool,
    lease: &Lease,
    fingerprint: Option<&str>,
) -> Result<(), StoreError> {
    fenced(
        sqlx::query!(
            r#"UPDATE findings SET unsynced_under = $3
               WHERE id = $1 AND EXISTS (SELECT 1 FROM finding_leases
                                         WHERE finding_id = $1 AND token = $2 FOR SHARE)"#,
            lease.finding_id,
            lease.token,
            fingerprint
        )
        .execute(pool)
        .await?,
    )
}

/// Not fenced: it records what was done at GitHub, which is true whoever holds the lease.
pub async fn record_action(
    pool: &PgPool,
    finding_id: &str,
    action: &str,
    repo: &str,
    number: Option<i64>,
    dry_run: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO sync_actions (finding_id, action, github_repo, issue_number, dry_run) VALUES ($1, $2, $3, $4, $5)",
        finding_id,
        action,
        repo,
        number,
        dry_run
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
impl Finding {
    /// A finding as the published sample event makes it, for tests of what is built from one.
    pub fn sample() -> Finding {
        Finding {
            id: "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==".into(),
            repository_name: "demo-go".into(),
            vcs_provider: "GITHUB".into(),
            vcs_url: "https://github.com/deepsourcelabs/demo-go".into(),
            default_branch: "master".into(),
            issue_shortcode: "CRT-A0016".into(),
            issue_title: "Simplify slice expression to sliced value itself".into(),
            issue_description: "If a value is of type slice already, it need not be converted.".into(),
            category: "ANTI_PATTERN".into(),
            analyzer_shortcode: "go".into(),
            analyzer_name: "Go".into(),
            open_occurrences: 2,
            locations: vec![Occurrence {
                path: Some("code.go".into()),
                begin_line: Some(160),
                end_line: Some(161),
                title: Some("could simplify allProducts[:] to allProducts".into()),
                ..Occurrence::default()
            }],
            ..Finding::default()
        }
    }
}
