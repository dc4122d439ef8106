//! `GET /metrics`. The intake's counters are the app's own (exact counts); GitHub's are the
//! process's, shared with every test running beside this one (so only their rise is asserted).
use crate::helpers::{
    fixture, fixture_with_id, issue_event, spawn_app, spawn_app_behind_proxy, spawn_app_with, TestApp,
    INTRODUCED, RESOLVED,
};

/// The value of the series `name` with (at least) these labels; 0 when it is not shown.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")))
        })
        .map_or(0.0, |(_, value)| value.parse().expect("a number"))
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

const REQUESTS: &str = "deepsource_sync_webhook_requests_total";

#[tokio::test]
async fn stored_duplicate_and_bad_signature_deliveries_count_one_each() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    for outcome in ["stored", "duplicate", "conflict", "bad_signature", "too_large"] {
        // Every outcome is there from the start, at zero.
        assert!(
            before.contains(&format!("{REQUESTS}{{outcome=\"{outcome}\"}} 0")),
            "{before}"
        );
    }

    let body = fixture("test_event.json");
    assert_eq!(app.deliver(&body).await, "stored");
    assert_eq!(app.deliver(&body).await, "duplicate");
    let forged = app.post_webhook(body.clone(), Some(&"0".repeat(64))).await;
    assert_eq!(forged.status(), 401);

    let after = scrape(&app).await;
    for (outcome, count) in [
        ("stored", 1.0),
        ("duplicate", 1.0),
        ("bad_signature", 1.0),
        ("conflict", 0.0),
        ("bad_request", 0.0),
    ] {
        assert_eq!(
            sample(&after, REQUESTS, &[("outcome", outcome)]),
            count,
            "{outcome}: {after}"
        );
    }
    // The two that reached the database were timed.
    assert_eq!(
        sample(&after, "deepsource_sync_webhook_ingest_seconds_count", &[]),
        2.0
    );
    assert!(after.contains("deepsource_sync_webhook_ingest_seconds_bucket{le=\"0.005\"}"));
}

#[tokio::test]
async fn a_sync_counts_its_create_at_github() {
    let app = spawn_app().await;
    let create_ok = [("operation", "create"), ("outcome", "ok")];
    let before = sample(
        &scrape(&app).await,
        "deepsource_sync_github_requests_total",
        &create_ok,
    );
    app.sync_event(INTRODUCED, "m1", "RI-metrics-1", 2, 1_700_000_000)
        .await;
    assert_eq!(app.github.issues(crate::helpers::SAMPLE_REPO).len(), 1);
    let after = scrape(&app).await;
    let counted = sample(&after, "deepsource_sync_github_requests_total", &create_ok);
    // Other tests in this process create issues too: this one's create is at least among them.
    assert!(counted >= before + 1.0, "{before} -> {counted}: {after}");
    assert!(after.contains("# TYPE deepsource_sync_github_budget_wait_seconds histogram"));
}

