//! A complete DeepSource snapshot applied to its repository's findings: each listed finding
//! takes DeepSource's count and locations (a finding never seen is created: the backfill), a
//! tracked finding the listing no longer shows goes to zero, and every finding that changed is
//! queued for the worker. Events and snapshots may interleave in any order: an event received
//! before the snapshot began is in its count, so it is absorbed when applied (see `events.rs`);
//! a finding with an event received after it began keeps its event arithmetic this round, and
//! the caller is told to take another snapshot.
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::configuration::severity_rank;
use crate::deepsource::{OpenFinding, RepositoryRef, Snapshot};
use crate::findings::event::Occurrence;

/// What applying one snapshot did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotApplied {
    pub listed: usize,
    /// Findings never seen before.
    pub created: usize,
    /// Findings whose count, locations, title or severity changed (created ones included).
    pub changed: usize,
    /// Tracked findings the listing no longer shows, now at zero.
    pub gone: usize,
    /// Findings with an event received after the snapshot began: left to their events this
    /// round. Another snapshot of the repository is due when this is not zero.
    pub deferred: usize,
}

/// The database's clock, read just before a snapshot's first request: when it began.
pub async fn snapshot_begins(pool: &PgPool) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(pool)
        .await
}

/// Priorities of the jobs a snapshot queues (lower first; events' jobs are 0): closes, then
/// CRITICAL, MAJOR, MINOR and unknown severity, SECURITY then BUG_RISK first within each.
const CLOSE_PRIORITY: i16 = 1;

fn priority(finding: &OpenFinding) -> i16 {
    let severity = severity_rank(finding.severity.as_deref()) as i16;
    let category = match finding.category.as_str() {
        "SECURITY" => 0,
        "BUG_RISK" => 1,
        _ => 2,
    };
    10 + severity * 3 + category
}

fn locations(finding: &OpenFinding) -> Vec<Occurrence> {
    finding
        .occurrences
        .iter()
        .map(|l| Occurrence {
            id: Some(l.id.clone()).filter(|id| !id.is_empty()),
            path: Some(l.path.clone()).filter(|p| !p.is_empty()),
            begin_line: l.begin_line,
            end_line: l.end_line,
            title: Some(l.title.clone()).filter(|t| !t.is_empty()),
        })
        .collect()
}

/// Applies `snapshot`, whose first request went out at `began_at`, in one transaction.
#[tracing::instrument(skip_all, fields(repository = %snapshot.repository, findings = snapshot.findings.len()))]
pub async fn apply_snapshot(
    pool: &PgPool,
    snapshot: &Snapshot,
    began_at: DateTime<Utc>,
) -> Result<SnapshotApplied, sqlx::Error> {
    let repository = &snapshot.repository;
    let key = repository.key();
    let mut applied = SnapshotApplied {
        listed: snapshot.findings.len(),
        ..SnapshotApplied::default()
    };
    let mut due = Vec::new();
    let mut tx = pool.begin().await?;
    for finding in &snapshot.findings {
        let row = upsert_listed(&mut tx, repository, finding, began_at).await?;
        applied.created += usize::from(row.created);
        applied.deferred += usize::from(row.late);
        if row.changed {
            applied.changed += 1;
            due.push((finding.id.clone(), priority(finding)));
        }
    }

    let listed: Vec<String> = snapshot.findings.iter().map(|f| f.id.clone()).collect();
    let gone = sqlx::query!(
        r#"WITH tracked AS (
               SELECT f.id, EXISTS (SELECT 1 FROM sync_jobs j JOIN webhook_events e ON e.id = j.event_id
                                    WHERE j.finding_id = f.id AND e.received_at >= $2) AS late
               FROM findings f
               WHERE f.repository_key = $1 AND f.id <> ALL($3)
                 AND (f.open_occurrences <> 0 OR f.locations <> '[]'::jsonb)
           ),
           zeroed AS (
               UPDATE findings f SET open_occurrences = 0, locations = '[]', locations_time = $2,
                                     snapshot_began_at = $2, unsynced_under = '', updated_at = now()
               FROM tracked t WHERE f.id = t.id AND NOT t.late
               RETURNING f.id
           )
           SELECT (SELECT array_agg(id) FROM zeroed) AS zeroed,
                  (SELECT count(*) FROM tracked WHERE late) AS "late!""#,
        key,
        began_at,
        &listed
    )
    .fetch_one(&mut *tx)
    .await?;
    let zeroed = gone.zeroed.unwrap_or_default();
    applied.gone = zeroed.len();
    applied.deferred += gone.late as usize;
    due.extend(zeroed.into_iter().map(|id| (id, CLOSE_PRIORITY)));

    // The worker brings GitHub in line with each changed finding, as for an event; a sync already
    // running read it before this change, so one is queued behind it (`queue.rs`).
    crate::findings::queue::queue_findings(&mut tx, &due).await?;
    tx.commit().await?;
    tracing::info!(
        created = applied.created,
        changed = applied.changed,
        gone = applied.gone,
        deferred = applied.deferred,
        "applied a DeepSource snapshot"
    );
    Ok(applied)
}

