//! No duplicate and no orphaned issue when creates and comments lose their answers, workers die
//! mid-call, or a worker outlives its lease.
use std::sync::Arc;
use std::time::Duration;

use deepsource_sync::configuration::ReopenPolicy;
use deepsource_sync::sync::{Pass, WorkerError};
use tokio::task::JoinHandle;

use crate::fake_github;
use crate::helpers::{
    issue_event, spawn_app, spawn_app_with, Fault, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO,
};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";
const T: i64 = 1_700_000_000;

enum Hold {
    /// The create waits at GitHub before it is made.
    Call,
    /// The create is made; its answer waits.
    Answer,
}

/// Worker A, working in the background on a finding introduced with `count`, stopped at GitHub
/// in the middle of its create.
async fn worker_held_at_its_create(
    app: &TestApp,
    count: i64,
    hold: Hold,
) -> (JoinHandle<Result<Pass, WorkerError>>, Arc<fake_github::Hold>) {
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, count, T))
        .await;
    let held = match hold {
        Hold::Call => app.github.hold_next("POST"),
        Hold::Answer => app.github.hold_answer_next("POST"),
    };
    let a = app.worker();
    let a = tokio::spawn(async move { a.run_until_idle().await });
    held.arrived().await;
    (a, held)
}

#[tokio::test]
async fn a_lost_create_followed_by_a_resolve_is_found_and_closed() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 3, T).await;
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1, "GitHub made it");

    // The resolve arrives before the retry: nothing is wanted open any more.
    app.deliver(&issue_event(RESOLVED, "2", FINDING, 3, T + 100))
        .await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();

    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].state, "closed", "the orphan is found and closed");
    assert!(
        issues[0].body.contains("| Open occurrences | 0 |"),
        "{}",
        issues[0].body
    );
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
    assert!(!app.create_intent(FINDING).await);
    assert_eq!(app.job_of("2").await.0, "done");
}

#[tokio::test]
async fn a_worker_killed_during_its_create_leaves_an_issue_the_next_worker_finds_and_closes() {
    let app = spawn_app().await;
    let (a, hold) = worker_held_at_its_create(&app, 3, Hold::Answer).await;
    a.abort(); // kill -9: GitHub made the issue, nobody heard
    let _ = a.await;
    hold.release();

    app.deliver(&issue_event(RESOLVED, "2", FINDING, 3, T + 100))
        .await;
    app.expire_leases().await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();

    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].state, "closed");
    assert!(issues[0].body.contains("| Open occurrences | 0 |"));
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
}

#[tokio::test]
async fn an_interrupted_create_once_found_costs_no_further_write() {
    let app = spawn_app().await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        app.github.writes(),
        1,
        "the create, and no PATCH of identical content"
    );
    assert_eq!(app.job_of("1").await.0, "done");
    // Later changes are still written.
    app.sync_event(INTRODUCED, "2", FINDING, 1, T + 10).await;
    assert_eq!(app.github.writes(), 2);
    assert!(app.github.issues(SAMPLE_REPO)[0]
        .body
        .contains("| Open occurrences | 2 |"));
}

#[tokio::test]
async fn a_lost_create_is_found_when_github_dropped_its_labels() {
    let app = spawn_app().await;
    // An Issues-only token: GitHub drops labels on create, and search has not indexed it yet.
    app.github.drop_labels_on_create();
    app.github.make_search_stale();
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(
        app.github.issues(SAMPLE_REPO).len(),
        1,
        "found, not created again"
    );
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
}

#[tokio::test]
async fn reopen_policy_new_with_a_lost_create_makes_no_duplicate() {
    let app = spawn_app_with(|s| s.sync.reopen_policy = ReopenPolicy::New).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    app.sync_event(RESOLVED, "2", FINDING, 1, T + 100).await;
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(INTRODUCED, "3", FINDING, 1, T + 200).await;
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 2);

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 2, "the lost #2 is found, not a third made");
    assert_eq!(
        (issues[0].state.as_str(), issues[1].state.as_str()),
        ("closed", "open")
    );
    assert_eq!(app.linked_issue(FINDING).await, Some(2));
}

