//! How every producer of work asks the worker to look at findings again — a comparison with
//! DeepSource, a person's decision learnt from GitHub, the start-up sweep, an Autofix pull
//! request, an occurrence lookup: one rule, here, so no producer can lose a change.
//!
//! A *pending* job reads its finding when it is claimed, so a second one would add nothing. A
//! *running* job has read and rendered its finding already: a change committed now would be lost
//! with it, so a running job does not count, and a pending one is queued behind it. The finding's
//! lease keeps that one waiting until the running sync has ended (on any replica, or on the one
//! that took over an expired lease), and it then reads the finding afresh.
//!
//! The pending jobs are read `FOR UPDATE`: a claim taking one in a transaction not yet committed
//! is waited for, after which its job counts as running. Without the lock, a producer could see
//! the job still pending, the claim commit and its sync read the finding, and only then the
//! producer's change commit, unseen by both. Locks are taken in job order, so two producers
//! never wait on each other in a ring.
use sqlx::PgConnection;

/// Queues a look at each finding (with its priority, lower first) that has no pending job, in
/// the caller's transaction: the look is queued, and the workers woken, only if the change that
/// asked for it commits. Returns how many jobs it added.
#[tracing::instrument(skip_all, fields(findings = findings.len()))]
pub async fn queue_findings(conn: &mut PgConnection, findings: &[(String, i16)]) -> Result<u64, sqlx::Error> {
    if findings.is_empty() {
        return Ok(0);
    }
    let (ids, priorities): (Vec<String>, Vec<i16>) = findings.iter().cloned().unzip();
    let queued = sqlx::query_scalar!(
        r#"SELECT finding_id AS "finding_id!" FROM sync_jobs
           WHERE finding_id = ANY($1) AND status = 'pending'
           ORDER BY id
           FOR UPDATE"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let added = sqlx::query!(
        r#"INSERT INTO sync_jobs (finding_id, priority)
           SELECT DISTINCT ON (w.id) w.id, w.priority
           FROM unnest($1::text[], $2::smallint[]) AS w(id, priority)
           WHERE w.id <> ALL($3)
           ORDER BY w.id, w.priority"#,
        &ids,
        &priorities,
        &queued
    )
    .execute(&mut *conn)
    .await?;
    if added.rows_affected() > 0 {
        crate::db::notify::notify_work(conn).await?;
    }
    Ok(added.rows_affected())
}

/// As `queue_findings`, each at the priority of an event's job (0).
pub async fn queue_finding(conn: &mut PgConnection, finding_id: &str) -> Result<u64, sqlx::Error> {
    queue_findings(conn, &[(finding_id.to_owned(), 0)]).await
}
