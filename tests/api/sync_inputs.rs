//! Odd events, odd GitHub answers and odd clocks: a finding is never stuck behind one of them.
use chrono::Utc;
use deepsource_sync::sync::Worker;
use serde_json::json;

use crate::helpers::{issue_event, issue_event_with, spawn_app, Fault, INTRODUCED, RESOLVED, SAMPLE_REPO};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";
const T: i64 = 1_700_000_000;

#[tokio::test]
async fn nul_characters_in_deepsource_text_are_dropped_and_the_finding_syncs() {
    let app = spawn_app().await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, T, |o| {
        o["issue"]["title"] = "Nul\u{0}in the title".into();
        o["issue"]["shortDescription"] = "and\u{0} here".into();
        o["occurrences"][0]["path"] = "src/a\u{0}.go".into();
        o["occurrences"][0]["title"] = "x\u{0}y".into();
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert!(issue.title.starts_with("Nulin the title"), "{}", issue.title);
    assert!(!issue.body.contains('\u{0}'));
    assert!(issue.body.contains("src/a.go"));
}

#[tokio::test]
async fn an_absurd_count_ends_its_own_job_dead_and_the_finding_goes_on() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 2, T)).await;
    app.deliver(&issue_event(RESOLVED, "2", FINDING, i64::MIN, T + 1))
        .await;
    app.deliver(&issue_event(INTRODUCED, "3", FINDING, -5, T + 2))
        .await;
    app.deliver(&issue_event(INTRODUCED, "4", FINDING, 1, T + 3))
        .await;
    app.run_worker().await.unwrap();

    for (event, field) in [
        ("2", "issueOccurrencesResolved"),
        ("3", "issueOccurrencesIntroduced"),
    ] {
        let (status, error, _) = app.job_of(event).await;
        assert_eq!(status, "dead", "event {event}");
        assert!(error.unwrap().contains(field), "event {event}");
    }
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.job_of("4").await.0, "done");
    assert_eq!(app.open_occurrences(FINDING).await, 3);
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 3 |"));

    // A later event of the finding is not stuck behind the dead ones.
    app.sync_event(RESOLVED, "5", FINDING, 3, T + 4).await;
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "closed");
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_dead_after_ten_attempts() {
    let app = spawn_app().await;
    for _ in 0..10 {
        app.github.fail_next("POST", Fault::Status(502));
    }
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    for _ in 0..10 {
        app.run_worker().await.unwrap();
        app.make_everything_due().await;
    }
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "dead");
    let error = error.unwrap();
    assert!(error.contains("10 attempts") && error.contains("502"), "{error}");
    assert_eq!(app.attempts_of("1").await, 10);
}

#[tokio::test]
async fn display_only_fields_may_be_missing_or_null() {
    let app = spawn_app().await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 2, T, |o| {
        let repo = o["repository"].as_object_mut().unwrap();
        repo.remove("defaultBranch");
        repo.insert("name".into(), json!(null));
        let issue = o["issue"].as_object_mut().unwrap();
        issue.remove("shortDescription");
        issue.remove("category");
        issue["analyzer"] = json!({ "shortcode": "go", "name": null });
        let occurrence = o["occurrences"][0].as_object_mut().unwrap();
        occurrence.remove("beginLine");
        occurrence.insert("endLine".into(), json!(null));
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert!(issue.body.contains("| Open occurrences | 2 |"));
    assert!(issue.body.contains("unknown analyzer"), "{}", issue.body);
    assert!(issue.body.contains("code.go"), "{}", issue.body);
}

#[tokio::test]
async fn without_a_vcs_url_the_count_still_counts_and_the_job_says_why_it_is_not_synced() {
    let app = spawn_app().await;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 4, T, |o| {
        o["repository"].as_object_mut().unwrap().remove("vcsUrl");
    });
    app.deliver(&event).await;
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "skipped");
    assert!(error.unwrap().contains("vcsUrl"));
    assert_eq!(app.open_occurrences(FINDING).await, 4);

    // A later event that has it brings the finding to GitHub with the whole count.
    app.sync_event(INTRODUCED, "2", FINDING, 1, T + 1).await;
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 5 |"));
}

