//! The group-commit batcher driven directly, with events the parser would never let through:
//! how one batch's failure is shared out among its events.
use actix_web::ResponseError;
use chrono::{DateTime, Utc};
use deepsource_sync::domain::Envelope;
use deepsource_sync::error::ApiError;
use deepsource_sync::ingest::{IncomingEvent, Ingestor, Outcome};
use futures_util::future::join_all;

use crate::helpers::{fixture_with_id, spawn_app};

fn event(id: &str) -> IncomingEvent {
    let body = fixture_with_id("repository_issue_introduced.json", id);
    let now = Utc::now();
    IncomingEvent::new(Envelope::parse(&body, now).unwrap(), body.into(), now)
}

/// An event Postgres refuses on its own as data (22008): an event time before 4713 BC.
fn poison(id: &str) -> IncomingEvent {
    let mut event = event(id);
    event.envelope.event_time = DateTime::from_timestamp(-220_000_000_000, 0).unwrap();
    event
}

/// An event Postgres refuses on its own as beyond a limit (54000): a finding id too long for
/// the jobs' btree index (random, so compression cannot shrink it under the limit).
fn oversized(id: &str) -> IncomingEvent {
    let mut event = event(id);
    let finding: String = (0..100)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    event.envelope.finding_id = Some(finding);
    event
}

#[tokio::test]
async fn a_poison_event_fails_alone_and_its_batch_neighbours_are_stored() {
    let app = spawn_app().await;
    let ingestor = Ingestor::start(app.pool.clone(), app.settings.webhook.ingest_timeout);
    // Sent together, so they are written as one batch (the test's runtime is single-threaded:
    // all 21 are queued before the batching task runs).
    let events = (0..20)
        .map(|i| event(&format!("70{i}")))
        .chain([poison("poison"), oversized("oversized")]);
    let results = join_all(events.map(|e| ingestor.ingest(e))).await;

    let (neighbours, poisoned) = results.split_at(20);
    for result in neighbours {
        assert_eq!(result.as_ref().unwrap(), &Outcome::Stored);
    }
    for (result, reason) in poisoned.iter().zip(["out of range", "index row size"]) {
        let error = ApiError::from(result.clone().unwrap_err());
        assert_eq!(error.status_code(), 400, "it would never succeed: {error}");
        assert!(error.to_string().contains(reason), "{error}");
    }
    assert_eq!(app.count_rows().await, (20, 20, 0));
}

#[tokio::test]
async fn queued_events_are_written_in_batches_of_at_most_256() {
    let app = spawn_app().await;
    let ingestor = Ingestor::start(app.pool.clone(), app.settings.webhook.ingest_timeout);
    // Far more are queued than one batch takes.
    let events = (0..600).map(|i| event(&format!("71{i}")));
    for result in join_all(events.map(|e| ingestor.ingest(e))).await {
        assert_eq!(result.unwrap(), Outcome::Stored);
    }
    // One batch is one statement, so one transaction: its rows share their xmin.
    let batch_sizes: Vec<i64> =
        sqlx::query_scalar("SELECT count(*) FROM webhook_events GROUP BY xmin::text ORDER BY count(*) DESC")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    // Full batches form, and none is bigger.
    assert_eq!(batch_sizes.iter().sum::<i64>(), 600);
    assert_eq!(batch_sizes[0], 256, "{batch_sizes:?}");
}
