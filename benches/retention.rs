//! How much the database grows per EVENTS events (default 10,000), without and with retention.
//! The service runs in-process with a dry-run worker; events (the published introduced sample,
//! spread over 500 findings) are posted over HTTP and synced. Then:
//! - without retention: what the tables grew by;
//! - with retention: bodies deleted (as `RETENTION_DAYS` would, here with a one-second period so
//!   nothing need be aged), a plain `VACUUM` as autovacuum would run, and another EVENTS events:
//!   their growth once freed space is reused is what a service with retention grows by;
//! - the floor: `VACUUM FULL`, the rows retention keeps, per EVENTS events.
//!
//! Run with `scripts/bench-retention.sh` (or `cargo bench --bench retention`).
mod support;

use std::time::Duration;

use deepsource_sync::configuration::Settings;
use deepsource_sync::maintenance::Retention;
use deepsource_sync::startup::Application;
use deepsource_sync::sync::Worker;
use futures_util::StreamExt;
use support::env_or;

const TABLES: [&str; 7] = [
    "webhook_events",
    "webhook_event_conflicts",
    "sync_jobs",
    "finding_ledger",
    "findings",
    "sync_actions",
    "github_events",
];

/// Bytes of the tables that grow with events, with their indexes and TOAST.
async fn size(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let mut total = 0;
    for table in TABLES {
        total += sqlx::query_scalar::<_, i64>("SELECT pg_total_relation_size($1::regclass)")
            .bind(table)
            .fetch_one(pool)
            .await?;
    }
    Ok(total)
}

async fn post_events(client: &reqwest::Client, address: &str, from: u64, count: u64) -> anyhow::Result<()> {
    let results = futures_util::stream::iter(from..from + count)
        .map(|n| {
            let body = support::event(&format!("ev-{n}"), Some(&format!("RI-{}", n % 500)));
            let signature = support::sign(&body);
            let request = client
                .post(format!("{address}/webhooks"))
                .header("content-type", "application/json")
                .header("x-deepsource-signature", signature)
                .body(body);
            async move { request.send().await.map(|r| r.status()) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for status in results {
        anyhow::ensure!(status? == 200, "an event was refused");
    }
    Ok(())
}

fn mb(bytes: i64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_048_576.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env_or("RETENTION_BENCH_EVENTS", 10_000);
    let (database_url, _admin) = support::fresh_database("dss_bench_retention").await?;
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "DEEPSOURCE_WEBHOOK_SECRETS" => Some(support::SECRET.into()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "RUST_LOG" => Some("warn".into()),
        _ => None,
    })?;
    let app = Application::build(settings.clone()).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let worker = Worker::new(pool.clone(), &settings)?;
    let sample = support::event("x", None).len();

    let empty = size(&pool).await?;
    post_events(&client, &address, 0, events).await?;
    worker.run_until_idle().await?;
    let without = size(&pool).await? - empty;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retention = Retention::new(pool.clone(), Some(Duration::from_secs(1))).expect("a period");
    let purged = retention.run_until_done().await?;
    sqlx::query("VACUUM").execute(&pool).await?;
    let before_second = size(&pool).await?;
    post_events(&client, &address, events, events).await?;
    worker.run_until_idle().await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    retention.run_until_done().await?;
    sqlx::query("VACUUM").execute(&pool).await?;
    let with = size(&pool).await? - before_second;

    sqlx::query("VACUUM FULL").execute(&pool).await?;
    let floor = size(&pool).await? - empty;

    println!("events per round: {events} ({sample} bytes each, over 500 findings), dry-run sync");
    println!("without retention: {} per {events} events", mb(without));
    println!(
        "with retention:    {} per {events} events (bodies deleted: {}; freed space reused after VACUUM)",
        mb(with),
        purged.event_bodies
    );
    println!("kept rows (VACUUM FULL): {} per {events} events", mb(floor / 2));
    Ok(())
}
