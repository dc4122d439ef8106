//! The sync worker when GitHub fails, limits, or loses answers.
use chrono::Utc;
use deepsource_sync::sync::WorkerError;

use crate::helpers::{issue_event, spawn_app, spawn_app_with, Fault, INTRODUCED, SAMPLE_REPO};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";

#[tokio::test]
async fn a_create_whose_answer_is_lost_never_makes_a_second_issue() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    let (status, error, next) = app.job_of("1").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().contains("502"));
    assert!(next > Utc::now(), "retried later, with backoff");
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1, "GitHub did create it");
    assert!(
        app.create_intent(FINDING).await,
        "the create's outcome is unknown"
    );

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        app.github.issues(SAMPLE_REPO).len(),
        1,
        "found by its marker, not created again"
    );
    assert_eq!(app.job_of("1").await.0, "done");
    let posts = app.github.calls().iter().filter(|c| c.method == "POST").count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_lost_create_is_found_even_before_search_has_indexed_it() {
    let app = spawn_app().await;
    app.github.make_search_stale();
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert!(app
        .github
        .calls()
        .iter()
        .any(|c| c.path.contains("/issues?state=all")));
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::Status(500));
    app.github.fail_next("POST", Fault::Status(503));
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert!(app.github.issues(SAMPLE_REPO).is_empty());
    let attempts = app.attempts_of("1").await;
    assert_eq!(attempts, 2);
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.job_of("1").await.0, "done");
}

async fn rate_limited_then_recovered(fault: Fault, min_wait_secs: i64) {
    let app = spawn_app().await;
    app.github.fail_next("POST", fault);
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000))
        .await;
    let before = Utc::now();
    app.run_worker().await.unwrap();
    let (status, error, next) = app.job_of("1").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().contains("rate limited"));
    assert!(
        (next - before).num_seconds() >= min_wait_secs - 1,
        "waits {min_wait_secs}s, got {}",
        next - before
    );
    let blocked: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT max(blocked_until) FROM github_budget")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        blocked.unwrap() >= next - chrono::Duration::seconds(1),
        "the whole credential backs off"
    );
    // Nothing more is sent until then.
    let calls = app.github.calls().len();
    app.run_worker().await.unwrap();
    assert_eq!(app.github.calls().len(), calls);

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    let attempts = app.attempts_of("1").await;
    assert_eq!(attempts, 1, "waiting out a rate limit uses up no attempt");
}

#[tokio::test]
async fn a_secondary_limit_with_retry_after_is_waited_out() {
    rate_limited_then_recovered(
        Fault::SecondaryLimit {
            retry_after: Some(30),
        },
        30,
    )
    .await;
}

#[tokio::test]
async fn a_secondary_limit_without_headers_waits_a_minute() {
    rate_limited_then_recovered(Fault::SecondaryLimit { retry_after: None }, 60).await;
}

#[tokio::test]
async fn too_many_requests_waits_a_minute() {
    rate_limited_then_recovered(Fault::TooManyRequests, 60).await;
}

#[tokio::test]
async fn a_missing_repository_ends_the_job_dead_with_the_reason() {
    let app = spawn_app().await;
    app.github.remove_repo(SAMPLE_REPO);
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("404"));
    assert!(
        !app.create_intent(FINDING).await,
        "GitHub said no: nothing to look for later"
    );
}

#[tokio::test]
async fn bad_credentials_pause_the_worker_and_keep_the_jobs() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::Unauthorized);
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000))
        .await;
    let result = app.run_worker().await;
    assert!(matches!(result, Err(WorkerError::Unauthorized(_))), "{result:?}");
    let (status, _, _) = app.job_of("1").await;
    assert_eq!(status, "pending");
    let attempts = app.attempts_of("1").await;
    assert_eq!(attempts, 0);
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn the_write_budget_spaces_writes_and_reschedules_when_spent() {
    let app = spawn_app_with(|s| {
        s.github.min_write_interval = std::time::Duration::from_millis(200);
        s.github.writes_per_minute = 2;
    })
    .await;
    for i in 0..3 {
        app.deliver(&issue_event(
            INTRODUCED,
            &i.to_string(),
            &format!("f{i}"),
            1,
            1_700_000_000,
        ))
        .await;
    }
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 2, "two writes a minute");
    assert_eq!(app.github.violations(), 0);
    let (status, error, next) = app.job_of("2").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().contains("budget"));
    assert!(next > Utc::now() + chrono::Duration::seconds(30));
    assert!(
        !app.create_intent("f2").await,
        "no create was attempted, so none is looked for later"
    );
    let gaps: Vec<chrono::Duration> = sqlx::query_scalar::<_, chrono::DateTime<Utc>>(
        "SELECT written_at FROM github_writes ORDER BY written_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .windows(2)
    .map(|w| w[1] - w[0])
    .collect();
    assert!(gaps.iter().all(|g| g.num_milliseconds() >= 200), "{gaps:?}");
}

