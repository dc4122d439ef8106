//! When each repository is next compared with DeepSource, kept in Postgres so replicas share it:
//! events push a repository's comparison to `RECONCILE_DELAY` after them (so a burst of events
//! makes one comparison), the timer brings every known repository's to now, and one replica at a
//! time holds a repository while it compares it.
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::deepsource::RepositoryRef;

/// Events read per statement while looking for ones that schedule a comparison.
const EVENT_BATCH: i64 = 500;
/// Events younger than this are left for the next look: a delivery received earlier may still
/// be committing (intake's deadlines are seconds), and the cursor must not pass it.
const COMMIT_MARGIN_SECS: f64 = 30.0;

/// Repositories to compare from the start, or whenever a finding of theirs is known.
pub async fn track(pool: &PgPool, repositories: &[RepositoryRef]) -> Result<(), sqlx::Error> {
    for r in repositories {
        sqlx::query!(
            r#"INSERT INTO repository_reconciles (repository_key, provider, login, name, due_at)
               VALUES ($1, $2, $3, $4, now())
               ON CONFLICT (repository_key) DO NOTHING"#,
            r.key(),
            r.provider,
            r.login,
            r.name
        )
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Every repository a finding has been filed under, by an event or a snapshot.
pub async fn known_repositories(pool: &PgPool) -> Result<Vec<RepositoryRef>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (repository_key) vcs_provider, vcs_url
           FROM findings WHERE repository_key IS NOT NULL ORDER BY repository_key, updated_at DESC"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| RepositoryRef::from_vcs(&r.vcs_provider, &r.vcs_url))
        .collect())
}

/// The timer: every repository a finding is filed under, and every tracked one, is due now.
pub async fn all_due_now(pool: &PgPool) -> Result<u64, sqlx::Error> {
    track(pool, &known_repositories(pool).await?).await?;
    let due = sqlx::query!("UPDATE repository_reconciles SET due_at = LEAST(COALESCE(due_at, now()), now())")
        .execute(pool)
        .await?;
    Ok(due.rows_affected())
}

/// Reads events since the last look and schedules a comparison `delay` after each one that may
/// change what is open: issue events, analysis runs on the default branch (a full run sends no
/// issue events), and a repository's activation. Returns how many it scheduled.
#[tracing::instrument(skip_all)]
pub async fn schedule_from_events(pool: &PgPool, delay: Duration) -> Result<u64, sqlx::Error> {
    let mut scheduled = 0;
    loop {
        let rows = sqlx::query!(
            r#"WITH cursor AS (
                   SELECT COALESCE((SELECT received_at FROM reconcile_cursor), '-infinity') AS at,
                          COALESCE((SELECT event_id FROM reconcile_cursor), '') AS id
               )
               SELECT e.id, e.received_at, e.event_type,
                      convert_from(e.body, 'UTF8')::jsonb -> 'data' -> 'object' AS "object: serde_json::Value"
               FROM webhook_events e, cursor c
               WHERE (e.received_at, e.id) > (c.at, c.id)
                 AND e.received_at < now() - make_interval(secs => $2)
               ORDER BY e.received_at, e.id
               LIMIT $1"#,
            EVENT_BATCH,
            COMMIT_MARGIN_SECS
        )
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(scheduled);
        };
        let mut tx = pool.begin().await?;
        for row in &rows {
            let Some(repository) = row
                .object
                .as_ref()
                .and_then(|o| changes_what_is_open(&row.event_type, o))
            else {
                continue;
            };
            sqlx::query!(
                r#"INSERT INTO repository_reconciles AS r (repository_key, provider, login, name, due_at)
                   VALUES ($1, $2, $3, $4, $5::timestamptz + make_interval(secs => $6::float8))
                   ON CONFLICT (repository_key) DO UPDATE SET
                       due_at = GREATEST(r.due_at, EXCLUDED.due_at)"#,
                repository.key(),
                repository.provider,
                repository.login,
                repository.name,
                row.received_at,
                delay.as_secs_f64()
            )
            .execute(&mut *tx)
            .await?;
            scheduled += 1;
        }
        sqlx::query!(
            r#"INSERT INTO reconcile_cursor (received_at, event_id) VALUES ($1, $2)
               ON CONFLICT (only_row) DO UPDATE SET received_at = EXCLUDED.received_at, event_id = EXCLUDED.event_id"#,
            last.received_at,
            last.id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
}

