use futures_util::future::join_all;

use crate::helpers::{fixture, fixture_with_id, spawn_app};

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_event_store_it_once() {
    let app = spawn_app().await;
    let body = fixture("repository_issue_introduced.json");
    let responses = join_all((0..50).map(|_| app.post_signed(&body))).await;
    let mut statuses = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        statuses.push(json["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "stored").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "duplicate").count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(app.count_rows().await, (1, 1, 0));
}

#[tokio::test]
async fn concurrent_distinct_and_repeated_events_each_get_their_own_answer() {
    let app = spawn_app().await;
    // 40 distinct events, each sent twice, all at once: group commit puts many in one
    // transaction, and every request must still learn its own outcome.
    let bodies: Vec<Vec<u8>> = (0..40)
        .map(|i| fixture_with_id("repository_issue_introduced.json", &format!("9000{i}")))
        .collect();
    let requests = bodies.iter().chain(bodies.iter()).map(|b| app.post_signed(b));
    let mut stored = 0;
    let mut duplicate = 0;
    for response in join_all(requests).await {
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        match json["status"].as_str().unwrap() {
            "stored" => stored += 1,
            "duplicate" => duplicate += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((stored, duplicate), (40, 40));
    assert_eq!(app.count_rows().await, (40, 40, 0));
}