#[tokio::test]
async fn the_gauges_show_the_database() {
    let app = spawn_app().await;
    for (n, finding) in ["RI1", "RI2", "RI3", "RI4"].iter().enumerate() {
        let event = issue_event(INTRODUCED, &format!("e{n}"), finding, 1, 1_700_000_000);
        app.deliver(&event).await;
    }
    app.run_worker().await.unwrap();
    // RI3 resolved (its issue closed), RI2 dismissed by a person, RI4 failed for good.
    app.sync_event(RESOLVED, "r3", "RI3", 1, 1_700_000_100).await;
    sqlx::query("UPDATE findings SET dismissed_reason = 'not_planned' WHERE id = 'RI2'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE findings SET unsynced_under = '' WHERE id = 'RI4'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sync_jobs (finding_id, status, last_error) VALUES ('RI4', 'dead', 'gave up')")
        .execute(&app.pool)
        .await
        .unwrap();
    // One event waiting, queued a minute ago; one repository compared two minutes ago.
    app.deliver(&issue_event(INTRODUCED, "e9", "RI9", 1, 1_700_000_000))
        .await;
    sqlx::query("UPDATE sync_jobs SET created_at = now() - interval '60 seconds' WHERE event_id = 'e9'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO repository_reconciles (repository_key, provider, login, name, last_finished_at)
         VALUES ('github:acme/api', 'GITHUB', 'acme', 'api', now() - interval '120 seconds')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_jobs WHERE status = 'done'")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let text = scrape(&app).await;
    let jobs = |status| sample(&text, "deepsource_sync_jobs", &[("status", status)]);
    assert_eq!(jobs("pending"), 1.0, "{text}");
    assert_eq!(jobs("dead"), 1.0);
    assert_eq!(jobs("running"), 0.0);
    assert_eq!(jobs("done"), done as f64);
    let oldest = sample(&text, "deepsource_sync_oldest_pending_job_age_seconds", &[]);
    assert!((60.0..120.0).contains(&oldest), "{oldest}");
    let findings = |state| sample(&text, "deepsource_sync_findings", &[("state", state)]);
    assert_eq!(
        [
            findings("open"),
            findings("closed"),
            findings("dismissed"),
            findings("failed")
        ],
        [1.0, 1.0, 1.0, 1.0],
        "{text}"
    );
    let age = sample(
        &text,
        "deepsource_sync_snapshot_age_seconds",
        &[("repository", "github:acme/api")],
    );
    assert!((120.0..180.0).contains(&age), "{age}");
}

#[tokio::test]
async fn scrapes_within_the_cache_window_read_the_database_once() {
    let (app, proxy) = spawn_app_behind_proxy(|_| {}).await;
    // A job, so there is something to count.
    app.deliver(&fixture_with_id("repository_issue_introduced.json", "c1"))
        .await;
    let before = proxy.bytes_to_server();
    let first = scrape(&app).await;
    let one_read = proxy.bytes_to_server() - before;
    assert!(one_read > 0, "the first scrape reads the database");
    assert_eq!(
        sample(&first, "deepsource_sync_jobs", &[("status", "pending")]),
        1.0
    );

    let before = proxy.bytes_to_server();
    let scrapes = (0..50).map(|_| scrape(&app));
    let mut texts = futures_util::future::join_all(scrapes).await;
    for _ in 0..20 {
        texts.push(scrape(&app).await);
    }
    let flood = proxy.bytes_to_server() - before;
    assert!(
        flood < one_read,
        "70 scrapes sent {flood} bytes to the database; one read sends {one_read}"
    );
    assert!(texts
        .iter()
        .all(|t| sample(t, "deepsource_sync_jobs", &[("status", "pending")]) == 1.0));
}

#[tokio::test]
async fn metrics_token_guards_the_endpoint() {
    let token = "scrape-token-0123456789";
    let app = spawn_app_with(|s| s.metrics_token = Some(token.to_owned().into())).await;
    let url = format!("{}/metrics", app.address);
    let without = app.client.get(&url).send().await.unwrap();
    assert_eq!(without.status(), 401);
    assert_eq!(without.headers()["www-authenticate"], "Bearer");
    for wrong in [
        "Bearer wrong-token",
        "Bearer scrape-token-012345678",
        "scrape-token-0123456789",
    ] {
        let answer = app
            .client
            .get(&url)
            .header("authorization", wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{wrong}");
    }
    let right = app
        .client
        .get(&url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains(REQUESTS));
}

#[tokio::test]
async fn requests_to_deepsource_are_counted_by_outcome() {
    use deepsource_sync::deepsource::{take_snapshot, DeepSource, RepositoryRef};

    use crate::fake_deepsource::{FakeDeepSource, Finding, TOKEN};

    let app = spawn_app().await;
    let counted = |text: &str, outcome| {
        sample(
            text,
            "deepsource_sync_deepsource_requests_total",
            &[("outcome", outcome)],
        )
    };
    let before = scrape(&app).await;
    let fake = FakeDeepSource::start();
    fake.set_open(
        "acme/api",
        vec![Finding::new("RI1", "PYL-W0001", "MAJOR", "a.py", 1)],
    );
    let repository = RepositoryRef {
        provider: "GITHUB".into(),
        login: "acme".into(),
        name: "api".into(),
    };
    let client = |token: &str| DeepSource::new(&fake.url, token.to_owned().into()).unwrap();
    take_snapshot(&client(TOKEN), &repository).await.unwrap();
    assert!(take_snapshot(&client("not-the-token"), &repository)
        .await
        .is_err());
    let after = scrape(&app).await;
    // Process-wide, like GitHub's: at least this test's requests.
    assert!(counted(&after, "ok") >= counted(&before, "ok") + 1.0, "{after}");
    assert!(counted(&after, "unauthorized") >= counted(&before, "unauthorized") + 1.0);
}
