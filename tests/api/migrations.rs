use deepsource_sync::db;

use crate::helpers::{fresh_database, server_url, spawn_app, test_settings};

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent_under_concurrency() {
    let db = fresh_database();
    let url = db.url.clone();
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

#[tokio::test]
async fn a_test_leaves_no_database_behind_even_when_it_fails() {
    let exists = |name: String| async move {
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", server_url()))
            .await
            .unwrap();
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&admin)
            .await
            .unwrap()
    };
    let app = spawn_app().await;
    let name = app.db_name.clone();
    assert!(exists(name.clone()).await);
    drop(app);
    assert!(!exists(name).await, "dropped with its app");

    // A failing test unwinds through the same guard.
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let app = spawn_app().await;
            tx.send(app.db_name.clone()).unwrap();
            panic!("a failing test");
        })
    })
    .join();
    assert!(failed.is_err());
    assert!(!exists(rx.recv().unwrap()).await);
}
