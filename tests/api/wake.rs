//! Wake on commit: a worker hears of work the moment it is committed (`LISTEN`/`NOTIFY`), not
//! at its next poll. Every test sets the fallback interval to an hour, so only a wake-up, a
//! due time or a reconnection can make the worker act within the test's bounds; each waits on a
//! signal (a request arriving at the fake GitHub, the worker going idle, a mode change).
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use deepsource_sync::configuration::Settings;
use deepsource_sync::db::notify::notify_work;
use deepsource_sync::reconcile::Reconciler;
use deepsource_sync::sync::WorkerLiveness;
use deepsource_sync::wake::Wakeups;
use tokio::sync::watch;

use crate::admin::ADMIN_TOKEN;
use crate::fake_deepsource::{FakeDeepSource, Finding as DeepSourceFinding, TOKEN as DEEPSOURCE_TOKEN};
use crate::fake_github::{FakeGitHub, TOKEN as GITHUB_TOKEN};
use crate::helpers::{
    issue_event, migrated_database, sign, start_app, TestApp, INTRODUCED, RESOLVED, SAMPLE_REPO, SECRET,
};
use crate::replicas::Replica;
use crate::tcp_proxy::TcpProxy;
use crate::test_database::server_url;

const FINDING: &str = "PhVnb3NpdG9yeUl8c3VlOndha2UtMQ==";
const T: i64 = 1_700_000_000;
const AN_HOUR: Duration = Duration::from_secs(3600);
/// Far beyond the milliseconds each step takes, far below the fallback.
const BOUND: Duration = Duration::from_secs(20);

fn quiet(settings: &mut Settings) {
    settings.sync.poll_interval = AN_HOUR;
    settings.operations.admin_token = Some(ADMIN_TOKEN.to_owned().into());
}

