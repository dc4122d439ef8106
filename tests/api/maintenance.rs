//! The maintenance duties: lease rescue puts a dead worker's jobs back and wakes the workers,
//! gives up on a job that has used its attempts, and leaves a live lease alone; clean-up deletes
//! finished looks past RETENTION_DAYS and nothing else.
use std::time::Duration;

use deepsource_sync::maintenance::{self, Cleanup, LeaseRescue};
use uuid::Uuid;

use crate::helpers::{issue_event, start_app, TestApp, INTRODUCED};

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOnJlc2N1ZQ==";
const T: i64 = 1_700_000_000;

/// As a worker that died mid-sync leaves it: the event stored, its job `running` with
/// `attempts` used, and the finding's lease — run out `ago` seconds ago (negative: still live).
async fn left_by_a_dead_worker(app: &TestApp, event: &str, attempts: i32, ago: i64) -> i64 {
    let body = issue_event(INTRODUCED, event, FINDING, 1, T);
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
         VALUES ($1, 'repository_issue.introduced', now(), now(), $2, sha256($2))",
    )
    .bind(event)
    .bind(&body)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO finding_leases (finding_id, token, expires_at)
         VALUES ($1, $2, now() - make_interval(secs => $3))
         ON CONFLICT (finding_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
    )
    .bind(FINDING)
    .bind(Uuid::new_v4())
    .bind(ago as f64)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "INSERT INTO sync_jobs (event_id, finding_id, status, attempts, lease_expires_at)
         VALUES ($1, $2, 'running', $3, now() - make_interval(secs => $4)) RETURNING id",
    )
    .bind(event)
    .bind(FINDING)
    .bind(attempts)
    .bind(ago as f64)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn job(app: &TestApp, id: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, last_error FROM sync_jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dead_workers_job_is_rescued_once_its_lease_ran_out_and_a_listening_worker_syncs_it() {
    let app = start_app(|s| s.sync.poll_interval = Duration::from_secs(3600), true).await;
    let mut idle = app.liveness.idle();
    idle.wait_for(|n| *n >= 1).await.unwrap();
    let rescue = LeaseRescue::new(app.pool.clone(), app.settings.sync.lease);

    let live = left_by_a_dead_worker(&app, "1", 1, -60).await;
    assert_eq!(
        rescue.run_once().await.unwrap(),
        (0, 0),
        "a live lease is left alone"
    );
    assert_eq!(job(&app, live).await.0, "running");

    sqlx::query("UPDATE finding_leases SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE sync_jobs SET lease_expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let create = app.github.hold_next("POST");
    assert_eq!(rescue.run_once().await.unwrap(), (1, 1));
    // The rescue's wake-up, not the hour-long fallback, brings the worker to it.
    create.arrived().await;
    create.release();
}

#[tokio::test]
async fn a_job_that_used_its_attempts_is_given_up_not_rescued_again() {
    let app = start_app(|_| {}, false).await;
    let rescue = LeaseRescue::new(app.pool.clone(), app.settings.sync.lease);
    let spent = left_by_a_dead_worker(&app, "1", deepsource_sync::findings::jobs::MAX_ATTEMPTS, 5).await;
    assert_eq!(rescue.run_once().await.unwrap(), (1, 1));
    let (status, error) = job(&app, spent).await;
    assert_eq!(status, "dead");
    assert!(error.unwrap().contains("stopped before it ended"));
    assert_eq!(rescue.run_once().await.unwrap(), (0, 0), "nothing twice");
}

#[tokio::test]
async fn clean_up_deletes_finished_looks_past_retention_and_keeps_the_rest() {
    let app = start_app(|_| {}, false).await;
    let look = |status: &'static str, days: i32| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO sync_jobs (finding_id, status, updated_at)
                 VALUES ($1, $2, now() - make_interval(days => $3)) RETURNING id",
            )
            .bind(FINDING)
            .bind(status)
            .bind(days)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let old_done = look("done", 40).await;
    let old_skipped = look("skipped", 40).await;
    let recent = look("done", 1).await;
    let old_dead = look("dead", 40).await;
    let old_pending = look("pending", 40).await;
    // An event's job is kept with its event, however old.
    let event_job = left_by_a_dead_worker(&app, "1", 1, 5).await;
    sqlx::query(
        "UPDATE sync_jobs SET status = 'done', updated_at = now() - interval '40 days' WHERE id = $1",
    )
    .bind(event_job)
    .execute(&app.pool)
    .await
    .unwrap();

    let cleanup = Cleanup::new(app.pool.clone(), Some(Duration::from_secs(30 * 86_400))).unwrap();
    assert_eq!(cleanup.run_once().await.unwrap(), 2);
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM sync_jobs ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(!left.contains(&old_done) && !left.contains(&old_skipped));
    for kept in [recent, old_dead, old_pending, event_job] {
        assert!(left.contains(&kept), "job {kept} kept");
    }
    assert!(
        Cleanup::new(app.pool.clone(), None).is_none(),
        "RETENTION_DAYS=0 keeps them all"
    );
}

#[tokio::test]
async fn the_rescue_runs_on_its_own_timer_and_stops_when_told() {
    // The shortest lease (4 s) makes the rescue look every second.
    let app = start_app(
        |s| {
            s.sync.poll_interval = Duration::from_secs(3600);
            s.sync.lease = Duration::from_secs(4);
        },
        true,
    )
    .await;
    let mut idle = app.liveness.idle();
    idle.wait_for(|n| *n >= 1).await.unwrap();
    let create = app.github.hold_next("POST");
    let stuck = left_by_a_dead_worker(&app, "1", 1, 1).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let duty = maintenance::start(
        LeaseRescue::new(app.pool.clone(), app.settings.sync.lease),
        stopped,
    );
    // Nobody calls it: its timer finds the job, its wake-up brings the worker.
    create.arrived().await;
    create.release();
    // Claimed again after the rescue: its second attempt.
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM sync_jobs WHERE id = $1")
        .bind(stuck)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 2);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), duty)
        .await
        .expect("stops promptly")
        .unwrap();
}
