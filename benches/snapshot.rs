//! A backfill from DeepSource's API: a fake repository with FINDINGS RepositoryIssues and
//! OCCURRENCES occurrences in all, compared by the `backfill` command (a release build, as an
//! operator runs it: its time, the requests it made, its peak memory), then the worker until
//! GitHub shows every issue, with GitHub's limits scaled to RATE writes a second, against the
//! pacing floor. Run with `scripts/bench-snapshot.sh` (or `cargo bench --bench snapshot`);
//! SNAPSHOT_BENCH_FINDINGS, SNAPSHOT_BENCH_OCCURRENCES and SNAPSHOT_BENCH_RATE override the
//! defaults (2000, 10000, 80).
#[path = "../tests/support/fake_deepsource.rs"]
mod fake_deepsource;
#[path = "../tests/support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::{Duration, Instant};

use deepsource_sync::configuration::Settings;
use deepsource_sync::sync::Worker;
use fake_deepsource::{FakeDeepSource, Finding};
use fake_github::{FakeGitHub, Limits, TOKEN};
use support::env_or;

/// The child's peak resident memory, read from /proc while it runs (kB).
fn watch_peak(pid: u32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(hwm) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
            {
                peak = hwm;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let findings = env_or("SNAPSHOT_BENCH_FINDINGS", 2000) as usize;
    let occurrences = env_or("SNAPSHOT_BENCH_OCCURRENCES", 10_000) as usize;
    let rate = env_or("SNAPSHOT_BENCH_RATE", 80);
    let (database_url, admin) = support::fresh_database("dss_bench_snapshot").await?;

    // Occurrences spread evenly, the remainder on the first findings; some findings have more
    // than a page of them when the average is high.
    let deepsource = FakeDeepSource::start();
    let open: Vec<Finding> = (0..findings)
        .map(|i| {
            let count = occurrences / findings + usize::from(i < occurrences % findings);
            let severity = ["CRITICAL", "MAJOR", "MINOR"][i % 3];
            Finding::new(
                &format!("RI{i}"),
                &format!("GO-W{i:04}"),
                severity,
                &format!("pkg/f{}.go", i % 50),
                count,
            )
        })
        .collect();
    deepsource.set_open("acme/api", open);
    // With up to 100 occurrences each, every issue's occurrences come on its first page.
    let pages = findings.div_ceil(100);

    let binary =
        std::env::var("SNAPSHOT_BENCH_BINARY").unwrap_or_else(|_| "target/release/deepsource-sync".into());
    let started = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .args(["backfill", "--repository", "acme/api"])
        .env_clear()
        .env("DATABASE_URL", &database_url)
        .env("DEEPSOURCE_API_URL", &deepsource.url)
        .env("DEEPSOURCE_API_TOKEN", fake_deepsource::TOKEN)
        .env("DEEPSOURCE_REQUESTS_PER_HOUR", "5000")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("{binary}: {e} (build it with cargo build --release)"))?;
    let peak = watch_peak(child.id());
    let status = child.wait()?;
    let took = started.elapsed();
    let peak_kb = peak.join().unwrap_or(0);
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut summary)?;
    anyhow::ensure!(status.success(), "backfill failed: {summary}");
    println!("{}", summary.trim());
    println!(
        "snapshot of {findings} issues / {occurrences} occurrences taken and applied in {:.2} s (including start-up and migrations)",
        took.as_secs_f64()
    );
    println!(
        "requests to DeepSource: {} (the least possible: {pages})",
        deepsource.requests()
    );
    println!(
        "peak resident memory of the backfill: {:.1} MB",
        peak_kb as f64 / 1024.0
    );

    let github = FakeGitHub::start();
    github.set_limits(Limits {
        per_minute: rate as usize,
        window: Duration::from_secs(1),
        min_interval: Duration::ZERO,
        tolerance: Duration::from_millis(2),
        interval_tolerance: Duration::ZERO,
    });
    let mut settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "GITHUB_API_URL" => Some(github.url.clone()),
        "GITHUB_TOKEN" => Some(TOKEN.into()),
        "GITHUB_REPO" => Some("acme/tracker".into()),
        _ => None,
    })?;
    support::pace_at(&mut settings, rate);
    let pool = sqlx::PgPool::connect(&database_url).await?;
    let worker = Worker::new(pool, &settings)?;
    let started = Instant::now();
    worker.run_until_idle().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let issues = github.all_issues().len();
    let floor = findings as f64 / rate as f64;
    println!(
        "issues on GitHub: {issues} (expected {findings}); limit violations: {}",
        github.violations()
    );
    println!(
        "time until GitHub matched: {elapsed:.2} s  pacing floor at {rate} writes/s: {floor:.2} s  ratio: {:.3}x",
        elapsed / floor
    );
    anyhow::ensure!(issues == findings, "GitHub does not match");
    sqlx::query("DROP DATABASE IF EXISTS dss_bench_snapshot WITH (FORCE)")
        .execute(&admin)
        .await?;
    Ok(())
}
