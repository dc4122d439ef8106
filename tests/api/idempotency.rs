use crate::helpers::{fixture, fixture_with_id, issue_event, spawn_app, INTRODUCED, RESOLVED};

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
async fn a_different_body_of_the_same_type_under_a_known_id_is_kept_aside_once() {
    let app = spawn_app().await;
    let original = fixture_with_id("autofix_run_started.json", "77");
    let mut other: serde_json::Value = serde_json::from_slice(&original).unwrap();
    other["createdAt"] = 1.into();
    let other = serde_json::to_vec(&other).unwrap();
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

#[tokio::test]
async fn another_type_under_a_known_id_is_another_event_in_either_order() {
    // DeepSource's own samples: an introduced and a resolved event sharing one id.
    for resolved_first in [false, true] {
        let app = spawn_app().await;
        let introduced = issue_event(INTRODUCED, "55", "RI55", 3, 1_700_000_000);
        let resolved = issue_event(RESOLVED, "55", "RI55", 3, 1_700_000_100);
        let (first, second) = if resolved_first {
            (&resolved, &introduced)
        } else {
            (&introduced, &resolved)
        };
        assert_eq!(app.deliver(first).await, "stored");
        assert_eq!(app.deliver(second).await, "stored");
        // Redeliveries of either, in any order, add nothing.
        for body in [first, second, second, first] {
            assert_eq!(app.deliver(body).await, "duplicate");
        }
        // Each event is synced once: the finding ends closed, with nothing open.
        app.run_worker().await.unwrap();
        assert_eq!(
            app.open_occurrences("RI55").await,
            0,
            "resolved_first: {resolved_first}"
        );
        assert_eq!(app.count_rows().await, (2, 2, 0));

        // The same id and type with other bytes is still a conflict, whichever key it has.
        let mut changed: serde_json::Value = serde_json::from_slice(second).unwrap();
        changed["createdAt"] = 1.into();
        let changed = serde_json::to_vec(&changed).unwrap();
        assert_eq!(app.deliver(&changed).await, "conflict");
        assert_eq!(app.deliver(&changed).await, "conflict");
        assert_eq!(app.count_rows().await, (2, 2, 1));
    }
}

#[tokio::test]
async fn two_types_under_one_id_in_one_batch_are_two_events() {
    let app = spawn_app().await;
    let introduced = issue_event(INTRODUCED, "56", "RI56", 2, 1_700_000_000);
    let resolved = issue_event(RESOLVED, "56", "RI56", 2, 1_700_000_100);
    let bodies = [&introduced, &resolved, &introduced, &resolved];
    let responses = futures_util::future::join_all(bodies.iter().map(|b| app.post_signed(b))).await;
    let mut statuses = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["id"], "56");
        statuses.push(json["status"].as_str().unwrap().to_owned());
    }
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "duplicate", "stored", "stored"]);
    assert_eq!(app.count_rows().await, (2, 2, 0));
}
