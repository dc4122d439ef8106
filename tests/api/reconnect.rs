//! Every pooled connection ended while the service sits idle, Postgres itself still up (what a
//! restart of Postgres, a failover or a pooler's restart does to a pool): no request fails for
//! it, at any entry point, one at a time or all at once. One that ends under a store is stored
//! again on another connection, once.
use std::time::{Duration, Instant};

use deepsource_sync::domain::WebhookSecret;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};

use crate::admin::ADMIN_TOKEN;
use crate::cli::binary;
use crate::helpers::{issue_event, server_url, start_app, Fault, TestApp, INTRODUCED, SAMPLE_REPO};
use crate::people::{post_github, GITHUB_SECRET};
use crate::status_page::sign_in;

/// As in the issue that asked for this: a pool of eight, all of them dropped at once.
const POOL_SIZE: u32 = 8;

async fn app(run_worker: bool) -> TestApp {
    start_app(
        |s| {
            s.database.max_connections = POOL_SIZE;
            s.operations.admin_token = Some(SecretString::from(ADMIN_TOKEN));
            s.github.webhook_secret = Some(WebhookSecret::parse(GITHUB_SECRET).unwrap());
        },
        run_worker,
    )
    .await
}

/// Polls until `done` (each look is a query or a glance at the pool: a signal, not a guess at
/// how long something takes); the bound only turns a hang into a failure.
pub(crate) async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Opens every connection the service's pool may hold and puts them all back, idle.
async fn fill_the_pool(app: &TestApp) {
    let held = futures_util::future::try_join_all((0..POOL_SIZE).map(|_| app.service_pool.acquire()))
        .await
        .expect("the service's pool opens all its connections");
    drop(held);
    // Each goes back to the idle queue from a task of its own.
    until("every connection is back in the pool", async || {
        app.service_pool.num_idle() == POOL_SIZE as usize
    })
    .await;
}

/// Ends every session of the app's database (the server stays up) and waits until they are gone.
/// Sessions opened after (the listening connection is made again at once) are not waited for.
async fn drop_every_connection(app: &TestApp) {
    let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .unwrap();
    let sessions: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
        .bind(&app.db_name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
    // Only these: a condition beside pg_terminate_backend in one WHERE may be evaluated after it.
    let ended: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM unnest($1::int[]) AS pid WHERE pg_terminate_backend(pid)")
            .bind(&sessions)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert!(
        ended.len() >= POOL_SIZE as usize,
        "ended only {} sessions",
        ended.len()
    );
    until("every session has ended", async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
            .bind(&ended)
            .fetch_one(&mut admin)
            .await
            .unwrap()
            == 0
    })
    .await;
}

/// A dead job to retry, a signed-in status page, and the pool full of connections that are
/// then all ended: the cookie for the page.
async fn prepare(app: &TestApp) -> String {
    app.github.fail_next("POST", Fault::Status(404));
    app.sync_event(INTRODUCED, "dead-1", "RI-dead", 1, 1_700_000_000)
        .await;
    assert_eq!(app.job_of("dead-1").await.0, "dead");
    let (_, cookie) = sign_in(app).await;
    fill_the_pool(app).await;
    drop_every_connection(app).await;
    cookie
}

type Check<'a> = (&'static str, LocalBoxFuture<'a, Result<(), String>>);

/// The body of a 200, or what came instead.
pub(crate) async fn ok(response: reqwest::Response) -> Result<String, String> {
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    match status.as_u16() {
        200 => Ok(text),
        _ => Err(format!("{status}: {text}")),
    }
}

fn expect(ok: bool, text: &str) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| text.to_owned())
}

