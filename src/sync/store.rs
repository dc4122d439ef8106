//! The sync's tables: findings, their ledger and leases, and the job queue's claim and finish.
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::event::{FindingEvent, Occurrence};

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
    pub pending_comment: Option<String>,
    pub previous_issues: Vec<i64>,
}

/// The jobs of one finding, leased to this worker.
#[derive(Debug)]
pub struct Claim {
    pub finding_id: String,
    pub token: Uuid,
    pub jobs: Vec<ClaimedJob>,
}

#[derive(Debug)]
pub struct ClaimedJob {
    pub id: i64,
    pub event_id: String,
    pub attempts: i32,
    pub event_time: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// How a claimed job ends this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Done,
    Skipped(String),
    Dead(String),
    /// Try again at `at`; `counted` says whether this round used up an attempt.
    Retry {
        at: DateTime<Utc>,
        error: String,
        counted: bool,
    },
}

/// A finding with a backlog is worked through in claims of this many events, each followed by
/// one GitHub update, so one claim never holds an unbounded number of bodies in memory.
const MAX_JOBS_PER_CLAIM: i64 = 200;

/// Jobs whose event named no finding cannot be synced; they end now, with the reason.
pub async fn fail_jobs_without_finding(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"UPDATE sync_jobs
           SET status = 'dead', attempts = attempts + 1, updated_at = now(),
               last_error = 'the event has no data.object.id, so it names no RepositoryIssue'
           WHERE finding_id IS NULL AND status IN ('pending', 'running')"#
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Leases one finding that has due jobs, and claims them (up to `MAX_JOBS_PER_CLAIM`): several
/// events of one finding are applied together and GitHub is driven once. `None` when nothing is due.
pub async fn claim(pool: &PgPool, lease: std::time::Duration) -> Result<Option<Claim>, sqlx::Error> {
    let lease_secs = lease.as_secs_f64();
    let token = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let candidates = sqlx::query_scalar!(
        r#"SELECT j.finding_id AS "finding_id!"
           FROM sync_jobs j
           WHERE j.finding_id IS NOT NULL
             AND ((j.status = 'pending' AND j.next_attempt_at <= now())
                  OR (j.status = 'running' AND j.lease_expires_at < now()))
             AND NOT EXISTS (SELECT 1 FROM finding_leases l
                             WHERE l.finding_id = j.finding_id AND l.expires_at > now())
           ORDER BY j.next_attempt_at, j.id
           LIMIT 8
           FOR UPDATE OF j SKIP LOCKED"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for finding_id in candidates {
        // Two workers may both see a finding unleased; the unique key makes one of them wait
        // and then find the lease taken.
        let leased = sqlx::query_scalar!(
            r#"INSERT INTO finding_leases (finding_id, token, expires_at)
               VALUES ($1, $2, now() + make_interval(secs => $3))
               ON CONFLICT (finding_id) DO UPDATE
                   SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
                   WHERE finding_leases.expires_at <= now()
               RETURNING finding_id"#,
            finding_id,
            token,
            lease_secs
        )
        .fetch_optional(&mut *tx)
        .await?;
        if leased.is_none() {
            continue;
        }
        let jobs = sqlx::query_as!(
            ClaimedJob,
            r#"WITH due AS (
                   SELECT id FROM sync_jobs
                   WHERE finding_id = $1
                     AND ((status = 'pending' AND next_attempt_at <= now())
                          OR (status = 'running' AND lease_expires_at < now()))
                   ORDER BY id
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED
               ),
               claimed AS (
                   UPDATE sync_jobs j
                   SET status = 'running', attempts = attempts + 1, updated_at = now(),
                       lease_expires_at = now() + make_interval(secs => $2)
                   FROM due WHERE j.id = due.id
                   RETURNING j.id, j.event_id, j.attempts
               )
               SELECT c.id, c.event_id, c.attempts, e.event_time, e.body
               FROM claimed c JOIN webhook_events e ON e.id = c.event_id
               ORDER BY e.event_time, c.id"#,
            finding_id,
            lease_secs,
            MAX_JOBS_PER_CLAIM
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Some(Claim {
            finding_id,
            token,
            jobs,
        }));
    }
    tx.commit().await?;
    Ok(None)
}

