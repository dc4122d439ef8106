use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::helpers::{fixture, spawn_app};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[tokio::test]
async fn every_sample_payload_is_stored_byte_for_byte() {
    let app = spawn_app().await;
    let samples = [
        (
            "analysis_run_updated.json",
            "390137996571050950",
            "analysis_run.updated",
            at(1642069966),
        ),
        (
            "autofix_run_started.json",
            "402328203101736027",
            "autofix_run.started",
            at(1649335896),
        ),
        (
            "autofix_run_updated.json",
            "402328306801706043",
            "autofix_run.updated",
            at(1649335958),
        ),
        (
            "repository_issue_introduced.json",
            "380143400734187723",
            "repository_issue.introduced",
            at(1642070207),
        ),
        (
            "test_event.json",
            "390137996571050951",
            "test.event",
            at(1642070207),
        ),
        // The dashboard's older envelope: ISO `created`, `version`, `data.Test`.
        (
            "test_event_legacy.json",
            "370440586387259393",
            "test.event",
            at(1642070207) + chrono::Duration::microseconds(123456),
        ),
    ];
    for (file, id, event_type, event_time) in samples {
        let body = fixture(file);
        let response = app.post_signed(&body).await;
        assert_eq!(response.status(), 200, "{file}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json, serde_json::json!({"id": id, "status": "stored"}), "{file}");

        let stored = app.stored_event(id).await.expect("stored");
        assert_eq!(stored.body, body, "{file} is kept byte-for-byte");
        assert_eq!(stored.body_sha256, Sha256::digest(&body).to_vec());
        assert_eq!(stored.event_type, event_type);
        assert_eq!(stored.event_time, event_time, "{file}");
    }
    // Only the issue event and the Autofix result are work for the sync worker.
    assert_eq!(app.count_rows().await, (6, 2, 0));
    let autofix = app.jobs_for("402328306801706043").await;
    assert_eq!(autofix.len(), 1);
    assert_eq!(autofix[0].finding_id, None, "it may concern several findings");
    let jobs = app.jobs_for("380143400734187723").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].finding_id.as_deref(),
        Some("PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==")
    );
    assert_eq!((jobs[0].status.as_str(), jobs[0].attempts), ("pending", 0));

    // The published resolved sample reuses the introduced sample's id: another type under a
    // known id is another event, stored (under a key of its own) and synced.
    let resolved = fixture("repository_issue_resolved.json");
    let response = app.post_signed(&resolved).await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": "380143400734187723", "status": "stored"})
    );
    assert_eq!(app.count_rows().await, (7, 3, 0));
}

#[tokio::test]
async fn a_resolved_event_queues_its_own_job() {
    let app = spawn_app().await;
    let body = crate::helpers::fixture_with_id("repository_issue_resolved.json", "500000000000000001");
    assert_eq!(app.deliver(&body).await, "stored");
    let jobs = app.jobs_for("500000000000000001").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].finding_id.as_deref(),
        Some("PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==")
    );
}

#[tokio::test]
async fn unknown_types_odd_times_and_unusable_objects_are_still_stored() {
    let app = spawn_app().await;
    let before = Utc::now();
    let unknown = br#"{"id":"1","type":"repository.analysis.paused","createdAt":"later","data":[1,2]}"#;
    let no_time = br#"{"id":"2","type":"team_member.added"}"#;
    let issue_without_object =
        br#"{"id":"3","type":"repository_issue.introduced","createdAt":1642070207,"data":{"object":null}}"#;
    for body in [&unknown[..], no_time, issue_without_object] {
        assert_eq!(app.deliver(body).await, "stored");
    }
    let after = Utc::now();

    for id in ["1", "2"] {
        let stored = app.stored_event(id).await.unwrap();
        assert!(
            stored.event_time >= before - chrono::Duration::milliseconds(1) && stored.event_time <= after
        );
        assert_eq!(
            stored.event_time, stored.received_at,
            "event time falls back to the receipt time"
        );
    }
    // The job exists, with no finding: the worker will fail it with the reason.
    let jobs = app.jobs_for("3").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].finding_id, None);
    assert_eq!(app.count_rows().await, (3, 1, 0));
}

#[tokio::test]
async fn numeric_ids_are_stored_as_their_decimal_string() {
    let app = spawn_app().await;
    let response = app
        .post_signed(br#"{"id":380143400734187999,"type":"test.event"}"#)
        .await;
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["id"], "380143400734187999");
    assert!(app.stored_event("380143400734187999").await.is_some());
}

#[tokio::test]
async fn an_event_time_postgres_cannot_store_falls_back_to_receipt_time_and_spares_its_neighbours() {
    let app = spawn_app().await;
    // chrono accepts year -5000; Postgres' timestamptz does not.
    let odd = br#"{"id":"odd","type":"test.event","createdAt":-220000000000}"#.to_vec();
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|i| crate::helpers::fixture_with_id("repository_issue_introduced.json", &format!("61{i}")))
        .chain([odd])
        .collect();
    let responses = futures_util::future::join_all(bodies.iter().map(|b| app.post_signed(b))).await;
    for response in responses {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.count_rows().await, (21, 20, 0));
    let stored = app.stored_event("odd").await.unwrap();
    assert_eq!(stored.event_time, stored.received_at);
}