/// The worker processes the admin API lists, as (mode, reason).
async fn workers(app: &TestApp) -> Vec<(String, Option<String>)> {
    let (status, body) = app.admin_get("/api/status").await;
    assert_eq!(status, 200, "{body}");
    body["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["mode"].as_str().unwrap().to_owned(),
                w["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The worker is listening and has gone idle: whatever it does next, something woke it.
async fn until_listening_and_idle(app: &TestApp) {
    let mut idle = app.liveness.idle();
    tokio::time::timeout(BOUND, idle.wait_for(|n| *n >= 1))
        .await
        .expect("the worker goes idle")
        .unwrap();
    until_mode(&app.liveness, "listening").await;
}

async fn until_mode(liveness: &WorkerLiveness, name: &str) {
    // The mode the readiness check reads, waited on through the wake-ups' own channel.
    let mut modes = liveness.wake_modes().expect("a worker runs here");
    let reached = tokio::time::timeout(BOUND, modes.wait_for(|m| m.name() == name))
        .await
        .is_ok_and(|changed| changed.is_ok());
    assert!(
        reached,
        "the worker's wake-up mode stayed {:?}, not {name}",
        *modes.borrow()
    );
}

/// A proxy in front of the database server, for `DATABASE_LISTEN_URL` only (`listen_via`).
async fn proxy() -> TcpProxy {
    TcpProxy::start(upstream()).await
}

fn upstream() -> SocketAddr {
    server_url()
        .rsplit('@')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// Listening goes through the proxy at `addr`; the pool goes to the database directly.
fn listen_via(settings: &mut Settings, addr: SocketAddr) {
    settings.database.listen_url = settings
        .database
        .url()
        .replace(&upstream().to_string(), &addr.to_string())
        .into();
}

/// Delivers a new finding's event and waits for its issue's create to reach GitHub.
async fn deliver_and_see_the_create(app: &TestApp) {
    let create = app.github.hold_next("POST");
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    create.arrived().await;
    create.release();
}

async fn readyz(app: &TestApp) -> serde_json::Value {
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_notified_worker_claims_without_waiting_for_the_fallback() {
    let app = start_app(quiet, true).await;
    until_listening_and_idle(&app).await;
    assert_eq!(readyz(&app).await["wake"], "listening");
    assert_eq!(workers(&app).await, [("listening".to_owned(), None)]);

    // Reached within the bound only because the commit woke the worker.
    deliver_and_see_the_create(&app).await;
}

#[tokio::test]
async fn a_notification_in_a_rolled_back_transaction_wakes_no_one() {
    let app = start_app(quiet, false).await;
    let (_stop, stopped) = watch::channel(false);
    let wakeups = Wakeups::start(app.settings.database.listen_url().to_owned(), &app.pool, stopped);
    let mut heard = wakeups.heard();
    // Listening began (that itself counts as one wake-up).
    tokio::time::timeout(BOUND, heard.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    let before = *heard.borrow_and_update();

    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO sync_jobs (finding_id) VALUES ($1)")
        .bind(FINDING)
        .execute(&mut *tx)
        .await
        .unwrap();
    notify_work(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    // A committed one after it: notifications arrive in commit order, so once this one is
    // heard, the rolled-back one would have been heard before it.
    let mut tx = app.pool.begin().await.unwrap();
    notify_work(&mut tx).await.unwrap();
    tx.commit().await.unwrap();

    tokio::time::timeout(BOUND, heard.wait_for(|n| *n > before))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        *heard.borrow(),
        before + 1,
        "only the committed notification was heard"
    );
}

#[tokio::test]
async fn a_killed_listening_connection_is_made_again_and_work_queued_meanwhile_is_found() {
    // Listening through a proxy the test can keep from connecting again.
    let proxy = proxy().await;
    let addr = proxy.addr;
    let app = start_app(
        |settings| {
            quiet(settings);
            listen_via(settings, addr);
        },
        true,
    )
    .await;
    until_listening_and_idle(&app).await;

    proxy.refuse_new_connections(true);
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(&app.db_name)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening connection, ended");
    until_mode(&app.liveness, "polling").await;

    // Committed while nobody listens: its notification is lost.
    let create = app.github.hold_next("POST");
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    proxy.refuse_new_connections(false);
    // Found by the look that follows listening again, not by the hour-long fallback.
    create.arrived().await;
    create.release();
    until_mode(&app.liveness, "listening").await;
}

#[tokio::test]
async fn a_pooler_that_refuses_listen_leaves_the_worker_polling_and_says_so() {
    let pooler = proxy().await;
    pooler.refuse_listen();
    let addr = pooler.addr;
    let app = start_app(
        |settings| {
            quiet(settings);
            settings.sync.poll_interval = Duration::from_millis(300);
            listen_via(settings, addr);
        },
        true,
    )
    .await;
    until_mode(&app.liveness, "polling").await;
    let ready = readyz(&app).await;
    assert_eq!(ready["wake"], "polling");
    assert!(
        ready["wake_reason"]
            .as_str()
            .unwrap()
            .contains("LISTEN is not supported"),
        "{ready}"
    );
    let listed = workers(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "polling");
    assert!(listed[0]
        .1
        .as_deref()
        .unwrap()
        .contains("LISTEN is not supported"));
    // It still syncs, by polling.
    deliver_and_see_the_create(&app).await;
}

#[tokio::test]
async fn a_jobs_retry_time_wakes_the_worker_at_that_time() {
    let app = start_app(quiet, true).await;
    until_listening_and_idle(&app).await;
    let create = app.github.hold_next("POST");
    // A job due in two seconds, committed with its wake-up, as a retry is: the worker wakes,
    // finds nothing due yet, and sleeps until the job's time rather than the fallback's.
    let body = issue_event(INTRODUCED, "1", FINDING, 1, T);
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
         VALUES ('1', 'repository_issue.introduced', now(), now(), $1, sha256($1))",
    )
    .bind(&body)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sync_jobs (event_id, finding_id, next_attempt_at)
         VALUES ('1', $1, now() + interval '2 seconds')",
    )
    .bind(FINDING)
    .execute(&mut *tx)
    .await
    .unwrap();
    notify_work(&mut tx).await.unwrap();
    let committed = Instant::now();
    tx.commit().await.unwrap();
    create.arrived().await;
    let waited = committed.elapsed();
    create.release();
    assert!(
        waited >= Duration::from_millis(1900),
        "synced after {waited:?}, before the job was due"
    );
}

#[tokio::test]
async fn two_replicas_notified_of_one_finding_sync_it_once() {
    let app = start_app(quiet, true).await;
    until_listening_and_idle(&app).await;
    // A second worker, as another replica runs it: its own listening connection.
    let (_stop, stopped) = watch::channel(false);
    let wakeups = Wakeups::start(
        app.settings.database.listen_url().to_owned(),
        &app.pool,
        stopped.clone(),
    );
    let second = WorkerLiveness::default();
    second.set_wakeups(wakeups.clone());
    let mut second_idle = second.idle();
    tokio::spawn(app.worker().run(stopped, wakeups, second.clone()));
    tokio::time::timeout(BOUND, second_idle.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    until_mode(&second, "listening").await;

    // The create is held mid-flight while a second event of the finding commits: both workers
    // are woken by each, and the finding is still driven by one of them at a time.
    let create = app.github.hold_next("POST");
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 1, T)).await;
    create.arrived().await;
    app.deliver(&issue_event(INTRODUCED, "2", FINDING, 2, T + 1))
        .await;
    create.release();
    let deadline = Instant::now() + BOUND;
    while app.job_of("2").await.0 != "done" {
        assert!(Instant::now() < deadline, "the second event was synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let creates = app
        .github
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.split('?').next().unwrap().ends_with("/issues"))
        .count();
    assert_eq!(creates, 1, "one issue, created once");
    assert_eq!(app.github.all_issues().len(), 1);
    assert_eq!(app.job_of("1").await.0, "done");
}

#[tokio::test]
async fn a_lookup_asked_for_wakes_the_reconciler_and_its_answer_wakes_the_worker() {
    let fake = FakeDeepSource::start();
    let api = fake.url.clone();
    let app = start_app(
        move |s| {
            quiet(s);
            s.deepsource.token = Some(DEEPSOURCE_TOKEN.to_owned().into());
            s.deepsource.api_url = api;
            s.deepsource.reconcile_interval = None;
        },
        true,
    )
    .await;
    until_listening_and_idle(&app).await;
    let (_stop, stopped) = watch::channel(false);
    let reconciler = Reconciler::new(app.pool.clone(), &app.settings).unwrap().unwrap();
    let wakeups = Wakeups::start(
        app.settings.database.listen_url().to_owned(),
        &app.pool,
        stopped.clone(),
    );
    tokio::spawn(reconciler.run(stopped, wakeups));

    let create = app.github.hold_next("POST");
    app.deliver(&issue_event(INTRODUCED, "1", FINDING, 2, T)).await;
    create.arrived().await;
    create.release();

    // One occurrence fixed: the worker asks for a lookup, whose commit wakes the reconciler,
    // whose answer's commit wakes the worker again; with an hour-long fallback, nothing else
    // would bring the update within the bound.
    let mut listed = DeepSourceFinding::new(FINDING, "GO-W1006", "MAJOR", "unused.go", 1);
    listed.title = "Simplify slice expression to sliced value itself".into();
    fake.set_open(SAMPLE_REPO, vec![listed]);
    let update = app.github.hold_next("PATCH");
    app.deliver(&issue_event(RESOLVED, "2", FINDING, 1, T + 10)).await;
    update.arrived().await;
    update.release();
    assert!(fake.requests() >= 1, "DeepSource was asked");
}

#[tokio::test]
async fn a_serve_process_behind_a_pooler_that_refuses_listen_warns_once_and_syncs_by_polling() {
    let database = migrated_database().await;
    let pooler = proxy().await;
    pooler.refuse_listen();
    let listen_url = database
        .url
        .replace(&upstream().to_string(), &pooler.addr.to_string());
    let github = FakeGitHub::start();
    let replica = Replica::start(&[
        ("DATABASE_URL", &database.url),
        ("DATABASE_LISTEN_URL", &listen_url),
        ("SYNC_POLL_INTERVAL", "300ms"),
        ("GITHUB_API_URL", &github.url),
        ("GITHUB_TOKEN", GITHUB_TOKEN),
        ("GITHUB_MIN_WRITE_INTERVAL_MS", "0"),
    ]);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + BOUND;
    loop {
        let ready: serde_json::Value = client
            .get(format!("{}/readyz", replica.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["wake"] == "polling" {
            assert!(ready["wake_reason"]
                .as_str()
                .unwrap()
                .contains("LISTEN is not supported"));
            break;
        }
        assert!(Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let create = github.hold_next("POST");
    let body = issue_event(INTRODUCED, "1", FINDING, 1, T);
    let answer = client
        .post(format!("{}/webhooks", replica.address))
        .header("x-deepsource-signature", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    create.arrived().await;
    create.release();
    // Tried three times (1 s, then 2 s apart), and said so once.
    let deadline = Instant::now() + BOUND;
    while pooler.accepted() < 3 {
        assert!(Instant::now() < deadline, "tried to listen again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warnings: Vec<String> = replica
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("\"WARN\"") && line.contains("cannot LISTEN"))
        .cloned()
        .collect();
    assert_eq!(warnings.len(), 1, "one WARN line: {warnings:?}");
    assert!(warnings[0].contains("DATABASE_LISTEN_URL"));
}

#[tokio::test]
async fn an_idle_worker_sleeps_until_the_next_due_time_rather_than_looking_again_and_again() {
    let app = start_app(quiet, true).await;
    until_listening_and_idle(&app).await;
    let mut idle = app.liveness.idle();
    let before = *idle.borrow_and_update();
    // A job due in an hour, committed with its wake-up: the worker wakes, looks once, and goes
    // back to sleep until then.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO sync_jobs (finding_id, next_attempt_at) VALUES ($1, now() + interval '1 hour')")
        .bind(FINDING)
        .execute(&mut *tx)
        .await
        .unwrap();
    notify_work(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::timeout(BOUND, idle.wait_for(|n| *n > before))
        .await
        .unwrap()
        .unwrap();
    let asleep = *idle.borrow_and_update();
    // Within this window only the wake-up of listening's start (which may come late) can end
    // its sleep once more; a worker that did not wait for the due time would look every 50 ms.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let looks = *idle.borrow() - asleep;
    assert!(looks <= 1, "the worker looked {looks} times more without cause");
    assert!(app.github.calls().is_empty());
}
