//! `POST /github/webhooks`: GitHub's deliveries by the same rules as DeepSource's — 401 on a
//! bad signature, 400 on what GitHub would not send, 503 while the database is down, 200 only
//! once stored, stored once per `X-GitHub-Delivery`.
use std::time::Duration;

use deepsource_sync::domain::WebhookSecret;

use crate::helpers::{fixture, issue_event, sign, spawn_app, spawn_app_behind_proxy, TestApp, INTRODUCED};
use crate::people::{app_that, issues_event, post_github, Learns, GITHUB_SECRET};

fn github_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn stored(app: &TestApp, delivery: &str) -> Option<(String, Option<String>, String)> {
    sqlx::query_as("SELECT event_type, finding_id, outcome FROM github_events WHERE id = $1")
        .bind(delivery)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

async fn status_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    let text = body["status"]
        .as_str()
        .or(body["message"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, text)
}

#[tokio::test]
async fn ping_is_stored_and_answered_200_and_a_redelivery_is_a_duplicate() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let ping = github_fixture("ping.json");
    assert_eq!(
        status_of(post_github(&app, "ping", "d-1", &ping).await).await,
        (200, "stored".into())
    );
    assert_eq!(
        status_of(post_github(&app, "ping", "d-1", &ping).await).await,
        (200, "duplicate".into())
    );
    let (event_type, finding, outcome) = stored(&app, "d-1").await.unwrap();
    assert_eq!((event_type.as_str(), finding), ("ping", None));
    assert!(outcome.contains("ping"), "{outcome}");
    // Another body under the same id is kept aside, not dropped.
    let (status, text) = status_of(post_github(&app, "ping", "d-1", b"{\"zen\":\"other\"}").await).await;
    assert_eq!((status, text.as_str()), (200, "conflict"));
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM github_event_conflicts WHERE event_id = 'd-1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_401_and_nothing_is_stored() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let body = github_fixture("issues.reopened.json");
    let post = |signature: Option<String>| {
        let mut request = app
            .client
            .post(format!("{}/github/webhooks", app.address))
            .header("X-GitHub-Event", "issues")
            .header("X-GitHub-Delivery", "d-2")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send()
    };
    for signature in [
        None,
        Some(format!("sha256={}", sign("another-secret-0123456789", &body))),
        Some(sign(GITHUB_SECRET, &body)), // GitHub always says sha256=
        Some("sha256=zz".to_owned()),
    ] {
        let response = post(signature.clone()).await.unwrap();
        assert_eq!(response.status(), 401, "{signature:?}");
        let error = response.json::<serde_json::Value>().await.unwrap()["message"].to_string();
        assert!(error.contains("x-hub-signature-256"), "{error}");
    }
    assert_eq!(stored(&app, "d-2").await, None);
    // DeepSource's secret does not sign GitHub's deliveries, nor GitHub's DeepSource's.
    let signed = post(Some(format!("sha256={}", sign(crate::helpers::SECRET, &body))))
        .await
        .unwrap();
    assert_eq!(signed.status(), 401);
    let deepsource = issue_event(INTRODUCED, "x", "RI", 1, 1_700_000_000);
    let response = app
        .post_webhook(deepsource.clone(), Some(&sign(GITHUB_SECRET, &deepsource)))
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn what_github_would_not_send_is_400() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let (status, _) = status_of(post_github(&app, "issues", "d-3", b"not json").await).await;
    assert_eq!(status, 400);
    let (status, error) =
        status_of(post_github(&app, "issues", "d-4", br#"{"action":"closed"}"#).await).await;
    assert_eq!(status, 400);
    assert!(error.contains("issue"), "{error}");
    let body = github_fixture("ping.json");
    let response = app
        .client
        .post(format!("{}/github/webhooks", app.address))
        .header("X-GitHub-Event", "ping")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", sign(GITHUB_SECRET, &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, error) = status_of(response).await;
    assert_eq!(status, 400);
    assert!(error.contains("X-GitHub-Delivery"), "{error}");
    assert_eq!(stored(&app, "d-3").await, None);
}

#[tokio::test]
async fn events_about_issues_the_service_does_not_own_are_stored_and_ignored() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let body = github_fixture("issues.deleted.json");
    assert_eq!(
        status_of(post_github(&app, "issues", "d-5", &body).await).await.0,
        200
    );
    let (_, finding, outcome) = stored(&app, "d-5").await.unwrap();
    assert_eq!(finding, None);
    assert!(outcome.contains("not an issue of this service's"), "{outcome}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn an_older_event_delivered_late_changes_nothing() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    app.sync_event(INTRODUCED, "1", "RI-late", 1, 1_700_000_000).await;
    app.github
        .close_as_person(crate::helpers::SAMPLE_REPO, 1, "not_planned");
    let closed = issues_event(&app, "closed", |_| {});
    app.github.reopen_as_person(crate::helpers::SAMPLE_REPO, 1);
    let reopened = issues_event(&app, "reopened", |_| {});
    // GitHub sent them in order; they arrive the other way round.
    assert_eq!(post_github(&app, "issues", "r", &reopened).await.status(), 200);
    assert_eq!(post_github(&app, "issues", "c", &closed).await.status(), 200);
    let (_, finding, outcome) = stored(&app, "c").await.unwrap();
    assert_eq!(finding.as_deref(), Some("RI-late"));
    assert!(outcome.contains("older"), "{outcome}");
    let dismissed: Option<String> = sqlx::query_scalar("SELECT dismissed_reason FROM findings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(dismissed, None, "the newest event (a reopen) holds");
}

#[tokio::test]
async fn without_a_secret_the_endpoint_is_404() {
    let app = spawn_app().await;
    let response = post_github(&app, "ping", "d-6", &fixture("repository_issue_introduced.json")).await;
    assert_eq!(response.status(), 404);
    let error = response.json::<serde_json::Value>().await.unwrap()["message"].to_string();
    assert!(error.contains("GITHUB_WEBHOOK_SECRET"), "{error}");
}

#[tokio::test]
async fn the_database_down_is_503_with_retry_after() {
    let (app, proxy) = spawn_app_behind_proxy(|s| {
        s.github.webhook_secret = Some(WebhookSecret::parse(GITHUB_SECRET).unwrap());
        s.database.acquire_timeout = Duration::from_millis(500);
    })
    .await;
    proxy.refuse();
    let body = github_fixture("ping.json");
    let response = tokio::time::timeout(Duration::from_secs(30), post_github(&app, "ping", "d-7", &body))
        .await
        .expect("answered during the outage");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    proxy.resume();
    let response = post_github(&app, "ping", "d-7", &body).await;
    assert_eq!(response.status(), 200, "stored once the database is back");
}