/// Applies an event to its finding once, whatever the retries: its delta counts only when its
/// ledger row is new. Metadata and locations are taken from the newest event seen.
pub async fn apply(
    conn: &mut PgConnection,
    event_id: &str,
    event: &FindingEvent,
) -> Result<bool, sqlx::Error> {
    let o = &event.object;
    sqlx::query!(
        r#"INSERT INTO findings (id, repository_id, repository_name, vcs_provider, vcs_url, default_branch,
                                 issue_shortcode, issue_title, issue_description, category,
                                 analyzer_shortcode, analyzer_name, metadata_time)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET
               repository_id = EXCLUDED.repository_id, repository_name = EXCLUDED.repository_name,
               vcs_provider = EXCLUDED.vcs_provider, vcs_url = EXCLUDED.vcs_url,
               default_branch = EXCLUDED.default_branch, issue_shortcode = EXCLUDED.issue_shortcode,
               issue_title = EXCLUDED.issue_title, issue_description = EXCLUDED.issue_description,
               category = EXCLUDED.category, analyzer_shortcode = EXCLUDED.analyzer_shortcode,
               analyzer_name = EXCLUDED.analyzer_name, metadata_time = EXCLUDED.metadata_time,
               updated_at = now()
           WHERE findings.metadata_time <= EXCLUDED.metadata_time"#,
        o.id,
        o.repository.id,
        o.repository.name,
        o.repository.vcs_provider,
        o.repository.vcs_url,
        o.repository.default_branch,
        o.issue.shortcode,
        o.issue.title,
        o.issue.short_description.clone().unwrap_or_default(),
        o.issue.category,
        o.issue.analyzer.shortcode,
        o.issue.analyzer.name,
        event.event_time
    )
    .execute(&mut *conn)
    .await?;

    let first_time = sqlx::query_scalar!(
        r#"INSERT INTO finding_ledger (event_id, finding_id, delta) VALUES ($1, $2, $3)
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id"#,
        event_id,
        o.id,
        event.delta
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    if first_time {
        sqlx::query!(
            r#"UPDATE findings SET
                   open_occurrences = open_occurrences + $2,
                   locations = CASE WHEN $3 AND (locations_time IS NULL OR locations_time <= $4)
                                    THEN $5 ELSE locations END,
                   locations_time = CASE WHEN $3 AND (locations_time IS NULL OR locations_time <= $4)
                                         THEN $4 ELSE locations_time END,
                   updated_at = now()
               WHERE id = $1"#,
            o.id,
            event.delta,
            event.introduced,
            event.event_time,
            Json(&o.occurrences) as _
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(first_time)
}

pub async fn load_finding(pool: &PgPool, id: &str) -> Result<Option<Finding>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT id, repository_name, vcs_provider, vcs_url, default_branch, issue_shortcode, issue_title,
                  issue_description, category, analyzer_shortcode, analyzer_name, open_occurrences,
                  locations AS "locations: Json<Vec<Occurrence>>", github_repo, github_issue_number,
                  github_state, github_content_hash, create_started_at, pending_comment, previous_issues
           FROM findings WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Finding {
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
        pending_comment: r.pending_comment,
        previous_issues: r.previous_issues,
    }))
}

/// Records the intent to create before the call, or clears it once the outcome is known.
pub async fn set_create_started(pool: &PgPool, id: &str, started: bool) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE findings SET create_started_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1",
        id,
        started
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What GitHub now shows for this finding's issue, and any comment still owed for it.
pub struct Link<'a> {
    pub repo: &'a str,
    pub number: i64,
    pub state: &'a str,
    pub content_hash: Option<&'a str>,
    pub pending_comment: Option<&'a str>,
}

pub async fn save_link(pool: &PgPool, id: &str, link: Link<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE findings SET github_repo = $2, github_issue_number = $3, github_state = $4,
                  github_content_hash = $5, pending_comment = $6, create_started_at = NULL, updated_at = now()
           WHERE id = $1"#,
        id,
        link.repo,
        link.number,
        link.state,
        link.content_hash,
        link.pending_comment
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn clear_pending_comment(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE findings SET pending_comment = NULL, updated_at = now() WHERE id = $1",
        id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// REOPEN_POLICY=new: the closed issue becomes history and the finding has none linked.
pub async fn retire_issue(pool: &PgPool, id: &str, number: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE findings SET previous_issues = array_append(previous_issues, $2),
                  github_issue_number = NULL, github_state = NULL, github_content_hash = NULL,
                  pending_comment = NULL, updated_at = now()
           WHERE id = $1"#,
        id,
        number
    )
    .execute(pool)
    .await?;
    Ok(())
}

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

pub async fn finish_jobs(pool: &PgPool, job_ids: &[i64], end: &JobEnd) -> Result<(), sqlx::Error> {
    let (status, error, next, uncount) = match end {
        JobEnd::Done => ("done", None, None, false),
        JobEnd::Skipped(reason) => ("skipped", Some(reason.as_str()), None, false),
        JobEnd::Dead(reason) => ("dead", Some(reason.as_str()), None, false),
        JobEnd::Retry { at, error, counted } => ("pending", Some(error.as_str()), Some(*at), !counted),
    };
    sqlx::query!(
        r#"UPDATE sync_jobs SET status = $2, last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at),
                  attempts = attempts - CASE WHEN $5 THEN 1 ELSE 0 END,
                  lease_expires_at = NULL, updated_at = now()
           WHERE id = ANY($1)"#,
        job_ids,
        status,
        error,
        next,
        uncount
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn release_lease(pool: &PgPool, finding_id: &str, token: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM finding_leases WHERE finding_id = $1 AND token = $2",
        finding_id,
        token
    )
    .execute(pool)
    .await?;
    Ok(())
}
