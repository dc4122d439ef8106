//! Each worker process's wake-up mode in `sync_workers` (V14), so the status page of any replica
//! shows every worker: written when the mode changes, deleted when the process stops, never on
//! a timer (an idle service writes nothing). A process that died without deleting its row is
//! told apart by `pg_stat_activity`: its connections, named `db::process_name()`, are gone.
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;

use super::mode::WakeMode;
use crate::db::process_name;

/// One worker process as the status page shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WorkerRow {
    pub process: String,
    pub host: String,
    pub pid: i32,
    /// `listening`, `polling` or `starting`.
    pub mode: String,
    /// Why it polls.
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    /// When the mode last changed.
    pub since: DateTime<Utc>,
}

/// Records each mode `modes` takes until `stop`, then deletes the row. Best effort: a write that
/// fails (the database away) is logged and the next change writes again.
pub(super) async fn follow(
    pool: PgPool,
    mut modes: watch::Receiver<WakeMode>,
    mut stop: watch::Receiver<bool>,
) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    loop {
        let mode = modes.borrow_and_update().clone();
        if let Err(error) = record(&pool, &host, &mode).await {
            tracing::debug!(%error, "could not record the worker's wake-up mode");
        }
        tokio::select! {
            changed = modes.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
        }
    }
    let _ = sqlx::query!("DELETE FROM sync_workers WHERE process = $1", process_name())
        .execute(&pool)
        .await;
}

async fn record(pool: &PgPool, host: &str, mode: &WakeMode) -> Result<(), sqlx::Error> {
    let reason = match mode {
        WakeMode::Polling(reason) => Some(reason.as_str()),
        _ => None,
    };
    sqlx::query!(
        r#"INSERT INTO sync_workers (process, host, pid, mode, reason)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (process) DO UPDATE SET mode = EXCLUDED.mode, reason = EXCLUDED.reason,
               changed_at = now()
           WHERE (sync_workers.mode, sync_workers.reason) IS DISTINCT FROM (EXCLUDED.mode, EXCLUDED.reason)"#,
        process_name(),
        host,
        std::process::id() as i32,
        mode.name(),
        reason
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The worker processes that still run (a connection of theirs is open), oldest first; rows of
/// processes that died are left out.
pub async fn workers(pool: &PgPool) -> Result<Vec<WorkerRow>, sqlx::Error> {
    sqlx::query_as!(
        WorkerRow,
        r#"SELECT w.process, w.host, w.pid, w.mode, w.reason, w.started_at, w.changed_at AS since
           FROM sync_workers w
           WHERE EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = w.process)
           ORDER BY w.started_at, w.process"#
    )
    .fetch_all(pool)
    .await
}
