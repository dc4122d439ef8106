//! The database going away behind the service's back (through a TCP proxy, never by touching
//! the shared server): intake answers 503 + `Retry-After` instead of hanging, and recovers;
//! `/metrics` says its gauges are missing.
use std::future::Future;
use std::time::{Duration, Instant};

use deepsource_sync::configuration::Settings;

use crate::helpers::{fixture_with_id, sign, spawn_app_behind_proxy, TestApp, SECRET};
use crate::reconnect::{ok, until};

/// Not a latency assertion: only a guard so that a hang fails the test instead of blocking the
/// suite. The outage lasts until the test ends it, so any answer here came during the outage.
async fn during_outage<T>(answer: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("answered while the database was still unreachable")
}

/// Deadlines short enough for a lean suite.
fn short_deadlines(settings: &mut Settings) {
    settings.webhook.ingest_timeout = Duration::from_millis(500);
    settings.database.acquire_timeout = Duration::from_millis(500);
}

/// Holds a lock that blocks inserts into `webhook_events` until `release`, so a statement of
/// the service's is surely in flight when the proxy stalls.
async fn block_inserts(app: &TestApp) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE webhook_events IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    lock
}

/// Waits (polling Postgres) until one of the service's inserts is waiting for that lock.
async fn insert_is_waiting(app: &TestApp) {
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO webhook_events%'",
        )
        .bind(&app.db_name)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_database_that_stops_answering_mid_statement_gets_503_not_a_hang_and_readyz_says_so() {
    let (app, proxy) = spawn_app_behind_proxy(short_deadlines).await;
    let first = fixture_with_id("repository_issue_introduced.json", "801");
    assert_eq!(app.deliver(&first).await, "stored");
    assert_eq!(app.get("/readyz").await.status(), 200);

    // The database stops answering while the service's statement is in flight.
    let lock = block_inserts(&app).await;
    let body = fixture_with_id("repository_issue_introduced.json", "802");
    let (client, address, signature) = (app.client.clone(), app.address.clone(), sign(SECRET, &body));
    let request = tokio::spawn(
        client
            .post(format!("{address}/webhooks"))
            .header("x-deepsource-signature", signature)
            .body(body.clone())
            .send(),
    );
    insert_is_waiting(&app).await;
    proxy.stall();
    lock.rollback().await.unwrap();

    let response = during_outage(request).await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(during_outage(app.get("/readyz")).await.status(), 503);

    proxy.resume();
    // The insert may have committed once its lock was free (only its answer was lost; then the
    // retry is a duplicate) or not (the connection was closed first): the 503 claimed nothing.
    let retried = app.deliver_when_back(&body).await;
    assert!(retried == "stored" || retried == "duplicate", "{retried}");
    let third = fixture_with_id("repository_issue_introduced.json", "803");
    assert_eq!(app.deliver(&third).await, "stored");
    assert_eq!(app.deliver(&first).await, "duplicate");
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.count_rows().await, (3, 3, 0));
}

#[tokio::test]
async fn once_the_database_is_known_down_every_waiting_delivery_gets_503_at_once_and_intake_recovers() {
    // Getting a connection could take longer than the test would wait: once one batch has
    // found the database away, no other delivery may pay for finding it out again.
    let (app, proxy) = spawn_app_behind_proxy(|s| {
        s.webhook.ingest_timeout = Duration::from_millis(500);
        s.database.acquire_timeout = Duration::from_secs(120);
    })
    .await;
    assert_eq!(
        app.deliver(&fixture_with_id("test_event.json", "900")).await,
        "stored"
    );

    let lock = block_inserts(&app).await;
    let bodies: Vec<Vec<u8>> = (0..300)
        .map(|i| fixture_with_id("repository_issue_introduced.json", &format!("91{i}")))
        .collect();
    let requests: Vec<_> = bodies
        .iter()
        .map(|body| {
            let request = app
                .client
                .post(format!("{}/webhooks", app.address))
                .header("x-deepsource-signature", sign(SECRET, body))
                .body(body.clone());
            tokio::spawn(request.send())
        })
        .collect();
    insert_is_waiting(&app).await;
    proxy.stall();
    lock.rollback().await.unwrap();

    // More than one batch is waiting; all of them are answered while the database is still away.
    for response in during_outage(futures_util::future::join_all(requests)).await {
        let response = response.unwrap().unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("retry-after").is_some());
    }
    // And so is a new one.
    let late = fixture_with_id("test_event.json", "901");
    assert_eq!(during_outage(app.post_signed(&late)).await.status(), 503);

    proxy.resume();
    // Without a restart, DeepSource's retries land (the first batch may have committed before
    // its answer was lost: those are duplicates).
    for body in bodies.iter().chain([&late]) {
        let status = app.deliver_when_back(body).await;
        assert!(status == "stored" || status == "duplicate", "{status}");
    }
    assert_eq!(app.count_rows().await, (302, 300, 0));
}

#[tokio::test]
async fn with_the_database_away_metrics_says_its_gauges_are_missing_and_shows_them_once_it_is_back() {
    let (app, proxy) = spawn_app_behind_proxy(short_deadlines).await;
    assert_eq!(
        app.deliver(&fixture_with_id("repository_issue_introduced.json", "a-1"))
            .await,
        "stored"
    );
    proxy.refuse();

    let delivery = fixture_with_id("repository_issue_introduced.json", "a-2");
    let refused = app.post_signed(&delivery).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(app.get("/readyz").await.status(), 503);
    let scrape = ok(app.get("/metrics").await).await.unwrap();
    assert!(
        scrape.contains("\ndeepsource_sync_database_gauges_up 0\n"),
        "{scrape}"
    );
    assert!(!scrape.contains("deepsource_sync_jobs{"), "{scrape}");

    proxy.resume();
    let back = Instant::now();
    // The answer without gauges was not kept as if it were whole: the gauges are back well
    // before the 10 s a read is cached for.
    until("the gauges are back", async || {
        ok(app.get("/metrics").await)
            .await
            .unwrap()
            .contains("\ndeepsource_sync_database_gauges_up 1\n")
    })
    .await;
    assert!(back.elapsed() < Duration::from_secs(5), "{:?}", back.elapsed());
    let scrape = ok(app.get("/metrics").await).await.unwrap();
    assert!(
        scrape.contains("\ndeepsource_sync_jobs{status=\"pending\"} 1\n"),
        "{scrape}"
    );
    // Once back, a retry that overran INGEST_TIMEOUT_MS on a loaded machine may have committed
    // after its 503 (the contract allows it): the next is then a duplicate. Either way the
    // delivery is stored once, and nothing from the outage itself.
    let status = app.deliver_when_back(&delivery).await;
    assert!(status == "stored" || status == "duplicate", "{status}");
    assert_eq!(
        app.count_rows().await,
        (2, 2, 0),
        "nothing was stored while it said 503"
    );
}
