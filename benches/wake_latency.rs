//! How long an event waits for the worker on an idle service: from just before its POST to the
//! arrival of its issue's create at GitHub. Whole builds are compared in one run, in turn:
//! WAKE_BENCH_BINS=`label=/path/to/deepsource-sync,...`, each started as `serve` (a child
//! process, as in production) on a fresh database against an in-process fake GitHub, then sent
//! WAKE_BENCH_EVENTS (default 200) new findings one at a time, 150 ms + up to
//! WAKE_BENCH_JITTER_MS (default 500) apart. Run with `scripts/bench-wake.sh` (which builds the
//! binaries) or `WAKE_BENCH_BINS=... cargo bench --bench wake_latency`.
#[path = "../tests/support/fake_github.rs"]
mod fake_github;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use fake_github::{FakeGitHub, Limits, TOKEN};
use support::{env_or, event, sign, SECRET};

/// The service's process, killed when the benchmark is done with it, also on an early return or
/// a panic, so no run leaves a worker behind on the shared machine.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Row {
    label: String,
    latencies_ms: Vec<f64>,
    timeouts: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bins = std::env::var("WAKE_BENCH_BINS")
        .context("WAKE_BENCH_BINS: label=/path/to/deepsource-sync[,label=/path...]")?;
    let events = env_or("WAKE_BENCH_EVENTS", 200);
    let mut rows = Vec::new();
    for entry in bins.split(',').filter(|e| !e.trim().is_empty()) {
        let (label, bin) = entry
            .split_once('=')
            .with_context(|| format!("{entry:?} is not label=/path"))?;
        let bin = PathBuf::from(bin.trim());
        ensure!(bin.is_file(), "{} is not a file", bin.display());
        eprintln!("== {label}: {events} events, {}", bin.display());
        rows.push(measure(label.trim(), &bin, events).await?);
    }

    println!("event -> first GitHub write (ms), {events} events each, one at a time");
    println!(
        "{:<16} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "build", "count", "timeouts", "p50", "p90", "p99", "max"
    );
    for row in &rows {
        let mut l = row.latencies_ms.clone();
        l.sort_by(f64::total_cmp);
        println!(
            "{:<16} {:>6} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            row.label,
            l.len(),
            row.timeouts,
            percentile(&l, 0.50),
            percentile(&l, 0.90),
            percentile(&l, 0.99),
            percentile(&l, 1.0)
        );
    }
    let timeouts: usize = rows.iter().map(|r| r.timeouts).sum();
    ensure!(timeouts == 0, "{timeouts} events never reached GitHub");
    Ok(())
}

/// Nearest rank over sorted values; NaN when there are none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1],
    }
}

async fn measure(label: &str, bin: &Path, events: u64) -> anyhow::Result<Row> {
    let db: String = label
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect();
    let db = format!("dss_bench_wake_{db}");
    let (database_url, admin) = support::fresh_database(&db).await?;

    // Its default limits never refuse; set them anyway, so no other default can make a refused
    // write (and its retry) part of a latency.
    let github = FakeGitHub::start();
    github.set_limits(Limits::default());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let bind = format!("127.0.0.1:{port}");
    let base = format!("http://{bind}");
    // Only these variables, and no `.env` (the service reads one from its directory up): what
    // the shell running the bench has set must not change either build.
    let mut service = Service(
        Command::new(bin)
            .arg("serve")
            .env_clear()
            .current_dir(std::env::temp_dir())
            .envs([
                ("DATABASE_URL", database_url.as_str()),
                ("DEEPSOURCE_WEBHOOK_SECRETS", SECRET),
                ("BIND_ADDR", bind.as_str()),
                ("GITHUB_API_URL", github.url.as_str()),
                ("GITHUB_TOKEN", TOKEN),
                ("RUST_LOG", "warn"),
                // Pacing that never holds a write back: what is measured is the wake-up.
                ("GITHUB_MIN_WRITE_INTERVAL_MS", "1"),
                ("GITHUB_WRITES_PER_MINUTE", "100000"),
                ("GITHUB_WRITES_PER_HOUR", "1000000"),
            ])
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?,
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &base, &mut service).await?;
    // Past start-up work (migrations, the first passes), so every event meets an idle worker.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let jitter_ms = env_or("WAKE_BENCH_JITTER_MS", 500);
    let mut seen = github.calls_since(0).len();
    let mut latencies_ms = Vec::new();
    let mut timeouts = 0;
    for i in 0..events {
        let finding = format!("wake-finding-{i}");
        let body = event(&format!("wake-{i}"), Some(&finding));
        let request = client
            .post(format!("{base}/webhooks"))
            .header("x-deepsource-signature", sign(&body))
            .body(body)
            .build()?;
        let sent = Instant::now();
        let response = client.execute(request).await?;
        ensure!(
            response.status().is_success(),
            "{label}: event {i} answered {}",
            response.status()
        );
        match first_create(&github, &mut seen, &finding).await {
            Some(at) => latencies_ms.push(at.duration_since(sent).as_secs_f64() * 1e3),
            None => {
                timeouts += 1;
                eprintln!("{label}: event {i}: no create at GitHub within 30 s");
            }
        }
        // A polling worker restarts its timer when a job ends, so the gap after the create sets
        // where in the poll interval the next event lands: a random part as long as the interval
        // (500 ms before wake on commit) spreads events over all of it instead of one phase.
        let gap = 150 + rand::random_range(0..=jitter_ms);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }

    drop(service);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    Ok(Row {
        label: label.to_owned(),
        latencies_ms,
        timeouts,
    })
}

async fn wait_ready(client: &reqwest::Client, base: &str, service: &mut Service) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = service.0.try_wait()? {
            bail!("the service exited before it was ready: {status}");
        }
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the service was not ready within 60 s")
}

/// When the create of `finding`'s issue (the write carrying its hidden marker) arrived; calls
/// before it are passed over for good. The fake stamps each call as it arrives, so looking every
/// millisecond bounds only how soon the next event goes, not what is measured.
async fn first_create(github: &FakeGitHub, seen: &mut usize, finding: &str) -> Option<Instant> {
    let marker = format!("<!-- deepsource-sync:{finding} -->");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for (at, call) in github.calls_since(*seen) {
            *seen += 1;
            let body = call.body.get("body").and_then(|b| b.as_str()).unwrap_or("");
            if call.method == "POST" && body.contains(&marker) {
                return Some(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}
