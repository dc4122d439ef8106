//! The reconciler: repositories compared with DeepSource after events that may change what is
//! open, on a timer, and from the start for DEEPSOURCE_REPOSITORIES; failures change nothing.
use std::time::Duration;

use deepsource_sync::domain::RepositoryRef;
use deepsource_sync::reconcile::{Pass, Reconciler};
use secrecy::SecretString;

use crate::fake_deepsource::{FakeDeepSource, Fault, Finding, TOKEN};
use crate::helpers::{fixture, issue_event, spawn_app_with, TestApp, INTRODUCED, SAMPLE_REPO};

const COMPARED_ONE: Pass = Pass {
    compared: 1,
    failed: 0,
};
const FAILED_ONE: Pass = Pass {
    compared: 0,
    failed: 1,
};

async fn app_with_deepsource(
    fake: &FakeDeepSource,
    customise: impl FnOnce(&mut deepsource_sync::configuration::Settings),
) -> TestApp {
    let url = fake.url.clone();
    spawn_app_with(move |s| {
        s.deepsource.token = Some(SecretString::from(TOKEN.to_owned()));
        s.deepsource.api_url = url;
        s.deepsource.reconcile_delay = Duration::ZERO;
        s.deepsource.reconcile_interval = None;
        customise(s);
    })
    .await
}

fn reconciler(app: &TestApp) -> Reconciler {
    Reconciler::new(app.pool.clone(), &app.settings)
        .unwrap()
        .expect("a token is set")
}

/// As if the events had arrived a while ago: the reconciler reads only events old enough that
/// none received before them can still be committing.
async fn age_events(app: &TestApp) {
    sqlx::query("UPDATE webhook_events SET received_at = received_at - interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
}

fn analysis_run(id: &str, branch: &str) -> Vec<u8> {
    let mut event: serde_json::Value = serde_json::from_slice(&fixture("analysis_run_updated.json")).unwrap();
    event["id"] = id.into();
    event["data"]["object"]["branchName"] = branch.into();
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn a_full_run_on_the_default_branch_brings_github_in_line_with_deepsource() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake, |_| {}).await;
    for (event, finding, count) in [("e1", "RI-up", 2), ("e2", "RI-gone", 1)] {
        app.deliver(&issue_event(INTRODUCED, event, finding, count, 1_700_000_000))
            .await;
    }
    app.run_worker().await.unwrap();
    age_events(&app).await;
    let mut reconciler = reconciler(&app);
    // The issue events scheduled a comparison: DeepSource agrees with them so far.
    fake.set_open(
        SAMPLE_REPO,
        vec![
            Finding::new("RI-up", "GO-W1001", "MAJOR", "cmd/up.go", 2),
            Finding::new("RI-gone", "GO-W1002", "MAJOR", "cmd/gone.go", 1),
        ],
    );
    assert_eq!(reconciler.run_once().await.unwrap(), COMPARED_ONE);
    assert_eq!(
        reconciler.run_once().await.unwrap(),
        Pass::default(),
        "once, not on every pass"
    );

    // A full run changes what is open and sends no issue events: only the analysis run says so.
    fake.set_open(
        SAMPLE_REPO,
        vec![
            Finding::new("RI-up", "GO-W1001", "MAJOR", "cmd/up.go", 5),
            Finding::new("RI-new", "GO-W1003", "CRITICAL", "cmd/new.go", 1),
        ],
    );
    app.deliver(&analysis_run("run-on-a-branch", "patch-1")).await;
    age_events(&app).await;
    assert_eq!(
        reconciler.run_once().await.unwrap(),
        Pass::default(),
        "a branch's run changes nothing open"
    );
    app.deliver(&analysis_run("run-on-master", "master")).await;
    age_events(&app).await;
    assert_eq!(reconciler.run_once().await.unwrap(), COMPARED_ONE);
    app.run_worker().await.unwrap();
    assert_eq!(app.open_occurrences("RI-up").await, 5);
    assert_eq!(app.open_occurrences("RI-gone").await, 0);
    let issues = app.github.issues(SAMPLE_REPO);
    let open: Vec<_> = issues
        .iter()
        .filter(|i| i.state == "open")
        .map(|i| i.title.clone())
        .collect();
    assert_eq!(open.len(), 2, "{open:?}");
    assert_eq!(issues.len(), 3);
}

