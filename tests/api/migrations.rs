use deepsource_sync::db;

use crate::helpers::{fresh_database, server_url, spawn_app, test_settings};

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent_under_concurrency() {
    let db = fresh_database();
    let url = db.url.clone();
    let settings = test_settings(&url);
    db::ensure_database(&settings.database).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Never migrated, not even a history table: none applied, and that is no error.
    assert_eq!(db::migrations_applied(&pool).await.unwrap(), 0);
    assert!(!db::schema_is_current(&pool).await.unwrap());
    // Replicas starting together: the advisory lock makes them take turns, and only one applies.
    let (a, b, c) = tokio::join!(db::migrate(&url), db::migrate(&url), db::migrate(&url));
    let applied = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(
        applied.iter().sum::<usize>(),
        db::migration_count(),
        "{applied:?}"
    );
    assert_eq!(db::migrate(&url).await.unwrap(), 0);

    assert_eq!(
        db::migrations_applied(&pool).await.unwrap(),
        db::migration_count()
    );
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

#[tokio::test]
async fn v4_frees_metadata_held_by_a_far_future_event_and_marks_what_an_older_release_left_off() {
    let db = fresh_database();
    db::ensure_database(&test_settings(&db.url).database)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let migration = |name: &str| {
        std::fs::read_to_string(format!("{}/migrations/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    for name in ["V1__intake.sql", "V2__sync.sql", "V3__sync_hardening.sql"] {
        sqlx::raw_sql(&migration(name)).execute(&pool).await.unwrap();
    }
    // As V3 left them: a finding an event dated 9999 holds, one whose last job was skipped, one
    // synced.
    for (id, time, status) in [
        ("future", "9999-01-01", "done"),
        ("skipped", "2024-01-01", "skipped"),
        ("synced", "2024-01-01", "done"),
    ] {
        sqlx::query(
            "INSERT INTO findings (id, repository_id, repository_name, vcs_provider, vcs_url, default_branch,
                                   issue_shortcode, issue_title, issue_description, category,
                                   analyzer_shortcode, analyzer_name, metadata_time, locations_time)
             VALUES ($1, '', '', '', '', '', '', '', '', '', '', '', $2::timestamptz, $2::timestamptz)",
        )
        .bind(id)
        .bind(time)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "WITH e AS (INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
                        VALUES ($1, 'repository_issue.introduced', now(), now(), '{}', sha256('{}')) RETURNING id)
             INSERT INTO sync_jobs (event_id, finding_id, status) SELECT id, $1, $2 FROM e",
        )
        .bind(id)
        .bind(status)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::raw_sql(&migration("V4__sync_edges.sql"))
        .execute(&pool)
        .await
        .unwrap();

    let rows: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT id, metadata_time < now() + interval '1 minute' AND locations_time < now() + interval '1 minute',
                unsynced_under
         FROM findings ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("future".to_owned(), true, None),
            ("skipped".to_owned(), true, Some(String::new())),
            ("synced".to_owned(), true, None),
        ]
    );
}
