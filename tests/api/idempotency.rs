use crate::helpers::{fixture, fixture_with_id, spawn_app};

#[tokio::test]
async fn a_redelivery_is_a_duplicate_and_adds_nothing() {
    let app = spawn_app().await;
    let body = fixture("repository_issue_introduced.json");
    assert_eq!(app.deliver(&body).await, "stored");
    assert_eq!(app.deliver(&body).await, "duplicate");
    assert_eq!(app.deliver(&body).await, "duplicate");
    assert_eq!(app.count_rows().await, (1, 1, 0));
}

#[tokio::test]
async fn a_different_body_under_a_known_id_is_kept_aside_once() {
    let app = spawn_app().await;
    let original = fixture_with_id("autofix_run_started.json", "77");
    let other = fixture_with_id("autofix_run_updated.json", "77");
    assert_eq!(app.deliver(&original).await, "stored");
    assert_eq!(app.deliver(&other).await, "conflict");
    // The same conflicting body again is not stored twice.
    assert_eq!(app.deliver(&other).await, "conflict");
    // The original stays what was stored first.
    assert_eq!(app.stored_event("77").await.unwrap().body, original);
    assert_eq!(app.conflicting_bodies("77").await, vec![other]);
    // And the original's bytes are still a plain duplicate.
    assert_eq!(app.deliver(&original).await, "duplicate");
    assert_eq!(app.count_rows().await, (1, 0, 1));
}

#[tokio::test]
async fn the_same_id_as_number_and_as_string_is_one_event() {
    let app = spawn_app().await;
    assert_eq!(
        app.deliver(br#"{"id":"123","type":"test.event"}"#).await,
        "stored"
    );
    // Same id, different bytes: a conflict, not a second event.
    assert_eq!(
        app.deliver(br#"{"id":123,"type":"test.event"}"#).await,
        "conflict"
    );
    assert_eq!(app.count_rows().await, (1, 0, 1));
}
