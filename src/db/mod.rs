//! Connection pool, database creation and migrations.
mod migrate;
pub mod notify;

pub use migrate::{
    latest_migration_version, migrate, migration_count, migrations_applied, schema_is_current,
};

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

use crate::configuration::DatabaseSettings;

/// Creates the database named in the URL when it does not exist yet. The target is tried
/// first: behind a pooler that serves only it (PgBouncer, many managed offerings) the
/// maintenance database `postgres` cannot be reached, and need not be unless the target is
/// missing.
pub async fn ensure_database(settings: &DatabaseSettings) -> Result<(), sqlx::Error> {
    let url = settings.url();
    match PgConnection::connect(url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(e) if has_code(&e, "3D000") => {} // invalid_catalog_name: no such database
        Err(e) => return Err(e),
    }
    match Postgres::create_database(url).await {
        Ok(()) => Ok(()),
        // duplicate_database: another replica (or test) created it in the meantime.
        Err(e) if has_code(&e, "42P04") => Ok(()),
        Err(e) => Err(e),
    }
}

fn has_code(error: &sqlx::Error, code: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}

/// What every entry point does first: the database exists and its schema is current.
pub async fn prepare(settings: &DatabaseSettings) -> anyhow::Result<()> {
    ensure_database(settings).await?;
    let applied = migrate(settings.url()).await?;
    tracing::info!(
        applied,
        latest = latest_migration_version(),
        "database migrations up to date"
    );
    Ok(())
}

/// This process as Postgres sees it: the `application_name` of every connection it opens
/// (unless the URL names one), so `pg_stat_activity` tells which processes run (`sync_workers`).
pub fn process_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        format!(
            "deepsource-sync/{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    })
}

/// Connection options for `url`, named for this process.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(match options.get_application_name() {
        Some(_) => options,
        None => options.application_name(process_name()),
    })
}

/// Lazy, so the service starts (and answers 503) while the database is briefly away.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options = connect_options(settings.url())?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        // A request that cannot get a connection soon is answered 503 so DeepSource retries;
        // waiting longer would only hold its delivery open.
        .acquire_timeout(settings.acquire_timeout)
        // A connection that sat idle in the pool may have been ended meanwhile (a restart of
        // Postgres, a failover, a pooler's restart): it is pinged before it is handed out, and a
        // dead one is replaced, inside the acquire timeout. So no statement of any caller meets
        // one, however many died, and no caller needs a retry of its own for it. The price is a
        // round trip per acquire: per request or statement on the low-rate paths, per batch
        // (of up to 256 deliveries) on intake's, where it measured within the noise
        // (docs/performance.md, "Database outages").
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

/// The connection, not the statement, failed: another connection may well succeed. For intake,
/// only these (after its retries) and failing to get a connection at all count as "storage
/// unavailable" (503 for the whole batch); the sync worker waits and tries again. Anything else
/// the database says is about the statement.
pub fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        // 08xxx connection exception; 57P01-57P03 the server shut the session down.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// The database could not be reached: the connection was lost, or none could be had. The same
/// work may well succeed once it is back.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    is_connection_lost(error)
        || matches!(
            error,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
        )
}

/// What the database cannot take in the statement itself (a value, not the connection): trying
/// again would never succeed, so intake answers 400, not 503.
pub fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        // A value that cannot even be encoded for Postgres.
        sqlx::Error::Encode(_) => true,
        // 22xxx data exception (out-of-range time, NUL in text, …); 54xxx program limit
        // exceeded (an index row too large, …).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("54")),
        _ => false,
    }
}
