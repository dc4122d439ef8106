//! refinery has no sqlx driver, so its async traits are implemented here on a sqlx connection
//! instead of linking a second Postgres client.
use std::future::Future;
use std::pin::Pin;

use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use refinery_core::Migration;
use sqlx::{Connection, Executor, PgConnection, Row};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

refinery::embed_migrations!("migrations");

/// Any constant works; it only has to be the same for every replica.
const MIGRATION_LOCK_KEY: i64 = 0x6465_6570_7379_6e63; // "deepsync"

/// Applies pending migrations under an advisory lock, so replicas starting together take turns.
pub async fn migrate(database_url: &str) -> anyhow::Result<usize> {
    let mut conn = PgConnection::connect(database_url).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    let report = migrations::runner()
        .run_async(&mut RefineryConnection(&mut conn))
        .await;
    // Closing the connection would release the lock too; unlocking says so explicitly.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(report?.applied_migrations().len())
}

pub fn latest_migration_version() -> i32 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// How many migrations this binary embeds. Not the latest version: versions may have gaps
/// (one branch's V10 can land before another's V9).
pub fn migration_count() -> usize {
    migrations::runner().get_migrations().len()
}

/// True once every migration this binary embeds has been applied: each of their versions, not
/// only the highest (a history with a gap, V10 without V9, is behind too).
pub async fn schema_is_current<'c>(conn: impl sqlx::PgExecutor<'c>) -> Result<bool, sqlx::Error> {
    Ok(migrations_applied(conn).await? >= migration_count())
}

/// How many of the migrations this binary embeds the database has applied; read only (none on a
/// database never migrated).
pub async fn migrations_applied<'c>(conn: impl sqlx::PgExecutor<'c>) -> Result<usize, sqlx::Error> {
    let embedded: Vec<i32> = migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .collect();
    let applied = sqlx::query_scalar::<_, i64>(
        "SELECT count(DISTINCT version) FROM refinery_schema_history WHERE version = ANY($1)",
    )
    .bind(&embedded)
    .fetch_one(conn)
    .await;
    match applied {
        Ok(applied) => Ok(usize::try_from(applied).unwrap_or(0)),
        // undefined_table: no history yet, so nothing applied.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(0),
        Err(e) => Err(e),
    }
}

struct RefineryConnection<'c>(&'c mut PgConnection);

/// refinery's traits demand futures that are `Send` for every lifetime. sqlx's generic
/// `query.execute(executor)` futures trip a compiler limit there (rust-lang/rust#110338), so the
/// helpers below call `Executor` methods, whose boxed futures are plainly `Send`.
type SendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

impl AsyncTransaction for RefineryConnection<'_> {
    type Error = sqlx::Error;

    fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send + 'a {
        let queries: Vec<&'a str> = queries.collect();
        let fut: SendFuture<'a, usize> = Box::pin(apply_in_transaction(self.0, queries));
        fut
    }
}

impl AsyncQuery<Vec<Migration>> for RefineryConnection<'_> {
    fn query<'a>(
        &'a mut self,
        query: &'a str,
    ) -> impl Future<Output = Result<Vec<Migration>, Self::Error>> + Send + 'a {
        let fut: SendFuture<'a, Vec<Migration>> = Box::pin(applied_migrations(self.0, query));
        fut
    }
}

impl AsyncMigrate for RefineryConnection<'_> {}

async fn apply_in_transaction(conn: &mut PgConnection, queries: Vec<&str>) -> Result<usize, sqlx::Error> {
    let mut tx = conn.begin().await?;
    for query in &queries {
        // raw_sql: a migration file may hold many statements.
        (&mut *tx).execute(sqlx::raw_sql(query)).await?;
    }
    tx.commit().await?;
    Ok(queries.len())
}

async fn applied_migrations(conn: &mut PgConnection, query: &str) -> Result<Vec<Migration>, sqlx::Error> {
    let rows = conn.fetch_all(sqlx::raw_sql(query)).await?;
    rows.iter()
        .map(|row| {
            let applied_on: String = row.try_get(2)?;
            let checksum: String = row.try_get(3)?;
            let decode =
                |what: &str| sqlx::Error::Decode(format!("refinery_schema_history: bad {what}").into());
            Ok(Migration::applied(
                row.try_get(0)?,
                row.try_get(1)?,
                OffsetDateTime::parse(&applied_on, &Rfc3339).map_err(|_| decode("applied_on"))?,
                checksum.parse().map_err(|_| decode("checksum"))?,
            ))
        })
        .collect()
}