/// The repository an event is about, when the event may change what DeepSource lists as open.
fn changes_what_is_open(event_type: &str, object: &serde_json::Value) -> Option<RepositoryRef> {
    let repository = match event_type {
        t if t.starts_with("repository_issue.") => &object["repository"],
        t if t.starts_with("analysis_run.") => {
            let repository = &object["repository"];
            let on_default = object["branchName"].as_str().is_some()
                && object["branchName"] == repository["defaultBranch"];
            if !on_default {
                return None;
            }
            repository
        }
        "repository.analysis.activated" if object["object"] == "Repository" => object,
        "repository.analysis.activated" => &object["repository"],
        _ => return None,
    };
    RepositoryRef::from_vcs(
        repository["vcsProvider"].as_str()?,
        repository["vcsUrl"].as_str()?,
    )
}

/// One due repository, held for `lease` by this replica.
pub async fn claim(
    pool: &PgPool,
    lease: Duration,
) -> Result<Option<(RepositoryRef, Uuid, i32)>, sqlx::Error> {
    let token = Uuid::new_v4();
    let row = sqlx::query!(
        r#"UPDATE repository_reconciles SET lease_token = $1, lease_expires_at = now() + make_interval(secs => $2)
           WHERE repository_key = (
               SELECT repository_key FROM repository_reconciles
               WHERE due_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING provider, login, name, attempts"#,
        token,
        lease.as_secs_f64()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let repository = RepositoryRef {
            provider: r.provider,
            login: r.login,
            name: r.name,
        };
        (repository, token, r.attempts)
    }))
}

/// Ends a comparison: `next` is when to compare again (none when `None`), `error` why this one
/// did not complete.
pub async fn finish(
    pool: &PgPool,
    repository: &RepositoryRef,
    token: Uuid,
    next: Option<Duration>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE repository_reconciles SET
               lease_token = NULL, lease_expires_at = NULL, last_finished_at = now(),
               -- An event that arrived meanwhile may have scheduled a later one: keep it.
               due_at = CASE WHEN $3::float8 IS NULL AND due_at <= now() THEN NULL
                             WHEN $3::float8 IS NULL THEN due_at
                             ELSE GREATEST(CASE WHEN due_at > now() THEN due_at END,
                                           now() + make_interval(secs => $3::float8)) END,
               attempts = CASE WHEN $4::text IS NULL THEN 0 ELSE attempts + 1 END,
               last_error = $4
           WHERE repository_key = $1 AND lease_token = $2"#,
        repository.key(),
        token,
        next.map(|d| d.as_secs_f64()),
        error
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How long until the reconciler has something to do (zero: now; `None`: nothing waits) — the
/// oldest unread event's margin, a repository's comparison, a finding's lookup, each once no
/// replica holds it — asked in one statement, so an idle reconciler costs one per interval.
pub async fn next_due_in(pool: &PgPool) -> Result<Option<Duration>, sqlx::Error> {
    let secs = sqlx::query_scalar!(
        r#"WITH cursor AS (
               SELECT COALESCE((SELECT received_at FROM reconcile_cursor), '-infinity') AS at,
                      COALESCE((SELECT event_id FROM reconcile_cursor), '') AS id
           )
           SELECT EXTRACT(EPOCH FROM LEAST(
                      (SELECT e.received_at + make_interval(secs => $1)
                       FROM webhook_events e, cursor c
                       WHERE (e.received_at, e.id) > (c.at, c.id)
                       ORDER BY e.received_at, e.id LIMIT 1),
                      (SELECT min(GREATEST(due_at, lease_expires_at)) FROM repository_reconciles
                       WHERE due_at IS NOT NULL),
                      (SELECT min(GREATEST(due_at, lease_expires_at)) FROM finding_lookups)
                  ) - now())::float8 AS secs"#,
        COMMIT_MARGIN_SECS
    )
    .fetch_one(pool)
    .await?;
    Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
}
