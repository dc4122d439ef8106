//! The wake-up every transaction that makes sync work due sends with its commit. Postgres
//! delivers a `NOTIFY` only if its transaction commits, and folds identical ones in a
//! transaction into one, so a producer may call this once per statement and the listeners still
//! hear once per commit. It is a hint, never the record: the work itself is the rows committed.
use sqlx::PgConnection;

/// The channel every worker `LISTEN`s on (`wake/`).
pub const WORK_CHANNEL: &str = "deepsource_sync_work";

/// Asks, in the caller's transaction, that every listening worker look for due work once it
/// commits.
pub async fn notify_work(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_notify($1, '')", WORK_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
