//! One issue event applied to its finding, exactly once: its count through the ledger, its
//! metadata when it is the newest, its occurrences added to those known, and a lookup asked for
//! after a `resolved` one.
use sqlx::types::Json;
use sqlx::PgConnection;

use super::event::{FindingEvent, Occurrence};
use super::known_locations;
use super::lookups as lookup;
use crate::deepsource::RepositoryRef;

/// Applies an event to its finding once, whatever the retries: its delta counts only when its
/// ledger row is new. Metadata is taken from the newest event seen (a field the newest event
/// left out keeps the value an earlier event gave it); an `introduced` event's occurrences are
/// added to those known (`known_locations.rs`), whatever the order events arrive in.
pub async fn apply_event(
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
