//! Signatures checked against vectors computed outside this code:
//! `openssl dgst -sha256 -hmac SECRET tests/fixtures/deepsource/repository_issue_introduced.json`
use crate::helpers::{fixture, spawn_app, spawn_app_with, PREVIOUS_SECRET, SECRET};

const FIXTURE: &str = "repository_issue_introduced.json";
const ID: &str = "380143400734187723";
/// With `helpers::SECRET`.
const SIG_SECRET: &str = "95452b4b416a3eca21a8942540e5a5dbf5379e163067bec926eb666ff0836216";
/// With `helpers::PREVIOUS_SECRET`.
const SIG_PREVIOUS: &str = "feeab0c157f65f4030811900752c55bc23b79618ba39ecd83c5fcd1ae6d9f10c";
/// With `not-our-secret-0123456789`, which the service does not know.
const SIG_UNKNOWN: &str = "694b1c78b3a7f60ade38cf9f856633e21e5117603d32aee756704e23ebade5a1";

#[test]
fn vectors_match_the_secrets_they_claim() {
    assert_eq!(crate::helpers::sign(SECRET, &fixture(FIXTURE)), SIG_SECRET);
    assert_eq!(
        crate::helpers::sign(PREVIOUS_SECRET, &fixture(FIXTURE)),
        SIG_PREVIOUS
    );
}

#[tokio::test]
async fn accepted_forms_of_a_valid_signature() {
    let app = spawn_app().await;
    let body = fixture(FIXTURE);
    let upper = SIG_SECRET.to_uppercase();
    let prefixed = format!("sha256={SIG_SECRET}");
    for signature in [SIG_SECRET, upper.as_str(), prefixed.as_str(), SIG_PREVIOUS] {
        let response = app.post_webhook(body.clone(), Some(signature)).await;
        assert_eq!(response.status(), 200, "signature {signature}");
    }
    assert!(app.stored_event(ID).await.is_some());
}

#[tokio::test]
async fn every_bad_signature_is_401_and_stores_nothing() {
    let app = spawn_app().await;
    let body = fixture(FIXTURE);
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let cases: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
        ("missing", body.clone(), None, "missing"),
        ("not hex", body.clone(), Some("z".repeat(64)), "not hex"),
        (
            "too short",
            body.clone(),
            Some(SIG_SECRET[..62].to_owned()),
            "64 hex digits",
        ),
        (
            "too long",
            body.clone(),
            Some(format!("{SIG_SECRET}00")),
            "64 hex digits",
        ),
        (
            "unknown secret",
            body.clone(),
            Some(SIG_UNKNOWN.to_owned()),
            "does not match",
        ),
        (
            "body changed",
            tampered,
            Some(SIG_SECRET.to_owned()),
            "does not match",
        ),
    ];
    for (case, body, signature, message) in cases {
        let response = app.post_webhook(body, signature.as_deref()).await;
        assert_eq!(response.status(), 401, "{case}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(
            json["message"].as_str().unwrap().contains(message),
            "{case}: {json}"
        );
    }
    assert_eq!(app.count_rows().await, (0, 0, 0));
}

#[tokio::test]
async fn unsigned_events_are_accepted_only_when_signing_is_switched_off() {
    let app = spawn_app_with(|s| {
        s.webhook.secrets.clear();
        s.webhook.allow_unsigned = true;
    })
    .await;
    let response = app.post_webhook(fixture(FIXTURE), None).await;
    assert_eq!(response.status(), 200);
    assert!(app.stored_event(ID).await.is_some());
}