#[tokio::test]
async fn two_workers_never_sync_one_finding_at_once() {
    let app = spawn_app().await;
    for i in 0..6 {
        app.deliver(&issue_event(
            INTRODUCED,
            &i.to_string(),
            FINDING,
            1,
            1_700_000_000 + i,
        ))
        .await;
    }
    let (a, b) = (app.worker(), app.worker());
    let (ra, rb) = tokio::join!(a.run_until_idle(), b.run_until_idle());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.jobs + rb.jobs, 6);
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.open_occurrences(FINDING).await, 6);
}

#[tokio::test]
async fn a_worker_that_died_mid_job_is_taken_over_after_its_lease() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000))
        .await;
    // A worker claimed the finding and died: its lease and the job's are still running.
    sqlx::query("UPDATE sync_jobs SET status = 'running', attempts = 1, lease_expires_at = now() + interval '1 minute'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO finding_leases VALUES ($1, gen_random_uuid(), now() + interval '1 minute')")
        .bind(FINDING)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.run_worker().await.unwrap().jobs, 0, "still leased");
    sqlx::query("UPDATE sync_jobs SET lease_expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE finding_leases SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.run_worker().await.unwrap().jobs, 1);
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
}

#[tokio::test]
async fn a_github_app_finds_its_installation_and_uses_its_token() {
    let key_path = format!(
        "{}/tests/fixtures/github_app_test_key.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let app = spawn_app_with(|s| {
        s.github.auth = deepsource_sync::configuration::GitHubAuth::App {
            app_id: 12345,
            private_key: std::fs::read_to_string(&key_path).unwrap().into(),
        }
    })
    .await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    let paths: Vec<String> = app.github.calls().into_iter().map(|c| c.path).collect();
    assert!(
        paths[0].starts_with("/repos/deepsourcelabs/demo-go/installation"),
        "{paths:?}"
    );
    assert!(paths
        .iter()
        .any(|p| p.starts_with("/app/installations/4242/access_tokens")));
}

#[tokio::test]
async fn no_lookup_goes_out_while_github_has_asked_the_credential_to_pause() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
    // Another finding's write was answered with a long secondary-limit pause meanwhile.
    app.make_everything_due().await;
    sqlx::query("UPDATE github_budget SET blocked_until = now() + interval '10 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    let calls = app.github.calls().len();
    app.run_worker().await.unwrap();
    assert_eq!(app.github.calls().len(), calls, "not even a search");
    let (status, _, next) = app.job_of("1").await;
    assert_eq!(status, "pending");
    assert!(next > Utc::now() + chrono::Duration::minutes(9));
    assert_eq!(app.attempts_of("1").await, 1, "waiting uses up no attempt");
}

/// A pause GitHub asked for holds reads too: a short one is waited out inline (the read before a
/// write, without GITHUB_WEBHOOK_SECRET), a long one reschedules the jobs instead of holding the
/// worker.
#[tokio::test]
async fn a_read_waits_out_a_short_pause_inline_and_reschedules_for_a_long_one() {
    const FINDING: &str = "RI-paused";
    let due_now = |app: &crate::helpers::TestApp| {
        let pool = app.pool.clone();
        async move {
            sqlx::query("UPDATE sync_jobs SET next_attempt_at = now() WHERE status = 'pending'")
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    for (pause, inline) in [(1, true), (120, false)] {
        let app = spawn_app().await;
        app.sync_event(INTRODUCED, "1", FINDING, 1, 1_700_000_000).await;
        app.github.fail_next(
            "PATCH",
            Fault::SecondaryLimit {
                retry_after: Some(pause),
            },
        );
        app.sync_event(INTRODUCED, "2", FINDING, 1, 1_700_000_100).await;
        assert_eq!(app.job_of("2").await.0, "pending", "paused by GitHub");
        // Due again while the pause lasts: the next sync begins with a read.
        due_now(&app).await;
        let pass = tokio::time::timeout(std::time::Duration::from_secs(30), app.run_worker())
            .await
            .expect("the worker does not sit out a long pause");
        pass.unwrap();
        let body = &app.github.issues(SAMPLE_REPO)[0].body;
        if inline {
            assert_eq!(app.job_of("2").await.0, "done", "{pause} s: waited out inline");
            assert!(body.contains("| Open occurrences | 2 |"), "{body}");
        } else {
            let (status, error, _) = app.job_of("2").await;
            assert_eq!(status, "pending", "{pause} s: rescheduled");
            assert!(error.unwrap_or_default().contains("budget"));
            assert!(
                body.contains("| Open occurrences | 1 |"),
                "nothing written in the pause"
            );
        }
    }
}
