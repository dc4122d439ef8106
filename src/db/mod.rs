//! Connection pool, database creation and migrations.
mod migrate;

pub use migrate::{latest_migration_version, migrate, schema_is_current};

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

use crate::configuration::DatabaseSettings;

/// Creates the database named in the URL when it does not exist yet.
pub async fn ensure_database(settings: &DatabaseSettings) -> Result<(), sqlx::Error> {
    let url = settings.url();
    if Postgres::database_exists(url).await? {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => Ok(()),
        // Another replica (or test) created it between the check and the create.
        Err(_) if Postgres::database_exists(url).await? => Ok(()),
        Err(e) => Err(e),
    }
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

/// Lazy, so the service starts (and answers 503) while the database is briefly away.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        // A request that cannot get a connection soon is answered 503 so DeepSource retries;
        // waiting longer would only hold its delivery open.
        .acquire_timeout(settings.acquire_timeout)
        // A ping before every use would add a round trip to every batch; the ingest path
        // retries on a dropped connection instead.
        .test_before_acquire(false)
        .connect_lazy(settings.url())
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
