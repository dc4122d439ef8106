//! A change committed while a finding's sync is running is never lost: whatever changes what the
//! finding's issue should show — a comparison with DeepSource, a person's reopen, the start-up
//! sweep, an admin resync — ends with GitHub showing it, without another event. Each race is
//! made by holding the running sync inside its GitHub write while the change commits.
use std::sync::Arc;

use deepsource_sync::deepsource::{take_snapshot, DeepSource};
use deepsource_sync::findings::snapshots::{apply_snapshot, snapshot_begins};
use deepsource_sync::sync::{Pass, WorkerError};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::fake_deepsource::{FakeDeepSource, Finding, TOKEN};
use crate::fake_github::{self, Issue};
use crate::helpers::{issue_event, sample_repository, TestApp, INTRODUCED, SAMPLE_REPO};
use crate::people::{app_that, post_github, Learns};

const FINDING: &str = "RI-held";
const T: i64 = 1_700_000_000;

/// What DeepSource lists for the finding now: a new title and `count` occurrences in a file no
/// event named.
fn deepsource_now(fake: &FakeDeepSource, count: usize) {
    let mut finding = Finding::new(FINDING, "CRT-A0016", "MAJOR", "moved/elsewhere.go", count);
    finding.title = "Renamed by DeepSource".into();
    fake.set_open(SAMPLE_REPO, vec![finding]);
}

/// A comparison with DeepSource, taken and applied as the reconciler does.
async fn compare(app: &TestApp, fake: &FakeDeepSource) {
    let client = DeepSource::new(&fake.url, SecretString::from(TOKEN.to_owned())).unwrap();
    let began = snapshot_begins(&app.pool).await.unwrap();
    let snapshot = take_snapshot(&client, &sample_repository()).await.unwrap();
    apply_snapshot(&app.pool, &snapshot, began).await.unwrap();
}

/// The finding's issue exists (2 occurrences); a third is introduced and a worker starts syncing
/// it, held at GitHub inside its update.
async fn sync_held_in_its_update(
    app: &TestApp,
) -> (JoinHandle<Result<Pass, WorkerError>>, Arc<fake_github::Hold>) {
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 2, T)).await;
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 1, "the create");
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 1, T + 10))
        .await;
    let held = app.github.hold_next("PATCH");
    let worker = app.worker();
    let worker = tokio::spawn(async move { worker.run_until_idle().await });
    held.arrived().await;
    (worker, held)
}

/// GitHub tells the service, through its `issues` webhook, what a person did to issue #1.
async fn person_said(app: &TestApp, action: &str) {
    let event = app.github.issues_event(SAMPLE_REPO, 1, action);
    let delivery = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(post_github(app, "issues", &delivery, &body).await.status(), 200);
}

fn the_issue(app: &TestApp) -> Issue {
    let issues = app.github.issues(SAMPLE_REPO);
    assert_eq!(issues.len(), 1, "one issue for the finding");
    issues.into_iter().next().unwrap()
}

/// GitHub shows what DeepSource said last: its title, its count and its locations.
fn assert_shows_deepsource(issue: &Issue, count: usize) {
    assert!(issue.title.contains("Renamed by DeepSource"), "{}", issue.title);
    assert!(
        issue.body.contains(&format!("| Open occurrences | {count} |")),
        "{}",
        issue.body
    );
    assert_eq!(
        issue.body.matches("- [moved/elsewhere.go#L").count(),
        count,
        "every location DeepSource lists, and only those: {}",
        issue.body
    );
}

#[tokio::test]
async fn a_comparison_committed_while_the_findings_sync_runs_reaches_github_after_it() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let fake = FakeDeepSource::start();
    let (worker, held) = sync_held_in_its_update(&app).await;

    deepsource_now(&fake, 5);
    compare(&app, &fake).await;
    held.release();
    worker.await.unwrap().unwrap();

    assert_shows_deepsource(&the_issue(&app), 5);
    // The create, the held update, then the comparison's update and its severity label; nothing
    // more, however often the worker runs.
    assert_eq!(app.github.writes(), 4, "{:?}", app.github.calls());
    app.run_worker().await.unwrap();
    assert_eq!(app.github.writes(), 4);
}

#[tokio::test]
async fn a_persons_reopen_arriving_while_the_sync_runs_is_acted_on_after_it() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let fake = FakeDeepSource::start();
    let (worker, held) = sync_held_in_its_update(&app).await;

    // While the update waits: a person closes the issue as not planned, DeepSource's listing
    // changes (nothing is written for a dismissed finding), and the person reopens it.
    app.github.close_as_person(SAMPLE_REPO, 1, "not_planned");
    person_said(&app, "closed").await;
    deepsource_now(&fake, 4);
    compare(&app, &fake).await;
    app.github.reopen_as_person(SAMPLE_REPO, 1);
    person_said(&app, "reopened").await;
    held.release();
    worker.await.unwrap().unwrap();

    let issue = the_issue(&app);
    assert_eq!(issue.state, "open");
    assert_shows_deepsource(&issue, 4);
}

