//! How close the sync worker gets to GitHub's pacing floor: N distinct introduced findings,
//! write limits scaled up for the fake (RATE writes per second instead of per minute), timed
//! until GitHub shows every issue. Run with `scripts/bench-sync.sh` (or `cargo bench --bench
//! sync_pacing`); SYNC_BENCH_FINDINGS and SYNC_BENCH_RATE override the defaults (400, 80).
#[path = "../tests/support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::{Duration, Instant};

use deepsource_sync::configuration::Settings;
use deepsource_sync::startup::Application;
use deepsource_sync::sync::Worker;
use fake_github::{FakeGitHub, Limits, TOKEN};
use futures_util::{stream, StreamExt};
use support::{env_or, event, sign, SECRET};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let findings = env_or("SYNC_BENCH_FINDINGS", 400);
    let rate = env_or("SYNC_BENCH_RATE", 80);
    let (database_url, _admin) = support::fresh_database("dss_bench_sync").await?;

    let github = FakeGitHub::start();
    // GitHub's limits, with "per minute" read as "per second": the fake refuses (and counts)
    // any write beyond `rate` in a rolling second, forgiving 2 ms of timer jitter.
    github.set_limits(Limits {
        per_minute: rate as usize,
        window: Duration::from_secs(1),
        min_interval: Duration::ZERO,
        tolerance: Duration::from_millis(2),
        interval_tolerance: Duration::ZERO,
    });
    let mut settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "DEEPSOURCE_WEBHOOK_SECRETS" => Some(SECRET.into()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "GITHUB_API_URL" => Some(github.url.clone()),
        "GITHUB_TOKEN" => Some(TOKEN.into()),
        _ => None,
    })?;
    support::pace_at(&mut settings, rate);

    let app = Application::build(settings.clone()).await?;
    let url = format!("http://127.0.0.1:{}/webhooks", app.port());
    let pool = app.pool();
    tokio::spawn(app.run_until_stopped());

    let client = reqwest::Client::new();
    stream::iter(0..findings)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let body = event(&format!("bench-{i}"), Some(&format!("finding-{i}")));
                let signature = sign(&body);
                let response = client
                    .post(&url)
                    .header("x-deepsource-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .expect("the service answers");
                assert!(response.status().is_success());
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;

    let worker = Worker::new(pool, &settings)?;
    let started = Instant::now();
    let pass = worker.run_until_idle().await?;
    let elapsed = started.elapsed().as_secs_f64();

    let issues = github.all_issues().len() as u64;
    let calls = github.calls().len() as f64;
    let floor = findings as f64 / rate as f64;
    println!(
        "findings: {findings}  allowed rate: {rate} writes/s  jobs done: {}",
        pass.jobs
    );
    println!("issues on GitHub: {issues} (expected {findings})");
    println!(
        "time until GitHub matched: {elapsed:.2} s  pacing floor: {floor:.2} s  ratio: {:.3}x",
        elapsed / floor
    );
    println!(
        "GitHub calls per finding: {:.2}  writes per finding: {:.2}  limit violations: {}",
        calls / findings as f64,
        github.writes() as f64 / findings as f64,
        github.violations()
    );
    anyhow::ensure!(issues == findings, "GitHub does not match");
    Ok(())
}
