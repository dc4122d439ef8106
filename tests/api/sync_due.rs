//! Nothing is consumed without being synced: a finding a dry run or a filter left off GitHub is
//! still due when the worker starts with settings that would sync it, and a start with the
//! same settings does nothing again.
use std::time::Duration;

use deepsource_sync::configuration::{GitHubAuth, Settings};
use deepsource_sync::sync::{Worker, WorkerLiveness};
use deepsource_sync::wake::Wakeups;

use crate::helpers::{
    issue_event, spawn_app, spawn_app_with, Fault, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO,
};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==";
const T: i64 = 1_700_000_000;

/// The worker as `serve` and `worker` run it, with `settings`, until it has nothing left to do
/// (it says so by going idle).
async fn start_worker(app: &TestApp, settings: &Settings) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = Worker::new(app.pool.clone(), settings).unwrap();
    let liveness = WorkerLiveness::default();
    let mut idle = liveness.idle();
    let running = tokio::spawn(worker.run(stopped, Wakeups::none(), liveness));
    tokio::time::timeout(Duration::from_secs(30), idle.wait_for(|n| *n >= 1))
        .await
        .expect("the worker goes idle")
        .unwrap();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops promptly")
        .unwrap();
}

async fn job_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sync_jobs")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn dry_actions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sync_actions WHERE dry_run")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dry_run_leaves_its_findings_due_for_the_first_run_with_credentials() {
    let app = spawn_app_with(|s| s.github.auth = GitHubAuth::DryRun).await;
    let mut with_token = app.settings.clone();
    with_token.github.auth = GitHubAuth::Token(crate::fake_github::TOKEN.to_owned().into());

    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 1, T + 1))
        .await;
    start_worker(&app, &app.settings).await;
    assert_eq!(app.job_of("1").await.0, "done", "the events are applied");
    assert_eq!(dry_actions(&app).await, 1, "and what would be done is recorded");
    assert!(app.github.calls().is_empty());

    // Dry again: nothing new to say, nothing queued.
    let jobs = job_count(&app).await;
    start_worker(&app, &app.settings).await;
    assert_eq!((job_count(&app).await, dry_actions(&app).await), (jobs, 1));

    // The first start with a token brings the finding to GitHub, with its whole count.
    start_worker(&app, &with_token).await;
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert!(
        issues[0].body.contains("| Open occurrences | 2 |"),
        "{}",
        issues[0].body
    );
    assert_eq!(app.linked_issue(FINDING).await, Some(1));

    // Nothing changed since: another start queues nothing and writes nothing.
    let (jobs, writes) = (job_count(&app).await, app.github.writes());
    start_worker(&app, &with_token).await;
    assert_eq!((job_count(&app).await, app.github.writes()), (jobs, writes));
}

#[tokio::test]
async fn a_finding_a_filter_skipped_is_synced_once_the_filter_is_widened() {
    let app = spawn_app_with(|s| s.sync.categories = vec!["SECURITY".into()]).await;
    app.sync_event(INTRODUCED, "1", FINDING, 3, T).await;
    assert_eq!(app.job_of("1").await.0, "skipped");
    assert!(app.github.all_issues().is_empty());

    // The same filter again: still skipped, and not even looked at again.
    let jobs = job_count(&app).await;
    app.run_worker().await.unwrap();
    assert_eq!(job_count(&app).await, jobs);

    let mut widened = app.settings.clone();
    widened.sync.categories = vec!["SECURITY".into(), "ANTI_PATTERN".into()];
    start_worker(&app, &widened).await;
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].body.contains("| Open occurrences | 3 |"));

    let (jobs, calls) = (job_count(&app).await, app.github.calls().len());
    start_worker(&app, &widened).await;
    assert_eq!((job_count(&app).await, app.github.calls().len()), (jobs, calls));
}

#[tokio::test]
async fn a_synced_finding_costs_a_start_nothing() {
    let app = spawn_app_with(|_| {}).await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    let (jobs, calls) = (job_count(&app).await, app.github.calls().len());
    start_worker(&app, &app.settings).await;
    start_worker(&app, &app.settings).await;
    assert_eq!((job_count(&app).await, app.github.calls().len()), (jobs, calls));
}

#[tokio::test]
async fn a_finding_whose_attempts_ran_out_is_synced_by_the_next_start() {
    let app = spawn_app().await;
    for _ in 0..10 {
        app.github.fail_next("POST", Fault::Status(502));
    }
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 2, T)).await;
    for _ in 0..10 {
        app.worker().run_once().await.unwrap();
        app.make_everything_due().await;
    }
    assert_eq!(app.job_of("1").await.0, "dead");
    assert!(app.github.issues(SAMPLE_REPO).is_empty());

    start_worker(&app, &app.settings).await;
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1, "its job is dead, the finding is not");
    assert!(issues[0].body.contains("| Open occurrences | 2 |"));
}