/// One request to each entry point that reads or writes the database; each is made once.
fn every_entry_point<'a>(app: &'a TestApp, cookie: &'a str) -> Vec<Check<'a>> {
    let admin = |path: &'static str, post: bool| {
        let method = if post {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        app.client
            .request(method, format!("{}{path}", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .map(|sent| sent.unwrap())
    };
    let url = app.settings.database.url().to_owned();
    vec![
        (
            "POST /github/webhooks",
            async move {
                let ping = std::fs::read(format!(
                    "{}/tests/fixtures/github/ping.json",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap();
                let text = ok(post_github(app, "ping", "gh-1", &ping).await).await?;
                expect(text.contains(r#""status":"stored""#), &text)
            }
            .boxed_local(),
        ),
        (
            "POST /webhooks",
            async move {
                let text = ok(app
                    .post_signed(&issue_event(INTRODUCED, "ds-1", "RI-new", 1, 1_700_000_000))
                    .await)
                .await?;
                expect(text.contains(r#""status":"stored""#), &text)
            }
            .boxed_local(),
        ),
        (
            "GET /api/findings",
            async move {
                let text = ok(admin("/api/findings", false).await).await?;
                expect(text.contains("RI-dead"), &text)
            }
            .boxed_local(),
        ),
        (
            "GET /api/jobs",
            async move { ok(admin("/api/jobs", false).await).await.map(drop) }.boxed_local(),
        ),
        (
            "GET /api/deliveries",
            async move { ok(admin("/api/deliveries", false).await).await.map(drop) }.boxed_local(),
        ),
        (
            "POST /api/jobs/retry",
            async move {
                let text = ok(admin("/api/jobs/retry?status=dead", true).await).await?;
                expect(text.contains(r#""retried":1"#), &text)
            }
            .boxed_local(),
        ),
        (
            "GET / (status page)",
            async move {
                let page = app
                    .client
                    .get(format!("{}/", app.address))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                let text = ok(page).await?;
                expect(text.contains("Dead jobs"), "not the dashboard")
            }
            .boxed_local(),
        ),
        (
            "GET /metrics",
            async move {
                let text = ok(app.get("/metrics").await).await?;
                expect(text.contains("\ndeepsource_sync_jobs{status=\"dead\"}"), &text)
            }
            .boxed_local(),
        ),
        (
            "GET /readyz",
            async move { ok(app.get("/readyz").await).await.map(drop) }.boxed_local(),
        ),
        (
            "deepsource-sync status",
            async move {
                let output = tokio::task::spawn_blocking(move || {
                    binary(&[("DATABASE_URL", &url)]).arg("status").output().unwrap()
                })
                .await
                .unwrap();
                let out = String::from_utf8_lossy(&output.stdout).into_owned();
                expect(
                    output.status.success() && out.contains("findings"),
                    &format!("{out}{}", String::from_utf8_lossy(&output.stderr)),
                )
            }
            .boxed_local(),
        ),
    ]
}

fn failures(results: Vec<(&'static str, Result<(), String>)>) -> Vec<String> {
    results
        .into_iter()
        .filter_map(|(what, result)| result.err().map(|e| format!("{what}: {e}")))
        .collect()
}

/// Each delivery once, its job once; the retry took the dead job back.
async fn stored_once(app: &TestApp) {
    let github: i64 = sqlx::query_scalar("SELECT count(*) FROM github_events WHERE id = 'gh-1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(github, 1);
    assert!(app.stored_event("ds-1").await.is_some());
    assert_eq!(app.jobs_for("ds-1").await.len(), 1);
    assert_eq!(app.job_of("dead-1").await.0, "pending");
}

#[tokio::test]
async fn after_every_pooled_connection_is_dropped_each_entry_point_succeeds_first_time_one_at_a_time() {
    let app = app(false).await;
    let cookie = prepare(&app).await;
    let mut results = Vec::new();
    for (what, check) in every_entry_point(&app, &cookie) {
        results.push((what, check.await));
    }
    let failed = failures(results);
    assert!(
        failed.is_empty(),
        "failed on their first try:\n{}",
        failed.join("\n")
    );
    stored_once(&app).await;
}

#[tokio::test]
async fn after_every_pooled_connection_is_dropped_each_entry_point_succeeds_first_time_all_at_once() {
    let app = app(false).await;
    let cookie = prepare(&app).await;
    let (names, checks): (Vec<_>, Vec<_>) = every_entry_point(&app, &cookie).into_iter().unzip();
    let results = names
        .into_iter()
        .zip(futures_util::future::join_all(checks).await)
        .collect();
    let failed = failures(results);
    assert!(
        failed.is_empty(),
        "failed on their first try:\n{}",
        failed.join("\n")
    );
    stored_once(&app).await;
}

#[tokio::test]
async fn a_worker_mid_claim_finishes_its_sync_on_fresh_connections() {
    let app = app(true).await;
    let create = app.github.hold_next("POST");
    app.deliver(&issue_event(INTRODUCED, "w-1", "RI-w", 2, 1_700_000_000))
        .await;
    // The worker holds the finding's lease and waits for GitHub while its connections sit idle.
    create.arrived().await;
    fill_the_pool(&app).await;
    drop_every_connection(&app).await;
    create.release();

    until("the job is done", async || app.job_of("w-1").await.0 == "done").await;
    // Every statement after the create succeeded the first time: the link and the job's end
    // were written by this attempt, no search for an interrupted create was needed, and the
    // lease was given back rather than left to run out.
    assert_eq!(app.attempts_of("w-1").await, 1);
    assert_eq!(app.linked_issue("RI-w").await, Some(1));
    assert_eq!(app.github.issues(SAMPLE_REPO).len(), 1);
    assert_eq!(app.github.writes(), 1);
    assert!(
        app.github.calls().iter().all(|c| !c.path.contains("search")),
        "{:?}",
        app.github.calls()
    );
    until("the lease is released", async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM finding_leases")
            .fetch_one(&app.pool)
            .await
            .unwrap()
            == 0
    })
    .await;
}

/// Holds a lock on `table` that blocks writes to it until the transaction ends.
async fn lock(app: &TestApp, table: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
        .execute(&mut *lock)
        .await
        .unwrap();
    lock
}

/// Ends the session whose statement (`LIKE statement`) waits on the lock, then lets the lock go:
/// the service's connection dies under its statement, which never ran.
async fn end_the_waiting_session(
    app: &TestApp,
    lock: sqlx::Transaction<'static, sqlx::Postgres>,
    statement: &str,
) {
    let waiting = "SELECT pid FROM pg_stat_activity
                   WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE $2";
    let mut pid = None;
    until("the statement waits on the lock", async || {
        pid = sqlx::query_scalar::<_, i32>(waiting)
            .bind(&app.db_name)
            .bind(statement)
            .fetch_optional(&app.pool)
            .await
            .unwrap();
        pid.is_some()
    })
    .await;
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(ended);
    lock.rollback().await.unwrap();
}

#[tokio::test]
async fn a_delivery_whose_connection_ends_under_its_store_is_stored_on_another_once() {
    let app = app(false).await;
    let ping = std::fs::read(format!(
        "{}/tests/fixtures/github/ping.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let held = lock(&app, "github_events").await;
    let (answer, ()) = tokio::join!(
        post_github(&app, "ping", "gh-2", &ping),
        end_the_waiting_session(&app, held, "%INSERT INTO github_events%")
    );
    let text = ok(answer).await.unwrap();
    assert!(text.contains(r#""status":"stored""#), "{text}");
    let github: i64 = sqlx::query_scalar("SELECT count(*) FROM github_events WHERE id = 'gh-2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(github, 1);

    let held = lock(&app, "webhook_events").await;
    let event = issue_event(INTRODUCED, "ds-2", "RI-2", 1, 1_700_000_000);
    let (answer, ()) = tokio::join!(
        app.post_signed(&event),
        end_the_waiting_session(&app, held, "%INSERT INTO webhook_events%")
    );
    let text = ok(answer).await.unwrap();
    assert!(text.contains(r#""status":"stored""#), "{text}");
    assert_eq!(app.count_rows().await, (1, 1, 0));
}