#[tokio::test]
async fn previously_tracked_in_stays_on_later_updates() {
    let app = spawn_app_with(|s| s.sync.reopen_policy = ReopenPolicy::New).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    app.sync_event(RESOLVED, "2", FINDING, 1, T + 100).await;
    app.sync_event(INTRODUCED, "3", FINDING, 1, T + 200).await;
    let writes = app.github.writes();
    app.sync_event(INTRODUCED, "4", FINDING, 2, T + 300).await;
    assert_eq!(app.github.writes(), writes + 1, "one update for the count");
    let issue = &app.github.issues(SAMPLE_REPO)[1];
    assert!(issue.body.contains("| Open occurrences | 3 |"));
    assert!(issue.body.contains("Previously tracked in #1."), "{}", issue.body);
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_mid_create_is_not_followed_by_a_second_create() {
    let app = spawn_app().await;
    let (a, hold) = worker_held_at_its_create(&app, 3, Hold::Call).await;

    // A stalls past its lease with its create on the wire; B takes the finding.
    app.expire_leases().await;
    app.run_worker().await.unwrap();
    assert!(
        app.github.issues(SAMPLE_REPO).is_empty(),
        "B does not create while A's create may still land"
    );

    hold.release();
    a.await.unwrap().unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1, "A's create landed");

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1, "exactly one issue");
    assert_eq!(app.linked_issue(FINDING).await, Some(1), "and it is linked");
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn writes_by_a_worker_whose_lease_was_taken_over_change_nothing() {
    let app = spawn_app().await;
    let (a, hold) = worker_held_at_its_create(&app, 3, Hold::Answer).await;

    // While A waits for GitHub's answer, its lease runs out and worker B holds the finding.
    sqlx::query(
        "UPDATE finding_leases SET token = gen_random_uuid(), expires_at = now() + interval '1 minute'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    hold.release();
    a.await.unwrap().unwrap();
    assert_eq!(app.linked_issue(FINDING).await, None, "A's link was fenced out");
    assert_eq!(app.job_of("1").await.0, "running", "A left B's jobs alone");
    assert!(
        app.create_intent(FINDING).await,
        "the create stays to be looked for"
    );

    // B dies too; the next worker finds A's issue instead of making another.
    app.expire_leases().await;
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn a_lost_comment_answer_posts_the_comment_once() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    // The close PATCH goes through; the comment is made but its answer is lost.
    app.github.fail_next("POST", Fault::LoseResponse);
    app.sync_event(RESOLVED, "2", FINDING, 1, T + 100).await;
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].comments.len(), 1);
    assert_eq!(app.job_of("2").await.0, "pending");

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.comments.len(), 1, "{:?}", issue.comments);
    assert_eq!(issue.state, "closed");
    assert_eq!(app.job_of("2").await.0, "done");
}

#[tokio::test]
async fn a_comment_that_failed_for_sure_is_posted_on_the_retry() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    app.github.fail_next("POST", Fault::Status(500));
    app.sync_event(RESOLVED, "2", FINDING, 1, T + 100).await;
    assert!(app.github.issues(SAMPLE_REPO)[0].comments.is_empty());
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.comments.len(), 1);
    assert!(issue.comments[0].contains("resolved"));
    let actions: Vec<String> = app.actions_of(FINDING).await.into_iter().map(|a| a.0).collect();
    assert_eq!(
        actions,
        ["create", "close", "comment"],
        "the close is not repeated"
    );
}

#[tokio::test]
async fn a_sync_renews_its_lease_while_it_waits_for_github() {
    let app = spawn_app_with(|s| s.sync.lease = Duration::from_secs(4)).await;
    let (a, hold) = worker_held_at_its_create(&app, 1, Hold::Answer).await;
    let lease_until = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT expires_at FROM finding_leases")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let first = lease_until().await;
    // The heartbeat beats every second with a 4 s lease; the lease moves on while A waits.
    let mut renewed = false;
    for _ in 0..100 {
        if lease_until().await > first {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(renewed, "the lease was renewed while the sync ran");
    hold.release();
    a.await.unwrap().unwrap();
    assert_eq!(app.job_of("1").await.0, "done");
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
}

#[tokio::test]
async fn a_sync_that_overruns_its_deadline_is_retried_and_finds_its_create() {
    let app = spawn_app_with(|s| s.sync.lease = Duration::from_secs(4)).await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    // GitHub makes the issue but its answer never comes back in time.
    let hold = app.github.hold_answer_next("POST");
    app.run_worker().await.unwrap(); // stops at its 3 s deadline
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "pending");
    assert!(error.unwrap().contains("deadline"));
    assert!(app.create_intent(FINDING).await);
    let leases: i64 = sqlx::query_scalar("SELECT count(*) FROM finding_leases")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(leases, 0, "released at the deadline, not held until it runs out");
    hold.release();

    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn a_worker_process_killed_during_its_create_is_cleaned_up_after_by_the_next() {
    let app = spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 3, T)).await;
    let hold = app.github.hold_answer_next("POST");
    // A real `deepsource-sync worker` process, against this test's database and fake GitHub.
    let worker = std::process::Command::new(env!("CARGO_BIN_EXE_deepsource-sync"))
        .arg("worker")
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", app.settings.database.url())
        .env("GITHUB_API_URL", &app.github.url)
        .env("GITHUB_TOKEN", crate::fake_github::TOKEN)
        .env("GITHUB_MIN_WRITE_INTERVAL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed also when the test fails, so no worker outlives it.
    let mut worker = KillOnDrop(worker);
    hold.arrived().await; // GitHub has made the issue; its answer is on the way back
    worker.0.kill().unwrap(); // SIGKILL
    worker.0.wait().unwrap();
    hold.release();

    app.deliver(&issue_event(RESOLVED, "2", FINDING, 3, T + 100))
        .await;
    app.expire_leases().await; // as if its two minutes had passed
    app.make_everything_due().await;
    app.run_worker().await.unwrap();
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(
        issues[0].state, "closed",
        "the killed worker's issue is found and closed"
    );
    assert!(issues[0].body.contains("| Open occurrences | 0 |"));
    assert_eq!(app.linked_issue(FINDING).await, Some(1));
    assert_eq!(
        (app.job_of("1").await.0, app.job_of("2").await.0),
        ("done".into(), "done".into())
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
