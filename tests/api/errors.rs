use crate::helpers::{fixture, sign, spawn_app, spawn_app_with, SECRET};

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_field() {
    let app = spawn_app().await;
    let cases: [(&[u8], &str); 8] = [
        (b"not json", "not JSON"),
        (b"", "not JSON"),
        (br#"[{"id":"1","type":"x"}]"#, "not a JSON object"),
        (br#"{"type":"test.event"}"#, "`id`"),
        (br#"{"id":1.5,"type":"test.event"}"#, "`id`"),
        (br#"{"id":"","type":"test.event"}"#, "`id`"),
        (br#"{"id":"1"}"#, "`type`"),
        (br#"{"id":"1","type":42}"#, "`type`"),
    ];
    let long = "x".repeat(1025);
    let odd: [(String, &str); 5] = [
        (r#"{"id":"1","type":"a\u0000b"}"#.into(), "`type`"),
        (format!(r#"{{"id":"1","type":"{long}"}}"#), "`type`"),
        (r#"{"id":"a\u0000b","type":"test.event"}"#.into(), "`id`"),
        (
            format!(
                r#"{{"id":"1","type":"repository_issue.introduced","data":{{"object":{{"id":"{long}"}}}}}}"#
            ),
            "`data.object.id`",
        ),
        (
            r#"{"id":"1","type":"repository_issue.resolved","data":{"object":{"id":"R\u0000"}}}"#.into(),
            "`data.object.id`",
        ),
    ];
    let odd = odd.iter().map(|(body, field)| (body.as_bytes(), *field));
    for (body, field) in cases.into_iter().chain(odd) {
        let response = app.post_signed(body).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["error"], "bad_request", "a code scripts can match");
        assert!(json["message"].as_str().unwrap().contains(field), "{json}");
    }
    assert_eq!(app.count_rows().await, (0, 0, 0));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|s| s.webhook.max_body_bytes = 2048).await;
    let big = fixture("analysis_run_updated.json");
    assert!(big.len() > 2048);
    let response = app.post_signed(&big).await;
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.unwrap();
    assert!(json["message"].as_str().unwrap().contains("2048"));

    // Just under the limit still goes through.
    let small = fixture("repository_issue_resolved.json");
    assert!(small.len() <= 2048);
    assert_eq!(app.post_signed(&small).await.status(), 200);
    assert_eq!(app.count_rows().await.0, 1);
}

#[tokio::test]
async fn database_down_is_503_with_retry_after_and_the_retry_stores_it() {
    let app = spawn_app().await;
    let body = fixture("repository_issue_introduced.json");
    app.take_database_down().await;

    let response = app.post_webhook(body.clone(), Some(&sign(SECRET, &body))).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let json: serde_json::Value = response.json().await.unwrap();
    assert!(json["message"].as_str().unwrap().contains("retry"));
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);

    app.bring_database_back().await;
    assert_eq!(
        app.count_rows().await,
        (0, 0, 0),
        "nothing was stored while it said 503"
    );
    // DeepSource's retry then lands.
    assert_eq!(app.deliver_when_back(&body).await, "stored");
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.count_rows().await, (1, 1, 0));
}

#[tokio::test]
async fn bytes_that_are_not_utf8_anywhere_in_the_body_are_400() {
    let app = spawn_app().await;
    // serde skips fields it does not read without looking inside them: the bad bytes sit in
    // an unknown field, in `data`, and in a key.
    let cases: [&[u8]; 3] = [
        b"{\"id\":\"1\",\"type\":\"test.event\",\"extra\":\"\xff\xfe\"}",
        b"{\"id\":\"2\",\"type\":\"test.event\",\"data\":{\"object\":{\"title\":\"caf\xe9\"}}}",
        b"{\"id\":\"3\",\"type\":\"test.event\",\"\xc3\x28\":1}",
    ];
    for body in cases {
        let response = app.post_signed(body).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(json["message"].as_str().unwrap().contains("UTF-8"), "{json}");
    }
    assert_eq!(app.count_rows().await, (0, 0, 0));
}
