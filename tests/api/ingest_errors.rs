//! Which database errors mean "storage unavailable" (503 for the whole batch, retried on
//! another connection first) and which are about the statement: real errors from Postgres.
use deepsource_sync::db::is_connection_lost;
use sqlx::{Connection, PgConnection};

use crate::helpers::{fixture_with_id, spawn_app, TestApp};

async fn connect(app: &TestApp) -> PgConnection {
    PgConnection::connect(app.settings.database.url()).await.unwrap()
}

async fn error_of(conn: &mut PgConnection, sql: &str) -> sqlx::Error {
    sqlx::raw_sql(sql).execute(conn).await.unwrap_err()
}

#[tokio::test]
async fn a_connection_the_server_closed_counts_as_lost() {
    let app = spawn_app().await;
    let mut conn = connect(&app).await;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&app.pool)
        .await
        .unwrap();
    // Postgres says 57P01 (admin shutdown) or the socket is simply gone: lost either way.
    let error = error_of(&mut conn, "SELECT 1").await;
    assert!(is_connection_lost(&error), "{error:?}");
}

#[tokio::test]
async fn errors_about_the_statement_do_not_count_as_lost() {
    let app = spawn_app().await;
    let mut conn = connect(&app).await;
    sqlx::raw_sql("CREATE TEMP TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        .execute(&mut conn)
        .await
        .unwrap();
    for (sql, code) in [
        ("SELECT 1 / 0", "22012"),
        ("SELECT 'a' || chr(0)", "54000"),
        ("INSERT INTO t VALUES (1)", "23505"),
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        // Cancelled by a timeout: the connection itself is fine (57014, not 57P…).
        ("SET statement_timeout = 1; SELECT pg_sleep(1)", "57014"),
    ] {
        let error = error_of(&mut conn, sql).await;
        let db = error.as_database_error().expect("an error from Postgres");
        assert_eq!(db.code().as_deref(), Some(code), "{sql}: {db}");
        assert!(!is_connection_lost(&error), "{sql}: {error}");
        // And the connection goes on serving.
        sqlx::raw_sql("RESET statement_timeout; SELECT 1")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_pooled_connection_the_server_dropped_costs_no_503() {
    let app = spawn_app().await;
    let first = fixture_with_id("repository_issue_introduced.json", "1001");
    assert_eq!(app.deliver(&first).await, "stored");
    // The service's connection, idle in its pool, is closed by the server.
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND state = 'idle' AND query LIKE 'WITH input%'",
    )
    .bind(&app.db_name)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    let second = fixture_with_id("repository_issue_introduced.json", "1002");
    assert_eq!(app.deliver(&second).await, "stored");
    assert_eq!(app.count_rows().await, (2, 2, 0));
}

/// Not a latency assertion: a guard so that a hang fails the test instead of blocking the suite.
async fn promptly<T>(answer: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(30), answer)
        .await
        .expect("answered, not left hanging")
}

#[tokio::test]
async fn a_database_that_drops_every_connection_mid_write_gets_503_and_intake_recovers() {
    let app = spawn_app().await;
    // Every insert of an event ends its own session, as a server that keeps dropping
    // connections would; the reads of the outage probe still go through.
    sqlx::raw_sql(
        "CREATE FUNCTION drop_session() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(10); RETURN NULL; END $$;
         CREATE TRIGGER drop_session BEFORE INSERT ON webhook_events
             FOR EACH STATEMENT EXECUTE FUNCTION drop_session();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let body = fixture_with_id("repository_issue_introduced.json", "1101");
    // Tried again on other connections, but not for ever: DeepSource is told to come back.
    let response = promptly(app.post_signed(&body)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());

    sqlx::raw_sql("DROP TRIGGER drop_session ON webhook_events")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(promptly(app.deliver_when_back(&body)).await, "stored");
    assert_eq!(app.count_rows().await, (1, 1, 0));
}

#[tokio::test]
async fn a_refusal_a_retry_can_overcome_is_503_so_deepsource_retries() {
    let app = spawn_app().await;
    // Postgres refuses this one event as a deadlock victim (40P01): nothing wrong with the
    // event, and nothing wrong with the connection either. A 400 would make DeepSource drop it.
    sqlx::raw_sql(
        "CREATE FUNCTION deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.id = '1201' THEN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END IF;
               RETURN NEW; END $$;
         CREATE TRIGGER deadlock BEFORE INSERT ON webhook_events
             FOR EACH ROW EXECUTE FUNCTION deadlock();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let body = fixture_with_id("repository_issue_introduced.json", "1201");
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(app.count_rows().await, (0, 0, 0));

    // The retry, once the database takes it, stores it.
    sqlx::raw_sql("DROP TRIGGER deadlock ON webhook_events")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.deliver(&body).await, "stored");
}