#[tokio::test]
async fn a_refusal_is_looked_at_again_only_under_other_settings() {
    let app = spawn_app().await;
    app.github.remove_repo(SAMPLE_REPO);
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    let (status, error, _) = app.job_of("1").await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("404"));

    // The same settings would be refused the same way: a start does not ask again.
    let (jobs, calls) = (job_count(&app).await, app.github.calls().len());
    start_worker(&app, &app.settings).await;
    assert_eq!((job_count(&app).await, app.github.calls().len()), (jobs, calls));

    let mut tracker = app.settings.clone();
    tracker.github.repo_override = Some(deepsource_sync::domain::RepoSlug::parse("acme/tracker").unwrap());
    start_worker(&app, &tracker).await;
    assert_eq!(app.github.issues("acme/tracker").len(), 1);
}

#[tokio::test]
async fn a_close_a_dry_run_would_have_made_is_made_by_the_next_start_with_credentials() {
    let app = spawn_app().await;
    app.sync_event(INTRODUCED, "1", FINDING, 1, T).await;
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "open");

    let mut dry = app.settings.clone();
    dry.github.auth = GitHubAuth::DryRun;
    app.deliver(&issue_event(RESOLVED, "2", FINDING, 1, T + 1)).await;
    start_worker(&app, &dry).await;
    assert_eq!(app.job_of("2").await.0, "done");
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "open", "dry");

    start_worker(&app, &app.settings).await;
    let issue = &app.github.issues(SAMPLE_REPO)[0];
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.comments.len(), 1);
}

#[tokio::test]
async fn findings_an_older_release_left_off_github_are_found_by_their_count() {
    let app = spawn_app_with(|s| s.github.auth = GitHubAuth::DryRun).await;
    app.sync_event(INTRODUCED, "1", FINDING, 2, T).await;
    // As an older release left it: a dry run recorded nothing on the finding.
    sqlx::query("UPDATE findings SET unsynced_under = NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut with_token = app.settings.clone();
    with_token.github.auth = GitHubAuth::Token(crate::fake_github::TOKEN.to_owned().into());
    start_worker(&app, &with_token).await;
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].body.contains("| Open occurrences | 2 |"));
}

#[tokio::test]
async fn a_dry_run_records_only_what_it_would_do() {
    let app = spawn_app_with(|s| s.github.auth = GitHubAuth::DryRun).await;
    let actions = || async {
        sqlx::query_as::<_, (String, bool)>("SELECT action, dry_run FROM sync_actions ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    // Resolved before any introduce: there is no issue, and none is wanted.
    app.sync_event(RESOLVED, "1", FINDING, 1, T).await;
    assert_eq!(actions().await, []);
    app.sync_event(INTRODUCED, "2", FINDING, 2, T + 1).await;
    assert_eq!(actions().await, [("create".to_owned(), true)]);
}

#[tokio::test]
async fn a_dry_run_after_real_runs_says_what_it_would_change_and_changes_nothing() {
    let app = spawn_app().await;
    let mut dry_settings = app.settings.clone();
    dry_settings.github.auth = GitHubAuth::DryRun;
    let dry = Worker::new(app.pool.clone(), &dry_settings).unwrap();
    let dry_actions = || async {
        sqlx::query_scalar::<_, String>("SELECT action FROM sync_actions WHERE dry_run ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    app.sync_event(INTRODUCED, "1", FINDING, 2, T).await;
    let writes = app.github.writes();

    // One more occurrence: the open issue's content is stale, so the dry run would update it.
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 1, T + 1))
        .await;
    dry.run_until_idle().await.unwrap();
    assert_eq!(dry_actions().await, ["update"]);
    // Nothing changed since: nothing more would be done.
    dry.run_until_idle().await.unwrap();
    assert_eq!(dry_actions().await, ["update"]);

    // Every occurrence resolved: it would close the open issue.
    app.deliver(&issue_event(RESOLVED, "3", FINDING, 3, T + 2)).await;
    dry.run_until_idle().await.unwrap();
    assert_eq!(dry_actions().await, ["update", "close"]);
    assert_eq!(app.github.writes(), writes, "a dry run writes nothing");
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "open");

    // Closed for real, then back: it would reopen it.
    app.run_worker().await.unwrap();
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "closed");
    app.deliver(&issue_event(INTRODUCED, "4", FINDING, 1, T + 3))
        .await;
    dry.run_until_idle().await.unwrap();
    assert_eq!(dry_actions().await, ["update", "close", "reopen"]);
    assert_eq!(app.github.issues(SAMPLE_REPO)[0].state, "closed");
}
