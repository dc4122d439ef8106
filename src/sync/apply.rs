//! A claim's events applied to their finding: each parsed and checked, then applied once (the
//! ledger sees to that). All of them go in one transaction; should the database refuse one, the
//! claim is applied again event by event, each in a savepoint, so only that one fails (`dead`
//! with the reason) and the finding's other events go on.
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::driver::SyncError;
use super::event::{FindingEvent, Occurrence};
use super::known_locations;
use super::lease::{self, Claim};
use super::lookups as lookup;
use super::store::MAX_ATTEMPTS;
use crate::deepsource::RepositoryRef;

/// Which claimed jobs were applied, and which are dead, why.
#[derive(Debug, Default)]
pub struct Applied {
    pub applicable: Vec<i64>,
    pub dead: Vec<(i64, String)>,
}

/// `lookups`: DeepSource is asked for a finding's occurrences after a `resolved` event.
pub async fn apply_claim(pool: &PgPool, claim: &Claim, lookups: bool) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    let mut events = Vec::with_capacity(claim.jobs.len());
    for job in &claim.jobs {
        if job.attempts > MAX_ATTEMPTS {
            // Claimed again and again without finishing (its worker died each time).
            let last = job
                .last_error
                .as_deref()
                .unwrap_or("its worker stopped each time");
            let reason = format!("gave up after {MAX_ATTEMPTS} attempts; the last: {last}");
            applied.dead.push((job.id, reason));
            continue;
        }
        let (Some(event_id), Some(body), Some(event_time)) = (&job.event_id, &job.body, job.event_time)
        else {
            // A reconciliation: nothing to apply, the finding is driven as it stands.
            applied.applicable.push(job.id);
            continue;
        };
        match FindingEvent::parse(body, event_time) {
            Ok(parsed) if parsed.object.id == claim.lease.finding_id => {
                events.push((job.id, event_id.as_str(), parsed))
            }
            Ok(parsed) => {
                let reason = format!(
                    "data.object.id {} does not match the job's finding",
                    parsed.object.id
                );
                applied.dead.push((job.id, reason));
            }
            Err(reason) => {
                tracing::warn!(delivery_id = %event_id, reason, "an issue event cannot be synced");
                applied.dead.push((job.id, reason));
            }
        }
    }
    if events.is_empty() {
        return Ok(applied);
    }

    // The common case: every event in one transaction, no savepoints.
    let mut tx = pool.begin().await?;
    // Held until the commit: nobody takes the finding over while its events are applied.
    lease::hold(&mut tx, &claim.lease).await?;
    let mut refused = None;
    for (_, event_id, event) in &events {
        if let Err(e) = apply_event(&mut tx, event_id, event, lookups).await {
            refused = Some(e);
            break;
        }
    }
    match refused {
        None => {
            tx.commit().await?;
            applied.applicable.extend(events.iter().map(|(id, ..)| *id));
            return Ok(applied);
        }
        Some(e) if super::is_connection_error(&e) => return Err(e.into()),
        Some(_) => tx.rollback().await?,
    }

    // One event was refused: again, each in a savepoint of its own.
    let mut tx = pool.begin().await?;
    lease::hold(&mut tx, &claim.lease).await?;
    for (job, event_id, event) in &events {
        let mut one = sqlx::Acquire::begin(&mut *tx).await?;
        match apply_event(&mut one, event_id, event, lookups).await {
            Ok(_) => {
                one.commit().await?;
                applied.applicable.push(*job);
            }
            Err(e) if super::is_connection_error(&e) => return Err(e.into()),
            Err(e) => {
                one.rollback().await?;
                tracing::warn!(delivery_id = %event_id, error = %e, "the database refused an issue event");
                applied
                    .dead
                    .push((*job, format!("the database refused this event: {e}")));
            }
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Applies an event to its finding once, whatever the retries: its delta counts only when its
/// ledger row is new. Metadata is taken from the newest event seen (a field the newest event
/// left out keeps the value an earlier event gave it); an `introduced` event's occurrences are
/// added to those known (`known_locations.rs`), whatever the order events arrive in.
async fn apply_event(
    conn: &mut PgConnection,
    event_id: &str,
    event: &FindingEvent,
    lookups: bool,
) -> Result<bool, sqlx::Error> {
    let o = &event.object;
    sqlx::query!(
        r#"INSERT INTO findings (id, repository_id, repository_name, vcs_provider, vcs_url, default_branch,
                                 issue_shortcode, issue_title, issue_description, category,
                                 analyzer_shortcode, analyzer_name, metadata_time, repository_key,
                                 autofix_available)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (id) DO UPDATE SET
               repository_key = COALESCE(EXCLUDED.repository_key, findings.repository_key),
               repository_id = COALESCE(NULLIF(EXCLUDED.repository_id, ''), findings.repository_id),
               repository_name = COALESCE(NULLIF(EXCLUDED.repository_name, ''), findings.repository_name),
               vcs_provider = COALESCE(NULLIF(EXCLUDED.vcs_provider, ''), findings.vcs_provider),
               vcs_url = COALESCE(NULLIF(EXCLUDED.vcs_url, ''), findings.vcs_url),
               default_branch = COALESCE(NULLIF(EXCLUDED.default_branch, ''), findings.default_branch),
               issue_shortcode = COALESCE(NULLIF(EXCLUDED.issue_shortcode, ''), findings.issue_shortcode),
               issue_title = COALESCE(NULLIF(EXCLUDED.issue_title, ''), findings.issue_title),
               issue_description = COALESCE(NULLIF(EXCLUDED.issue_description, ''), findings.issue_description),
               category = COALESCE(NULLIF(EXCLUDED.category, ''), findings.category),
               analyzer_shortcode = COALESCE(NULLIF(EXCLUDED.analyzer_shortcode, ''), findings.analyzer_shortcode),
               analyzer_name = COALESCE(NULLIF(EXCLUDED.analyzer_name, ''), findings.analyzer_name),
               autofix_available = COALESCE(EXCLUDED.autofix_available, findings.autofix_available),
               metadata_time = EXCLUDED.metadata_time,
               updated_at = now()
           WHERE findings.metadata_time <= EXCLUDED.metadata_time"#,
        o.id,
        o.repository_id,
        o.repository_name,
        o.vcs_provider,
        o.vcs_url,
        o.default_branch,
        o.issue_shortcode,
        o.issue_title,
        o.issue_description,
        o.category,
        o.analyzer_shortcode,
        o.analyzer_name,
        event.event_time,
        RepositoryRef::from_vcs(&o.vcs_provider, &o.vcs_url).map(|r| r.key()),
        o.autofix_available
    )
    .execute(&mut *conn)
    .await?;

    // An event received before the snapshot that set the count began is in that count already:
    // absorbed, it counts zero (see V6).
    let absorbed = sqlx::query_scalar!(
        r#"INSERT INTO finding_ledger (event_id, finding_id, delta, absorbed)
           SELECT $1, $2, $3, COALESCE(e.received_at < f.snapshot_began_at, false)
           FROM findings f LEFT JOIN webhook_events e ON e.id = $1 WHERE f.id = $2
           ON CONFLICT (event_id) DO NOTHING
           RETURNING absorbed"#,
        event_id,
        o.id,
        event.delta
    )
    .fetch_optional(&mut *conn)
    .await?;
    if absorbed != Some(false) {
        return Ok(absorbed.is_some());
    }
    // The row is locked since the upsert above: nothing changes the locations in between.
    let locations = match event.introduced && !o.occurrences.is_empty() {
        true => {
            let known = sqlx::query!(
                r#"SELECT locations AS "locations: Json<Vec<Occurrence>>",
                          locations_time IS NULL OR locations_time <= $2 AS "newer!"
                   FROM findings WHERE id = $1 FOR UPDATE"#,
                o.id,
                event.event_time
            )
            .fetch_one(&mut *conn)
            .await?;
            let added = known_locations::add(&known.locations.0, &o.occurrences, known.newer);
            Some(Json(added))
        }
        false => None,
    };
    let open_now = sqlx::query_scalar!(
        r#"UPDATE findings SET
               open_occurrences = open_occurrences + $2,
               locations = COALESCE($3, locations),
               locations_time = CASE WHEN $3::jsonb IS NULL THEN locations_time
                                     ELSE GREATEST(locations_time, $4) END,
               unsynced_under = '',
               updated_at = now()
           WHERE id = $1
           RETURNING open_occurrences"#,
        o.id,
        event.delta,
        locations as _,
        event.event_time
    )
    .fetch_one(&mut *conn)
    .await?;
    // A `resolved` event cannot say which lines were fixed: DeepSource is asked soon after.
    if lookups && !event.introduced && open_now > 0 {
        lookup::request(&mut *conn, &o.id).await?;
    }
    Ok(true)
}
