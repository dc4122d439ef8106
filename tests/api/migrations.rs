use deepsource_sync::db;

use crate::helpers::{fresh_database_url, test_settings};

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent_under_concurrency() {
    let (url, _) = fresh_database_url();
    let settings = test_settings(&url);
    db::ensure_database(&settings.database).await.unwrap();
    // Replicas starting together: the advisory lock makes them take turns, and only one applies.
    let (a, b, c) = tokio::join!(db::migrate(&url), db::migrate(&url), db::migrate(&url));
    let applied = [a.unwrap(), b.unwrap(), c.unwrap()];
    let latest = db::latest_migration_version() as usize;
    assert_eq!(applied.iter().sum::<usize>(), latest, "{applied:?}");
    assert_eq!(db::migrate(&url).await.unwrap(), 0);

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    assert!(db::schema_is_current(&pool).await.unwrap());
}