#[tokio::test]
async fn a_failed_comparison_changes_nothing_and_is_tried_again_later() {
    let fake = FakeDeepSource::start();
    let tracked = RepositoryRef::parse("acme/api", "GITHUB").unwrap();
    let app = app_with_deepsource(&fake, |s| s.deepsource.repositories = vec![tracked]).await;
    fake.set_open(
        "acme/api",
        vec![Finding::new("RI-1", "GO-W1001", "MAJOR", "cmd/a.go", 3)],
    );
    fake.fail_request(1, Fault::Status(502));
    let mut reconciler = reconciler(&app);
    // Tracked from the start, before any event: compared at once, and the 502 fails it.
    assert_eq!(reconciler.run_once().await.unwrap(), FAILED_ONE);
    let (findings, error): (i64, Option<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM findings), (SELECT last_error FROM repository_reconciles)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(findings, 0);
    assert!(error.unwrap().contains("502"));
    assert_eq!(
        reconciler.run_once().await.unwrap(),
        Pass::default(),
        "backing off"
    );

    sqlx::query("UPDATE repository_reconciles SET due_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(reconciler.run_once().await.unwrap(), COMPARED_ONE);
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues("acme/api").len(), 1, "backfilled");
}

#[tokio::test]
async fn a_rejected_token_pauses_comparisons_without_touching_findings() {
    let fake = FakeDeepSource::start();
    let tracked = RepositoryRef::parse("acme/api", "GITHUB").unwrap();
    let app = app_with_deepsource(&fake, |s| {
        s.deepsource.repositories = vec![tracked];
        s.deepsource.token = Some(SecretString::from("expired-token".to_owned()));
    })
    .await;
    fake.set_open("acme/api", Vec::new());
    let mut reconciler = reconciler(&app);
    assert_eq!(reconciler.run_once().await.unwrap(), FAILED_ONE);
    sqlx::query("UPDATE repository_reconciles SET due_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    let before = fake.requests();
    assert_eq!(reconciler.run_once().await.unwrap(), Pass::default());
    assert_eq!(fake.requests(), before, "paused: nothing sent");
}

#[tokio::test]
async fn the_timer_compares_every_known_repository_again() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake, |s| {
        s.deepsource.reconcile_interval = Some(Duration::from_millis(1))
    })
    .await;
    app.deliver(&issue_event(INTRODUCED, "e1", "RI-1", 1, 1_700_000_000))
        .await;
    app.run_worker().await.unwrap();
    fake.set_open(
        SAMPLE_REPO,
        vec![Finding::new("RI-1", "GO-W1001", "MAJOR", "cmd/a.go", 1)],
    );
    let mut reconciler = reconciler(&app);
    // The event is too young to be read yet; the first pass only starts the timer.
    assert_eq!(reconciler.run_once().await.unwrap(), Pass::default());
    tokio::time::sleep(Duration::from_millis(5)).await; // past the 1 ms interval
    assert_eq!(reconciler.run_once().await.unwrap(), COMPARED_ONE);
}

#[tokio::test]
async fn a_burst_of_events_makes_one_comparison_reconcile_delay_after_the_last() {
    let fake = FakeDeepSource::start();
    let app = app_with_deepsource(&fake, |s| s.deepsource.reconcile_delay = Duration::from_secs(120)).await;
    fake.set_open(
        SAMPLE_REPO,
        vec![Finding::new("RI-1", "GO-W1001", "MAJOR", "cmd/a.go", 3)],
    );
    for (event, minutes_ago) in [("e1", 10), ("e2", 3), ("e3", 1)] {
        app.deliver(&issue_event(INTRODUCED, event, "RI-1", 1, 1_700_000_000))
            .await;
        sqlx::query(
            "UPDATE webhook_events SET received_at = now() - make_interval(mins => $2) WHERE id = $1",
        )
        .bind(event)
        .bind(minutes_ago)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let mut reconciler = reconciler(&app);
    // The last event came a minute ago: its repository is due in another minute, not now.
    assert_eq!(reconciler.run_once().await.unwrap(), Pass::default());
    let due_in: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM due_at - now())::float8 FROM repository_reconciles")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!((50.0..=61.0).contains(&due_in), "due in {due_in} s");
    // As if that minute had passed: one comparison for the three events.
    sqlx::query("UPDATE repository_reconciles SET due_at = due_at - interval '61 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(reconciler.run_once().await.unwrap(), COMPARED_ONE);
    assert_eq!(reconciler.run_once().await.unwrap(), Pass::default());
    assert_eq!(fake.requests(), 1);
}
