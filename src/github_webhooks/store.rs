//! Storing a GitHub delivery and applying it, in one transaction: answered 2xx only once both
//! are durable, and a redelivery (same id, same bytes) changes nothing.
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use super::event::{DeliveryHeaders, GitHubEvent};
use crate::db::is_connection_lost;
use crate::findings::decisions::{record as record_seen, Decision, Seen, SeenState};
use crate::overview::people;

/// The pool checks a connection before handing it out, but one can still die before or under
/// the transaction. GitHub does not redeliver a failed delivery by itself, so it is stored once
/// more on another connection: harmless, since storing is one transaction, idempotent by
/// delivery id. One that committed before its answer was lost is found stored (`duplicate`);
/// one that did not left nothing behind.
const ATTEMPTS: usize = 2;

/// What storing one delivery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// First time this id was seen: stored, and what it changed (or why nothing).
    New {
        outcome: String,
        finding: Option<String>,
    },
    Duplicate,
    /// The same id with other bytes: kept aside in `github_event_conflicts`.
    Conflict,
}

impl Stored {
    pub fn status(&self) -> &'static str {
        match self {
            Stored::New { .. } => "stored",
            Stored::Duplicate => "duplicate",
            Stored::Conflict => "conflict",
        }
    }
}

#[tracing::instrument(skip_all, fields(delivery_id = %headers.id, event_type = %headers.event_type))]
pub async fn store_delivery(
    pool: &PgPool,
    headers: &DeliveryHeaders,
    event: &GitHubEvent,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Stored, sqlx::Error> {
    let mut attempt = 1;
    loop {
        let mut conn = pool.acquire().await?;
        match store_on(&mut conn, headers, event, body, received_at).await {
            Err(error) if is_connection_lost(&error) && attempt < ATTEMPTS => {
                conn.close_on_drop();
                tracing::info!(%error, "the connection was lost; storing the GitHub delivery again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn store_on(
    conn: &mut PgConnection,
    headers: &DeliveryHeaders,
    event: &GitHubEvent,
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<Stored, sqlx::Error> {
    let sha = Sha256::digest(body).to_vec();
    let mut tx = sqlx::Connection::begin(conn).await?;
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO github_events (id, event_type, action, received_at, body, body_sha256, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, 'stored')
           ON CONFLICT (id) DO NOTHING
           RETURNING id"#,
        headers.id,
        headers.event_type,
        event.action,
        received_at,
        body,
        sha
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        let same = sqlx::query_scalar!(
            r#"SELECT body_sha256 = $2 AS "same!" FROM github_events WHERE id = $1"#,
            headers.id,
            sha
        )
        .fetch_one(&mut *tx)
        .await?;
        if same {
            return Ok(Stored::Duplicate);
        }
        sqlx::query!(
            r#"INSERT INTO github_event_conflicts (event_id, received_at, body, body_sha256)
               VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, body_sha256) DO NOTHING"#,
            headers.id,
            received_at,
            body,
            sha
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(Stored::Conflict);
    }

    let (finding, outcome) = match &event.issue {
        None => (None, event.ignored.clone().unwrap_or_default()),
        Some((repo, number, seen)) => {
            let action = event.action.as_deref().unwrap_or_default();
            if let Some(outcome) = overview_heard(&mut tx, repo, *number, action, seen, event).await? {
                (None, outcome)
            } else if action == "edited" {
                (None, "nothing to do for edited".to_owned())
            } else {
                let finding = sqlx::query_scalar!(
                    r#"SELECT id FROM findings
                   WHERE lower(github_repo) = lower($1) AND github_issue_number = $2
                   ORDER BY id LIMIT 1"#,
                    repo,
                    number
                )
                .fetch_optional(&mut *tx)
                .await?;
                match finding {
                    None => (None, "not an issue of this service's".to_owned()),
                    Some(id) => {
                        let decision = record_seen(&mut tx, &id, seen).await?;
                        (Some(id), describe(decision).to_owned())
                    }
                }
            }
        }
    };
    sqlx::query!(
        "UPDATE github_events SET finding_id = $2, outcome = $3 WHERE id = $1",
        headers.id,
        finding,
        outcome
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored::New { outcome, finding })
}

/// An `issues` event about a repository's overview, applied (`overview/people.rs`).
async fn overview_heard(
    conn: &mut PgConnection,
    repo: &str,
    number: i64,
    action: &str,
    seen: &Seen,
    event: &GitHubEvent,
) -> Result<Option<String>, sqlx::Error> {
    let reason = match &seen.state {
        SeenState::Closed { reason } => reason.as_deref(),
        _ => None,
    };
    people::heard(
        conn,
        repo,
        number,
        action,
        reason,
        seen.by.as_deref(),
        event.body.as_deref(),
    )
    .await
}

fn describe(decision: Option<Decision>) -> &'static str {
    match decision {
        None => "not an issue of this service's",
        Some(Decision::Stale) => "older than what is known of the issue; nothing changed",
        Some(Decision::Dismissed) => "dismissed: the service no longer writes to this issue",
        Some(Decision::ClosedByPerson) => "closed by a person: reopened only on a regression",
        Some(Decision::Reopened) => "reopened by a person: synced again",
        Some(Decision::Moved) => "transferred: followed to its new repository",
        Some(Decision::Unchanged) => "nothing changed",
    }
}
