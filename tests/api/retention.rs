//! Retention: bodies of finished events past RETENTION_DAYS go, in bounded batches; what makes
//! counting exactly-once (event rows, their hashes, the ledger), dead jobs' events and anything
//! unfinished stay.
use std::time::Duration;

use deepsource_sync::maintenance::Retention;

use crate::admin::admin_app;
use crate::admin::ADMIN_TOKEN;
use crate::helpers::{fixture_with_id, issue_event, spawn_app_with, Fault, TestApp, INTRODUCED};
use crate::people::{post_github, GITHUB_SECRET};
use deepsource_sync::domain::WebhookSecret;
use secrecy::SecretString;

const DAYS_30: Duration = Duration::from_secs(30 * 86_400);

/// As if every stored event (and conflict) had arrived `days` ago.
async fn age_everything(app: &TestApp, days: i32) {
    for table in ["webhook_events", "webhook_event_conflicts", "github_events"] {
        sqlx::query(&format!(
            "UPDATE {table} SET received_at = received_at - make_interval(days => $1)"
        ))
        .bind(days)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

async fn body_kept(app: &TestApp, id: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT body IS NOT NULL FROM webhook_events WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn finished_bodies_past_retention_go_and_what_counts_events_once_stays() {
    let app = spawn_app_with(|s| {
        s.operations.admin_token = Some(SecretString::from(ADMIN_TOKEN));
        s.github.webhook_secret = Some(WebhookSecret::parse(GITHUB_SECRET).unwrap());
    })
    .await;
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    assert_eq!(post_github(&app, "ping", "gh-1", ping).await.status(), 200);
    let done = issue_event(INTRODUCED, "done", "RI-a", 2, 1_700_000_000);
    app.sync_event(INTRODUCED, "done", "RI-a", 2, 1_700_000_000).await;
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "dead", "RI-b", 1, 1_700_000_000).await;
    app.deliver(&fixture_with_id("analysis_run_updated.json", "run"))
        .await;
    let mut other = done.clone();
    other.extend_from_slice(b" ");
    assert_eq!(app.deliver(&other).await, "conflict");
    age_everything(&app, 31).await;
    // Arrived since: young, and its job not even run.
    app.deliver(&issue_event(INTRODUCED, "young", "RI-c", 1, 1_700_000_000))
        .await;
    app.deliver(&issue_event(INTRODUCED, "queued", "RI-d", 1, 1_700_000_000))
        .await;
    sqlx::query(
        "UPDATE webhook_events SET received_at = received_at - interval '31 days' WHERE id = 'queued'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let retention = Retention::new(app.pool.clone(), Some(DAYS_30)).unwrap();
    let purged = retention.run_until_done().await.unwrap();
    assert_eq!(
        (purged.event_bodies, purged.conflicts, purged.github_bodies),
        (2, 1, 1),
        "{purged:?}"
    );
    assert!(!body_kept(&app, "done").await);
    assert!(
        !body_kept(&app, "run").await,
        "no job: nothing left to do with it"
    );
    assert!(body_kept(&app, "dead").await, "a dead job may be retried");
    assert!(body_kept(&app, "queued").await, "not applied yet");
    assert!(body_kept(&app, "young").await);
    assert!(app.conflicting_bodies("done").await.is_empty());

    // The row and its hash still judge redeliveries; the ledger still counts once.
    assert_eq!(app.deliver(&done).await, "duplicate");
    assert_eq!(app.open_occurrences("RI-a").await, 2);
    let (status, body) = app.admin_post("/api/deliveries/done/replay").await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    assert!(body["message"].as_str().unwrap().contains("retention"), "{body}");
    let (_, shown) = app.admin_get("/api/deliveries/done").await;
    assert!(
        shown["body"].is_null() && shown["body_deleted_at"].is_string(),
        "{shown}"
    );
    assert_eq!(shown["ledger"]["delta"], 2);

    assert_eq!(
        retention.run_until_done().await.unwrap().event_bodies,
        0,
        "nothing twice"
    );
    assert!(
        Retention::new(app.pool.clone(), None).is_none(),
        "RETENTION_DAYS=0 keeps all"
    );
}

#[tokio::test]
async fn retention_works_in_bounded_batches() {
    let app = admin_app().await;
    app.sync_event(INTRODUCED, "seed", "RI-a", 1, 1_700_000_000).await;
    // 2,500 finished events of the finding, old.
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
         SELECT 'old-' || n, 'repository_issue.introduced', now(), now() - interval '40 days',
                convert_to('{}', 'UTF8'), sha256(convert_to(n::text, 'UTF8'))
         FROM generate_series(1, 2500) n",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let retention = Retention::new(app.pool.clone(), Some(DAYS_30)).unwrap();
    assert_eq!(retention.run_once().await.unwrap().event_bodies, 2000);
    assert_eq!(retention.run_once().await.unwrap().event_bodies, 500);
    assert_eq!(retention.run_once().await.unwrap().event_bodies, 0);
}
