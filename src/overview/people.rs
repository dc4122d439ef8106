//! What people do to an overview, learnt from GitHub's `issues` webhook or by reading it: a
//! ticked box asks for that finding's own issue; a close (any reason) or a delete turns the
//! overview off for good until a person reopens it. Each is one statement in the caller's
//! transaction, on columns no writer's save touches.
use sqlx::PgConnection;

use crate::issue::overview::ticked;

/// The overview a GitHub issue is, if it is one.
pub async fn overview_of(
    conn: &mut PgConnection,
    repo: &str,
    number: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT repository_key FROM overviews
           WHERE lower(github_repo) = lower($1) AND github_issue_number = $2"#,
        repo,
        number
    )
    .fetch_optional(conn)
    .await
}

/// The boxes ticked in `body`: each finding of the repository that has no issue and was not
/// asked for yet is asked for now and queued. Returns how many were.
pub async fn ticks(conn: &mut PgConnection, key: &str, body: &str) -> Result<u64, sqlx::Error> {
    let ids = ticked(body);
    if ids.is_empty() {
        return Ok(0);
    }
    let asked = sqlx::query_scalar!(
        r#"UPDATE findings SET issue_requested_at = now(), updated_at = now()
           WHERE repository_key = $1 AND id = ANY($2)
             AND github_issue_number IS NULL AND issue_requested_at IS NULL
           RETURNING id"#,
        key,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let due: Vec<(String, i16)> = asked.into_iter().map(|id| (id, 0)).collect();
    crate::findings::queue::queue_findings(conn, &due).await?;
    Ok(due.len() as u64)
}

/// A person closed the overview (`how`: GitHub's state reason) or deleted it (`deleted`): off,
/// unless the service closed it itself (nothing was open). Says whether it turned off.
pub async fn closed(
    conn: &mut PgConnection,
    key: &str,
    how: &str,
    by: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let off = sqlx::query!(
        r#"UPDATE overviews SET off_reason = $2, off_by = $3, off_at = now(), github_state = 'closed',
                                due_at = NULL, updated_at = now()
           WHERE repository_key = $1 AND off_at IS NULL AND (NOT closed_by_service OR $2 = 'deleted')"#,
        key,
        how,
        by
    )
    .execute(conn)
    .await?;
    Ok(off.rows_affected() > 0)
}

/// A person reopened the overview: kept in step again from now, at once.
pub async fn reopened(conn: &mut PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"UPDATE overviews SET off_reason = NULL, off_by = NULL, off_at = NULL, closed_by_service = false,
                                github_state = 'open', changed_at = now(), due_at = now(),
                                updated_at = now()
           WHERE repository_key = $1"#,
        key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What an `issues` webhook about an overview did, for the delivery's outcome; `None` when the
/// issue is no overview.
pub async fn heard(
    conn: &mut PgConnection,
    repo: &str,
    number: i64,
    action: &str,
    state_reason: Option<&str>,
    by: Option<&str>,
    body: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let Some(key) = overview_of(conn, repo, number).await? else {
        return Ok(None);
    };
    let outcome = match action {
        "edited" => match ticks(conn, &key, body.unwrap_or_default()).await? {
            0 => "overview edited: no new ticks".to_owned(),
            n => format!("overview: {n} ticked finding(s) get an issue of their own"),
        },
        "closed" => match closed(conn, &key, state_reason.unwrap_or("completed"), by).await? {
            true => "overview closed by a person: it is off until reopened".to_owned(),
            false => "overview closed by the service: nothing is open".to_owned(),
        },
        "deleted" | "transferred" => {
            closed(conn, &key, action, by).await?;
            format!("overview {action}: it is off")
        }
        "reopened" => {
            reopened(conn, &key).await?;
            "overview reopened: kept in step again".to_owned()
        }
        other => format!("overview: nothing to do for {other}"),
    };
    Ok(Some(outcome))
}