/// What one listed finding did to the stored one.
struct Listed {
    created: bool,
    /// An event received after the listing began: the finding keeps its event arithmetic.
    late: bool,
    changed: bool,
}

/// One finding as DeepSource listed it, in a listing that began at `began_at`: its count and
/// locations replace the stored ones unless an event received since then says more (`late`).
async fn upsert_listed(
    conn: &mut PgConnection,
    repository: &RepositoryRef,
    finding: &OpenFinding,
    began_at: DateTime<Utc>,
) -> Result<Listed, sqlx::Error> {
    let key = repository.key();
    // Where a backfilled finding's issue goes, as an event's vcsUrl would say.
    let vcs_url = match repository.provider.as_str() {
        "GITHUB" => format!("https://github.com/{}/{}", repository.login, repository.name),
        _ => String::new(),
    };
    let row = sqlx::query!(
        r#"WITH late AS (
               SELECT EXISTS (SELECT 1 FROM sync_jobs j JOIN webhook_events e ON e.id = j.event_id
                              WHERE j.finding_id = $1 AND e.received_at >= $2) AS late
           ),
           before AS (
               SELECT open_occurrences, locations, issue_title, severity, autofix_available
               FROM findings WHERE id = $1
           )
           INSERT INTO findings AS f (id, repository_id, repository_name, vcs_provider, vcs_url,
                                      default_branch, issue_shortcode, issue_title, issue_description,
                                      category, analyzer_shortcode, analyzer_name, metadata_time,
                                      open_occurrences, locations, locations_time, repository_key,
                                      severity, snapshot_began_at, unsynced_under, autofix_available)
           VALUES ($1, '', $3, $4, $5, '', $6, $7, $8, $9, $10, $11, $2, $12, $13, $2, $14, $15, $2, '', $16)
           ON CONFLICT (id) DO UPDATE SET
               repository_key = EXCLUDED.repository_key,
               severity = EXCLUDED.severity,
               autofix_available = CASE WHEN f.metadata_time <= $2
                                        THEN COALESCE(EXCLUDED.autofix_available, f.autofix_available)
                                        ELSE COALESCE(f.autofix_available, EXCLUDED.autofix_available) END,
               -- What DeepSource says now is newer than any event received before it began.
               issue_title = CASE WHEN f.metadata_time <= $2 AND EXCLUDED.issue_title <> ''
                                  THEN EXCLUDED.issue_title ELSE f.issue_title END,
               issue_shortcode = COALESCE(NULLIF(f.issue_shortcode, ''), EXCLUDED.issue_shortcode),
               issue_description = COALESCE(NULLIF(f.issue_description, ''), EXCLUDED.issue_description),
               category = COALESCE(NULLIF(f.category, ''), EXCLUDED.category),
               analyzer_shortcode = COALESCE(NULLIF(f.analyzer_shortcode, ''), EXCLUDED.analyzer_shortcode),
               analyzer_name = COALESCE(NULLIF(f.analyzer_name, ''), EXCLUDED.analyzer_name),
               open_occurrences = CASE WHEN (SELECT late FROM late) THEN f.open_occurrences
                                       ELSE EXCLUDED.open_occurrences END,
               locations = CASE WHEN (SELECT late FROM late) THEN f.locations ELSE EXCLUDED.locations END,
               locations_time = CASE WHEN (SELECT late FROM late) THEN f.locations_time ELSE $2 END,
               snapshot_began_at = CASE WHEN (SELECT late FROM late) THEN f.snapshot_began_at ELSE $2 END,
               unsynced_under = '',
               updated_at = now()
           RETURNING NOT EXISTS (SELECT 1 FROM before) AS "created!",
                     (SELECT late FROM late) AS "late!",
                     (SELECT open_occurrences FROM before) IS DISTINCT FROM f.open_occurrences
                         OR (SELECT locations FROM before) IS DISTINCT FROM f.locations
                         OR (SELECT issue_title FROM before) IS DISTINCT FROM f.issue_title
                         OR (SELECT severity FROM before) IS DISTINCT FROM f.severity
                         OR (SELECT autofix_available FROM before) IS DISTINCT FROM f.autofix_available
                         AS "changed!""#,
        finding.id,
        began_at,
        repository.name,
        repository.provider,
        vcs_url,
        finding.shortcode,
        finding.title,
        finding.short_description,
        finding.category,
        finding.analyzer_shortcode,
        finding.analyzer_name,
        finding.occurrences.len() as i64,
        Json(locations(finding)) as _,
        key,
        finding.severity,
        finding.autofix_available
    )
    .fetch_one(conn)
    .await?;
    Ok(Listed {
        created: row.created,
        late: row.late,
        changed: row.changed,
    })
}

/// One finding's occurrences looked up on their own (`reconcile/lookup.rs`), applied by the same
/// rules as a whole snapshot's. Its caller queues the finding whatever changed: its sync waited
/// for this.
pub async fn apply_looked_up(
    conn: &mut PgConnection,
    repository: &RepositoryRef,
    finding: &OpenFinding,
    began_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    upsert_listed(conn, repository, finding, began_at).await?;
    Ok(())
}