#[tokio::test]
async fn a_resync_asked_for_while_the_sync_runs_is_carried_out_after_it() {
    let app = app_that(Learns::FromWebhooks, |s| {
        s.operations.admin_token = Some(SecretString::from(crate::admin::ADMIN_TOKEN))
    })
    .await;
    let (worker, held) = sync_held_in_its_update(&app).await;

    // The stored finding changes under the held sync (as drift an operator knows of would),
    // and the operator asks for a resync.
    sqlx::query("UPDATE findings SET issue_title = 'Retitled while held' WHERE id = $1")
        .bind(FINDING)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, resync) = app.admin_post(&format!("/api/findings/{FINDING}/resync")).await;
    assert_eq!(status, 202, "{resync}");
    held.release();
    worker.await.unwrap().unwrap();

    let issue = the_issue(&app);
    assert!(issue.title.contains("Retitled while held"), "{}", issue.title);
    assert!(issue.body.contains("| Open occurrences | 3 |"), "{}", issue.body);
}

#[tokio::test]
async fn with_two_replicas_the_change_is_synced_by_whichever_takes_the_finding_next() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    let fake = FakeDeepSource::start();
    let (worker_a, held) = sync_held_in_its_update(&app).await;

    deepsource_now(&fake, 6);
    compare(&app, &fake).await;
    // Replica B looks while A holds the finding: it must leave it alone.
    let b = app.worker();
    let pass = b.run_until_idle().await.unwrap();
    assert_eq!(pass.findings, 0, "B never syncs a finding A holds");
    held.release();
    // Whichever replica gets there first takes the queued look.
    let worker_b = tokio::spawn(async move { b.run_until_idle().await });
    worker_a.await.unwrap().unwrap();
    worker_b.await.unwrap().unwrap();
    app.run_worker().await.unwrap();

    assert_shows_deepsource(&the_issue(&app), 6);
    assert_eq!(app.github.violations(), 0, "{:?}", app.github.violation_reasons());
}

/// The rule itself, for every producer: a running job does not count as queued, a pending one
/// does, and a claim taking the pending one in a transaction not yet committed is waited for.
#[tokio::test]
async fn a_look_is_queued_behind_a_running_job_and_never_beside_a_pending_one() {
    let app = crate::helpers::spawn_app().await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    let pending = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sync_jobs WHERE finding_id = $1 AND status = 'pending'",
        )
        .bind(FINDING)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let queue = |pool: sqlx::PgPool| async move {
        let mut conn = pool.acquire().await.unwrap();
        deepsource_sync::findings::queue::queue_finding(&mut conn, FINDING)
            .await
            .unwrap()
    };
    assert_eq!(
        queue(app.pool.clone()).await,
        0,
        "a pending job reads the finding when claimed"
    );
    assert_eq!(pending().await, 1);

    // A claim in flight: the event's job turns running in a transaction not yet committed.
    let mut claim = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE sync_jobs SET status = 'running' WHERE finding_id = $1")
        .bind(FINDING)
        .execute(&mut *claim)
        .await
        .unwrap();
    let producer = tokio::spawn(queue(app.pool.clone()));
    wait_until_blocked(&app).await;
    claim.commit().await.unwrap();
    assert_eq!(
        producer.await.unwrap(),
        1,
        "once the claim committed, its job is running and a look is queued behind it"
    );
    assert_eq!(pending().await, 1);
    assert_eq!(queue(app.pool.clone()).await, 0, "and only one");
}

/// Waits (on the database's own word, not a timer) until a statement waits for a row lock.
async fn wait_until_blocked(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the producer never waited for the claim"
        );
        tokio::task::yield_now().await;
    }
}

/// The producers that queue without an event of their own each queue behind a running job.
#[tokio::test]
async fn a_persons_reopen_and_the_start_up_sweep_queue_behind_a_running_job() {
    let app = app_that(Learns::FromWebhooks, |_| {}).await;
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    app.run_worker().await.unwrap();
    app.github.close_as_person(SAMPLE_REPO, 1, "not_planned");
    person_said(&app, "closed").await;
    let running = || async {
        sqlx::query(
            "INSERT INTO sync_jobs (finding_id, status, lease_expires_at) VALUES ($1, 'running', now() + interval '1 minute')",
        )
        .bind(FINDING)
        .execute(&app.pool)
        .await
        .unwrap();
    };
    let pending = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sync_jobs WHERE finding_id = $1 AND status = 'pending'",
        )
        .bind(FINDING)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    running().await;
    app.github.reopen_as_person(SAMPLE_REPO, 1);
    person_said(&app, "reopened").await;
    assert_eq!(
        pending().await,
        1,
        "the reopen queued a look behind the running sync"
    );

    sqlx::query("DELETE FROM sync_jobs WHERE status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE findings SET unsynced_under = 'another configuration'")
        .execute(&app.pool)
        .await
        .unwrap();
    // A worker starting with other settings sweeps first: the finding is out of step under
    // them, and the job running (on another replica) read it under the old ones.
    app.run_worker().await.unwrap();
    let looked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sync_jobs WHERE finding_id = $1 AND status = 'done' AND event_id IS NULL",
    )
    .bind(FINDING)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(looked, 1, "the sweep queued a look although a job was running");
}
