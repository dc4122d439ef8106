//! A claim's events applied to their finding: each parsed and checked, then applied once (the
//! ledger sees to that). All of them go in one transaction; should the database refuse one, the
//! claim is applied again event by event, each in a savepoint, so only that one fails (`dead`
//! with the reason) and the finding's other events go on.
use sqlx::PgPool;

use super::error::SyncError;
use super::lease::Claim;
use crate::db::is_unavailable;
use crate::findings::event::FindingEvent;
use crate::findings::events::apply_event;
use crate::findings::fence;
use crate::findings::jobs::MAX_ATTEMPTS;

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
    fence::hold(&mut tx, &claim.lease).await?;
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
        Some(e) if is_unavailable(&e) => return Err(e.into()),
        Some(_) => tx.rollback().await?,
    }

    // One event was refused: again, each in a savepoint of its own.
    let mut tx = pool.begin().await?;
    fence::hold(&mut tx, &claim.lease).await?;
    for (job, event_id, event) in &events {
        let mut one = sqlx::Acquire::begin(&mut *tx).await?;
        match apply_event(&mut one, event_id, event, lookups).await {
            Ok(_) => {
                one.commit().await?;
                applied.applicable.push(*job);
            }
            Err(e) if is_unavailable(&e) => return Err(e.into()),
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