#[tokio::test]
async fn a_retry_after_beyond_any_date_does_not_stop_the_worker() {
    let app = spawn_app().await;
    app.github.fail_next(
        "POST",
        Fault::SecondaryLimit {
            retry_after: Some(9_000_000_000_000_000_000),
        },
    );
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    app.run_worker().await.unwrap();
    let (status, error, next) = app.job_of("1").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().contains("rate limited"));
    assert!(next > Utc::now() + chrono::Duration::seconds(60));
    assert!(
        next < Utc::now() + chrono::Duration::days(2),
        "a bounded wait: {next}"
    );
}

#[tokio::test]
async fn a_github_pause_holds_even_when_this_machine_runs_behind_the_database() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    // The database's clock runs 60 s ahead of this process's: every `now()` the service's
    // queries see is shifted (the skew schema shadows pg_catalog's clock functions).
    for statement in [
        "CREATE SCHEMA skew",
        "CREATE FUNCTION skew.now() RETURNS timestamptz LANGUAGE sql STABLE
             AS $$ SELECT pg_catalog.now() + interval '60 seconds' $$",
        "CREATE FUNCTION skew.clock_timestamp() RETURNS timestamptz LANGUAGE sql VOLATILE
             AS $$ SELECT pg_catalog.clock_timestamp() + interval '60 seconds' $$",
        &format!(
            "ALTER DATABASE {} SET search_path = skew, pg_catalog, public",
            app.db_name
        ),
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    let skewed = sqlx::PgPool::connect(app.settings.database.url()).await.unwrap();
    let worker = || Worker::new(skewed.clone(), &app.settings).unwrap();

    app.github.fail_next(
        "POST",
        Fault::SecondaryLimit {
            retry_after: Some(30),
        },
    );
    worker().run_until_idle().await.unwrap();
    assert!(
        app.github.issues(SAMPLE_REPO).is_empty(),
        "GitHub asked for a pause"
    );
    let calls = app.github.calls().len();
    worker().run_until_idle().await.unwrap();
    assert_eq!(
        app.github.calls().len(),
        calls,
        "nothing is sent during GitHub's pause"
    );
    assert!(app.github.issues(SAMPLE_REPO).is_empty());
}

#[tokio::test]
async fn an_event_the_database_refuses_fails_alone() {
    let app = spawn_app().await;
    // A fault injected in the database: it refuses to record event "2", whatever it says.
    for statement in [
        "CREATE FUNCTION refuse_two() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.event_id = '2' THEN RAISE EXCEPTION 'injected refusal' USING ERRCODE = '22000'; END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER refuse_two BEFORE INSERT ON finding_ledger FOR EACH ROW EXECUTE FUNCTION refuse_two()",
    ] {
        sqlx::query(statement).execute(&app.pool).await.unwrap();
    }
    for (id, count) in [("1", 2), ("2", 5), ("3", 1)] {
        app.deliver(&issue_event(
            INTRODUCED,
            id,
            FINDING,
            count,
            T + id.parse::<i64>().unwrap(),
        ))
        .await;
    }
    app.run_worker().await.unwrap();
    let (status, error, _) = app.job_of("2").await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("injected refusal"));
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.job_of("3").await.0, "done");
    assert_eq!(app.open_occurrences(FINDING).await, 3);
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 3 |"));
}

#[tokio::test]
async fn an_event_time_far_in_the_future_does_not_make_that_event_newest_forever() {
    let app = spawn_app().await;
    // Year 9999: a time the intake can store, but no event was made then.
    let far_future = 253_402_000_000;
    let event = issue_event_with(INTRODUCED, "1", FINDING, 1, far_future, |o| {
        o["issue"]["title"] = "From the future".into();
        o["occurrences"][0]["path"] = "future.go".into();
    });
    app.deliver(&event).await;
    // As if it had arrived an hour ago, so the next event is later than any clock skew allowed.
    sqlx::query("UPDATE webhook_events SET received_at = received_at - interval '1 hour' WHERE id = '1'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.run_worker().await.unwrap();
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .title
        .starts_with("From the future"));

    let later = issue_event_with(INTRODUCED, "2", FINDING, 1, Utc::now().timestamp(), |o| {
        o["issue"]["title"] = "From now".into();
        o["occurrences"][0]["path"] = "now.go".into();
    });
    app.deliver(&later).await;
    app.run_worker().await.unwrap();
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert!(issue.title.starts_with("From now"), "{}", issue.title);
    assert!(
        issue.body.contains("now.go") && !issue.body.contains("future.go"),
        "{}",
        issue.body
    );
    assert!(issue.body.contains("| Open occurrences | 2 |"));
}
