//! Autofix events recorded: each pull request's newest state kept (by the event's `createdAt`,
//! then its id, so redeliveries and reordering change nothing), and a sync queued for each
//! finding whose open issue shows the pull request. The syncs go through the same queue, leases
//! and GitHub budget as issue events, and coalesce with them; a sync whose body comes out the
//! same costs no write (the driver compares hashes).
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{parse, FixPullRequest, FixStatus, ProposedFix};
use crate::domain::AUTOFIX_EVENT_TYPE;

/// Autofix events recorded per pass of the worker; the rest wait for the next.
const BATCH: usize = 100;
/// A finding's issue names at most this many pull requests, the newest.
const SHOWN: i64 = 3;

/// Records the Autofix events waiting, each in a transaction of its own (`SKIP LOCKED`, so
/// replicas share them), and ends each job `done`, with the reason when it changed nothing.
/// Returns how many were recorded.
pub async fn record_pending(pool: &PgPool) -> Result<usize, sqlx::Error> {
    for n in 0..BATCH {
        let mut tx = pool.begin().await?;
        let Some(job) = sqlx::query!(
            r#"SELECT j.id, e.id AS event_id, e.body, e.event_time, e.received_at
               FROM sync_jobs j JOIN webhook_events e ON e.id = j.event_id
               WHERE j.finding_id IS NULL AND j.status = 'pending' AND j.next_attempt_at <= now()
                 AND e.event_type = $1
               ORDER BY j.id
               LIMIT 1
               FOR UPDATE OF j SKIP LOCKED"#,
            AUTOFIX_EVENT_TYPE
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(n);
        };
        let outcome = match &job.body {
            None => Err("its body was deleted by retention".to_owned()),
            Some(body) => parse(body),
        };
        let (status, note) = match outcome {
            Err(reason) => ("done", Some(reason)),
            Ok(pr) => {
                let event = Received {
                    id: &job.event_id,
                    time: job.event_time,
                    received_at: job.received_at,
                };
                let mut one = sqlx::Acquire::begin(&mut *tx).await?;
                match record(&mut one, &pr, &event).await {
                    Ok(note) => {
                        one.commit().await?;
                        ("done", note)
                    }
                    Err(e) if crate::db::is_connection_lost(&e) => return Err(e),
                    Err(e) => {
                        one.rollback().await?;
                        ("dead", Some(format!("the database refused this event: {e}")))
                    }
                }
            }
        };
        if let Some(note) = &note {
            tracing::info!(delivery_id = %job.event_id, reason = %note, "an Autofix event changed no issue");
        }
        sqlx::query!(
            r#"UPDATE sync_jobs SET status = $2, attempts = attempts + 1, last_error = $3, updated_at = now()
               WHERE id = $1"#,
            job.id,
            status,
            note
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(BATCH)
}

struct Received<'a> {
    id: &'a str,
    time: DateTime<Utc>,
    received_at: DateTime<Utc>,
}

/// Keeps what the event says of its pull request if nothing newer has been said, and queues a
/// sync for the findings it concerned before and concerns now. `Some(reason)` when it changed
/// nothing.
#[tracing::instrument(skip_all, fields(delivery_id = %event.id, pull_request = pr.number))]
async fn record(
    conn: &mut PgConnection,
    pr: &FixPullRequest,
    event: &Received<'_>,
) -> Result<Option<String>, sqlx::Error> {
    let before = sqlx::query!(
        r#"SELECT url, title, status, shortcodes FROM autofix_pull_requests
           WHERE repository = $1 AND number = $2 FOR UPDATE"#,
        pr.repository(),
        pr.number
    )
    .fetch_optional(&mut *conn)
    .await?;
    let concerned_before = concerned(conn, pr).await?;
    // Newest by the event's time, then by its id: numeric strings, so the longer is the larger.
    let newer = sqlx::query_scalar!(
        r#"INSERT INTO autofix_pull_requests (repository, number, repository_id, repository_key, url, title,
                                              status, shortcodes, event_time, event_id, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (repository, number) DO UPDATE SET
               repository_id = EXCLUDED.repository_id, repository_key = EXCLUDED.repository_key,
               url = EXCLUDED.url, title = EXCLUDED.title, status = EXCLUDED.status,
               shortcodes = EXCLUDED.shortcodes, event_time = EXCLUDED.event_time,
               event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at
           WHERE (autofix_pull_requests.event_time, length(autofix_pull_requests.event_id), autofix_pull_requests.event_id)
                 < (EXCLUDED.event_time, length(EXCLUDED.event_id), EXCLUDED.event_id)
           RETURNING 1 AS "one!""#,
        pr.repository(),
        pr.number,
        pr.repository_id,
        pr.repository_key,
        pr.url,
        pr.title,
        pr.status.as_str(),
        &pr.shortcodes,
        event.time,
        event.id,
        event.received_at
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    if !newer {
        return Ok(Some(format!(
            "a newer event about pull request #{} was recorded already",
            pr.number
        )));
    }
    let unchanged = before.is_some_and(|b| {
        (b.url.as_str(), b.title.as_str(), b.status.as_str(), &b.shortcodes)
            == (
                pr.url.as_str(),
                pr.title.as_str(),
                pr.status.as_str(),
                &pr.shortcodes,
            )
    });
    if unchanged {
        return Ok(Some(format!("pull request #{} is as last reported", pr.number)));
    }
    let mut findings = concerned_before;
    findings.extend(concerned(conn, pr).await?);
    findings.sort();
    findings.dedup();
    // Only findings whose issue is open show fixes; the rest would change nothing.
    let shown = sqlx::query_scalar!(
        r#"SELECT f.id FROM findings f
           WHERE f.id = ANY($1) AND f.github_issue_number IS NOT NULL AND f.github_state = 'open'
             AND f.dismissed_reason IS NULL"#,
        &findings
    )
    .fetch_all(&mut *conn)
    .await?;
    let shown: Vec<(String, i16)> = shown.into_iter().map(|id| (id, 0)).collect();
    let queued = crate::findings::queue::queue_findings(conn, &shown).await?;
    tracing::info!(
        status = pr.status.as_str(),
        findings = findings.len(),
        queued,
        "Autofix pull request recorded"
    );
    Ok(match findings.is_empty() {
        true => Some(format!(
            "no finding tracked yet has these issues ({}); the pull request is kept for when one appears",
            pr.shortcodes.join(", ")
        )),
        false => None,
    })
}

/// The findings the pull request fixes, as stored now.
async fn concerned(conn: &mut PgConnection, pr: &FixPullRequest) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT finding_id AS "finding_id!" FROM finding_fixes WHERE repository = $1 AND number = $2"#,
        pr.repository(),
        pr.number
    )
    .fetch_all(conn)
    .await
}

/// The pull requests a finding's issue names: newest first, none from before the service last
/// closed the issue.
pub async fn shown_fixes(pool: &PgPool, finding_id: &str) -> Result<Vec<ProposedFix>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT x.number AS "number!", x.title AS "title!", x.status AS "status!"
           FROM finding_fixes x JOIN findings f ON f.id = x.finding_id
           WHERE x.finding_id = $1 AND (f.fixes_cleared_at IS NULL OR x.received_at > f.fixes_cleared_at)
           ORDER BY x.event_time DESC, x.number DESC
           LIMIT $2"#,
        finding_id,
        SHOWN
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(ProposedFix {
                status: FixStatus::parse(&r.status)?,
                number: r.number,
                title: r.title,
            })
        })
        .collect())
}
