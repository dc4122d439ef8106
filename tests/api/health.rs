use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let json: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(json["status"], "ready");
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
