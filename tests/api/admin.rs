//! The admin API: findings, deliveries and jobs listed; dead jobs retried, deliveries replayed,
//! findings resynced, all behind ADMIN_TOKEN and with `{"error", "message"}` on every refusal.
use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{
    fixture_with_id, issue_event, spawn_app, spawn_app_with, Fault, TestApp, INTRODUCED, RESOLVED,
    SAMPLE_REPO,
};

pub const ADMIN_TOKEN: &str = "admin-token-0123456789";

pub async fn admin_app() -> TestApp {
    spawn_app_with(|s| s.operations.admin_token = Some(SecretString::from(ADMIN_TOKEN))).await
}

impl TestApp {
    pub async fn admin(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
        (status, body)
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.admin(reqwest::Method::GET, path).await
    }

    pub async fn admin_post(&self, path: &str) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path).await
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn without_admin_token_the_api_is_not_there_and_a_wrong_token_is_refused() {
    let app = spawn_app().await;
    let response = app.get("/api/findings").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_configured");
    assert!(
        body["message"].as_str().unwrap().contains("ADMIN_TOKEN"),
        "{body}"
    );

    let app = admin_app().await;
    for token in [None, Some("wrong"), Some("admin-token-012345678")] {
        let mut request = app.client.get(format!("{}/api/findings", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    let (status, body) = app.admin_get("/api/findings").await;
    assert_eq!((status, &body["findings"]), (200, &serde_json::json!([])));
    let (status, body) = app.admin_get("/api/nothing-here").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn findings_are_listed_by_state_and_repository_with_their_links_in_pages() {
    let app = admin_app().await;
    for (event, finding) in [("1", "RI-a"), ("2", "RI-b"), ("3", "RI-c")] {
        app.deliver(&issue_event(INTRODUCED, event, finding, 2, 1_700_000_000))
            .await;
    }
    app.deliver(&issue_event(RESOLVED, "4", "RI-c", 2, 1_700_000_100))
        .await;
    app.run_worker().await.unwrap();

    let (status, first) = app.admin_get("/api/findings?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first["findings"]), ["RI-a", "RI-b"]);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = app
        .admin_get(&format!("/api/findings?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second["findings"]), ["RI-c"]);
    assert!(second["next_cursor"].is_null());

    let a = &first["findings"][0];
    assert_eq!(a["state"], "open");
    assert_eq!(a["open_occurrences"], 2);
    assert_eq!(a["repository"], SAMPLE_REPO);
    assert_eq!(a["category"], "ANTI_PATTERN");
    let url = a["github_issue_url"].as_str().unwrap();
    let number = app.linked_issue("RI-a").await.unwrap();
    assert!(url.ends_with(&format!("/{SAMPLE_REPO}/issues/{number}")), "{url}");
    assert!(a["deepsource_url"]
        .as_str()
        .unwrap()
        .starts_with("https://app.deepsource.com/gh/"));

    let (_, closed) = app.admin_get("/api/findings?state=closed").await;
    assert_eq!(ids(&closed["findings"]), ["RI-c"]);
    let (_, open) = app
        .admin_get(&format!("/api/findings?state=open&repository={SAMPLE_REPO}"))
        .await;
    assert_eq!(ids(&open["findings"]), ["RI-a", "RI-b"]);
    let (_, elsewhere) = app.admin_get("/api/findings?repository=acme/other").await;
    assert_eq!(ids(&elsewhere["findings"]), Vec::<&str>::new());
    let (_, one) = app.admin_get("/api/findings/RI-b").await;
    assert_eq!(one["id"], "RI-b");

    for bad in ["?state=opne", "?limit=0", "?limit=many", "?cursor=%21%21"] {
        let (status, body) = app.admin_get(&format!("/api/findings{bad}")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {body}"
        );
    }
    let (status, body) = app.admin_get("/api/findings/RI-none").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_and_shown_with_their_body_and_outcome() {
    let app = admin_app().await;
    let bodies: Vec<Vec<u8>> = (1..=3)
        .map(|n| issue_event(INTRODUCED, &format!("e{n}"), "RI-a", 1, 1_700_000_000 + n))
        .collect();
    for body in &bodies {
        app.deliver(body).await;
    }
    app.deliver(&fixture_with_id("analysis_run_updated.json", "run-1"))
        .await;
    app.run_worker().await.unwrap();

    let (_, page) = app.admin_get("/api/deliveries?limit=3").await;
    assert_eq!(ids(&page["deliveries"]), ["run-1", "e3", "e2"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app.admin_get(&format!("/api/deliveries?cursor={cursor}")).await;
    assert_eq!(ids(&rest["deliveries"]), ["e1"]);
    assert_eq!(rest["deliveries"][0]["job"]["status"], "done");
    assert!(
        page["deliveries"][0]["job"].is_null(),
        "an analysis run needs no sync"
    );

    let (_, issues) = app.admin_get(&format!("/api/deliveries?type={INTRODUCED}")).await;
    assert_eq!(ids(&issues["deliveries"]), ["e3", "e2", "e1"]);
    let (_, recent) = app.admin_get("/api/deliveries?since=1h").await;
    assert_eq!(recent["deliveries"].as_array().unwrap().len(), 4);
    let (_, none) = app.admin_get("/api/deliveries?since=2999-01-01T00:00:00Z").await;
    assert_eq!(none["deliveries"], serde_json::json!([]));
    let (status, body) = app.admin_get("/api/deliveries?since=soon").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));

    let (status, one) = app.admin_get("/api/deliveries/e2").await;
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_slice(&bodies[1]).unwrap();
    assert_eq!(one["body"], sent, "the body as received");
    assert_eq!(
        one["raw_body"].as_str().unwrap().as_bytes(),
        &bodies[1][..],
        "byte for byte"
    );
    assert_eq!(one["type"], INTRODUCED);
    assert_eq!(one["finding_id"], "RI-a");
    assert_eq!(one["ledger"]["delta"], 1);
    assert_eq!(one["body_sha256"].as_str().unwrap().len(), 64);
    let (status, body) = app.admin_get("/api/deliveries/nope").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn a_dead_job_retried_syncs_its_finding() {
    let app = admin_app().await;
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000).await;
    assert_eq!(app.job_of("1").await.0, "dead");
    assert!(app.github.issues(SAMPLE_REPO).is_empty());

    let (_, dead) = app.admin_get("/api/jobs?status=dead").await;
    let job = &dead["jobs"][0];
    assert_eq!(
        (job["finding_id"].as_str(), job["delivery_id"].as_str()),
        (Some("RI-a"), Some("1"))
    );
    assert!(job["last_error"].as_str().unwrap().contains("404"), "{job}");
    let id = job["id"].as_i64().unwrap();

    let (status, retried) = app.admin_post(&format!("/api/jobs/{id}/retry")).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("pending"), Some(0))
    );
    let (status, again) = app.admin_post(&format!("/api/jobs/{id}/retry")).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("conflict")),
        "a pending job"
    );

    app.run_worker().await.unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    let (_, dead) = app.admin_get("/api/jobs?status=dead").await;
    assert_eq!(dead["jobs"], serde_json::json!([]));

    for (path, status, code) in [
        ("/api/jobs/999999/retry", 404, "not_found"),
        ("/api/jobs/abc/retry", 404, "not_found"),
        ("/api/jobs/retry", 400, "bad_request"),
        ("/api/jobs/retry?status=done", 400, "bad_request"),
    ] {
        let (got, body) = app.admin_post(path).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{path}");
    }
}

#[tokio::test]
async fn dead_jobs_are_retried_together_by_finding() {
    let app = admin_app().await;
    for (event, finding) in [("1", "RI-a"), ("2", "RI-b")] {
        app.github.fail_next("POST", Fault::Status(404));
        app.sync_event(INTRODUCED, event, finding, 1, 1_700_000_000).await;
        assert_eq!(app.job_of(event).await.0, "dead");
    }
    let (status, body) = app.admin_post("/api/jobs/retry?status=dead&finding=RI-b").await;
    assert_eq!((status, body["retried"].as_i64()), (200, Some(1)));
    assert_eq!(app.job_of("1").await.0, "dead", "another finding's job stays");
    assert_eq!(app.job_of("2").await.0, "pending");
    let (_, body) = app.admin_post("/api/jobs/retry?status=dead").await;
    assert_eq!(body["retried"], 1);
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 2);
}

#[tokio::test]
async fn a_replayed_delivery_is_applied_again_without_counting_twice() {
    let app = admin_app().await;
    app.sync_event(INTRODUCED, "1", "RI-a", 3, 1_700_000_000).await;
    let writes = app.github.writes();
    let issue = app.linked_issue("RI-a").await.unwrap();
    // Someone edited the count out of the issue by hand: a replay brings it back.
    sqlx::query(
        "UPDATE findings SET github_content_hash = 'stale', github_text_hash = 'stale' WHERE id = 'RI-a'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let (status, replayed) = app.admin_post("/api/deliveries/1/replay").await;
    assert_eq!(
        (status, replayed["was"].as_str()),
        (202, Some("done")),
        "{replayed}"
    );
    let (status, body) = app.admin_post("/api/deliveries/1/replay").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "queued already"
    );
    app.run_worker().await.unwrap();

    assert_eq!(app.open_occurrences("RI-a").await, 3, "the ledger holds");
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.linked_issue("RI-a").await, Some(issue), "no second issue");
    assert_eq!(app.github.writes(), writes + 1, "the issue rewritten once");
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 3 |"));

    app.deliver(&fixture_with_id("analysis_run_updated.json", "run-1"))
        .await;
    let (status, body) = app.admin_post("/api/deliveries/run-1/replay").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, body) = app.admin_post("/api/deliveries/nope/replay").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn resync_gives_a_deleted_issue_a_new_one_and_leaves_a_dismissal_to_its_person() {
    let app = admin_app().await;
    app.sync_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000).await;
    app.github.delete_as_person(SAMPLE_REPO, 1);
    app.sync_event(INTRODUCED, "2", "RI-a", 1, 1_700_000_100).await;
    let (_, finding) = app.admin_get("/api/findings/RI-a").await;
    assert_eq!(
        (finding["state"].as_str(), finding["dismissed_reason"].as_str()),
        (Some("dismissed"), Some("deleted"))
    );

    let (status, resync) = app.admin_post("/api/findings/RI-a/resync").await;
    assert_eq!(
        (status, resync["relinked"].as_bool()),
        (202, Some(true)),
        "{resync}"
    );
    app.run_worker().await.unwrap();
    let number = app.linked_issue("RI-a").await.expect("a new issue");
    assert_ne!(number, 1);
    let issue = app.github.issue(SAMPLE_REPO, number).unwrap();
    assert!(issue.body.contains("| Open occurrences | 2 |"), "{}", issue.body);
    let (_, finding) = app.admin_get("/api/findings/RI-a").await;
    assert_eq!(finding["state"], "open");

    // A finding whose issue a person closed as not planned stays theirs.
    app.sync_event(INTRODUCED, "3", "RI-b", 1, 1_700_000_000).await;
    let b = app.linked_issue("RI-b").await.unwrap();
    app.github.close_as_person(SAMPLE_REPO, b, "not_planned");
    app.sync_event(INTRODUCED, "4", "RI-b", 1, 1_700_000_100).await;
    let (status, body) = app.admin_post("/api/findings/RI-b/resync").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("not planned"));

    let (status, body) = app.admin_post("/api/findings/RI-none/resync").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn a_resync_goes_ahead_of_queued_events() {
    let app = admin_app().await;
    app.sync_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000).await;
    app.deliver(&issue_event(INTRODUCED, "2", "RI-b", 1, 1_700_000_000))
        .await;
    let (status, _) = app.admin_post("/api/findings/RI-a/resync").await;
    assert_eq!(status, 202);
    // One pass of one worker takes one finding: the resynced one first.
    app.worker().run_once().await.unwrap();
    let (_, jobs) = app.admin_get("/api/jobs?finding=RI-a").await;
    assert_eq!(jobs["jobs"][0]["status"], "done", "{jobs}");
    assert_eq!(app.job_of("2").await.0, "pending");
}
