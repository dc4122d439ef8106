use crate::helpers::{
    issue_event, spawn_app, spawn_app_behind_proxy, spawn_app_with_worker, INTRODUCED, SAMPLE_REPO,
};

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let json: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(json["status"], "ready");
    assert!(
        json.get("worker").is_none(),
        "no worker runs in this process: {json}"
    );
}

#[tokio::test]
async fn readyz_says_the_worker_runs_when_serve_runs_one() {
    let app = spawn_app_with_worker().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let json: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(json["worker"], "running", "{json}");
    // And it does: an event becomes an issue without anyone running a worker by hand.
    app.deliver(&issue_event(INTRODUCED, "1", "RI1", 1, 1_700_000_000))
        .await;
    for _ in 0..400 {
        if app.job_of("1").await.0 == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn readyz_is_503_while_the_schema_is_behind() {
    let app = spawn_app().await;
    // As if an older binary had migrated this database.
    sqlx::query("DELETE FROM refinery_schema_history")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn a_flood_of_readiness_probes_costs_the_database_one_check_a_second() {
    let (app, proxy) = spawn_app_behind_proxy(|_| {}).await;
    let before = proxy.bytes_to_server();
    assert_eq!(app.get("/readyz").await.status(), 200);
    // One check: a connection's start-up and the schema query.
    let one_check = proxy.bytes_to_server() - before;
    assert!(one_check > 0);

    let before = proxy.bytes_to_server();
    let probes = (0..500).map(|_| app.get("/readyz"));
    let answers = futures_util::future::join_all(probes).await;
    assert!(answers.iter().all(|a| a.status() == 200));
    let flood = proxy.bytes_to_server() - before;
    // Without sharing, 500 checks; the flood lasts a second or two, so a few at most.
    assert!(
        flood <= 5 * one_check,
        "500 probes sent {flood} bytes to the database; one check sends {one_check}"
    );

    // The answer is fresh within about a second: a schema left behind is soon reported.
    sqlx::query("DELETE FROM refinery_schema_history")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut status = 200;
    for _ in 0..100 {
        status = app.get("/readyz").await.status().as_u16();
        if status == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 503);
}

#[tokio::test]
async fn readyz_is_503_while_a_migration_in_the_middle_is_missing() {
    let app = spawn_app().await;
    // The newest is there, one before it is not (a history with a gap, as after merging a
    // branch's V10 before another's V9 into a database migrated from the first): still behind.
    let removed = sqlx::query(
        "DELETE FROM refinery_schema_history
         WHERE version = (SELECT min(version) + 1 FROM refinery_schema_history)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(removed.rows_affected(), 1);
    assert_eq!(app.get("/readyz").await.status(), 503);
}
