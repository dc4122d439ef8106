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

/// An event Postgres refuses on its own: an event time before 4713 BC.
fn poison(id: &str) -> IncomingEvent {
    let mut event = event(id);
    event.envelope.event_time = DateTime::from_timestamp(-220_000_000_000, 0).unwrap();
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
        .chain([poison("poison")]);
    let results = join_all(events.map(|e| ingestor.ingest(e))).await;

    let (poisoned, neighbours) = results.split_last().unwrap();
    for result in neighbours {
        assert_eq!(result.as_ref().unwrap(), &Outcome::Stored);
    }
    let error = ApiError::from(poisoned.clone().unwrap_err());
    assert_eq!(error.status_code(), 400, "it would never succeed: {error}");
    assert!(error.to_string().contains("out of range"), "{error}");
    assert_eq!(app.count_rows().await, (20, 20, 0));
}
