//! The overview issue (`OVERVIEW_ISSUE`), measured:
//! 1. How soon a repository new to the service is visible in GitHub: OVERVIEW_BENCH_FINDINGS
//!    (default 2000) open findings compared from the fake DeepSource, then the worker, from the
//!    comparison's start. With `FINDING_ISSUES=none` under GitHub's real limits (80 writes a
//!    minute, 500 an hour, a second apart); with `CRITICAL,MAJOR` with the limits scaled to
//!    OVERVIEW_BENCH_RATE writes a second (default 80) and the creates' time at the real limits
//!    worked out from the pacing floor; beside today's 2,000 creates.
//! 2. A burst: OVERVIEW_BENCH_EVENTS (default 500) events across OVERVIEW_BENCH_BURST_FINDINGS
//!    (default 100) findings of one repository, posted to a running service as fast as they go,
//!    with `OVERVIEW_DELAY` OVERVIEW_BENCH_DELAY_MS (default 2000): the overview's writes.
//!
//! Run with `scripts/bench-overview.sh` (or `cargo bench --bench overview`).
#[path = "../tests/support/fake_deepsource.rs"]
mod fake_deepsource;
#[path = "../tests/support/fake_github.rs"]
mod fake_github;
mod support;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use deepsource_sync::configuration::{FindingIssues, Settings};
use deepsource_sync::deepsource::RepositoryRef;
use deepsource_sync::reconcile::{client, estimate, reconcile};
use deepsource_sync::startup::Application;
use deepsource_sync::sync::Worker;
use deepsource_sync::wake::Wakeups;
use fake_deepsource::{FakeDeepSource, Finding};
use fake_github::{FakeGitHub, Limits, TOKEN};
use support::{env_or, event, sign, SECRET};

const LABEL: &str = "deepsource/overview";

fn settings(
    database_url: &str,
    github: &FakeGitHub,
    deepsource: Option<&FakeDeepSource>,
) -> anyhow::Result<Settings> {
    let (database_url, github_url) = (database_url.to_owned(), github.url.clone());
    let deepsource_url = deepsource.map(|d| d.url.clone());
    Ok(Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "GITHUB_API_URL" => Some(github_url.clone()),
        "GITHUB_TOKEN" => Some(TOKEN.into()),
        "DEEPSOURCE_API_URL" => deepsource_url.clone(),
        "DEEPSOURCE_API_TOKEN" => deepsource_url.as_ref().map(|_| fake_deepsource::TOKEN.into()),
        "DEEPSOURCE_REQUESTS_PER_HOUR" => Some("5000".into()),
        "DEEPSOURCE_WEBHOOK_SECRETS" => Some(SECRET.into()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "OVERVIEW_ISSUE" => Some("true".into()),
        _ => None,
    })?)
}

/// Findings of every severity, with titles as long as DeepSource's usually are.
fn open_findings(n: usize) -> Vec<Finding> {
    (0..n)
        .map(|i| {
            let mut f = Finding::new(
                &format!("UmVwb3NpdG9yeUlzc3VlOjE{i:06}"),
                &format!("PY-W{:04}", i % 9999),
                ["CRITICAL", "MAJOR", "MINOR"][i % 3],
                &format!("src/pkg{}/module_{i}.py", i % 40),
                1 + i % 5,
            );
            f.title = format!("Unused variable found in function body of module {i}");
            f
        })
        .collect()
}

struct Visible {
    /// From the comparison's start to the overview's create at GitHub.
    overview_after: Duration,
    /// From the comparison's start to the last write.
    done_after: Duration,
    writes: usize,
    creates: usize,
    overview_first: bool,
    lines: usize,
    body_chars: usize,
    not_shown: Option<String>,
}

async fn time_to_visible(findings: usize, mode: FindingIssues, rate: Option<u64>) -> anyhow::Result<Visible> {
    let (database_url, admin) = support::fresh_database("dss_bench_overview").await?;
    let deepsource = FakeDeepSource::start();
    deepsource.set_open("acme/api", open_findings(findings));
    let github = FakeGitHub::start();
    let mut settings = settings(&database_url, &github, Some(&deepsource))?;
    settings.issues.finding_issues = mode;
    if let Some(rate) = rate {
        support::pace_at(&mut settings, rate);
        github.set_limits(Limits {
            per_minute: rate as usize,
            window: Duration::from_secs(1),
            tolerance: Duration::from_millis(2),
            ..Limits::default()
        });
    }
    deepsource_sync::db::prepare(&settings.database).await?;
    let pool = sqlx::PgPool::connect(&database_url).await?;
    let client = client(&pool, &settings)?.context("a DeepSource client")?;
    let repository = RepositoryRef::parse("acme/api", "GITHUB").map_err(anyhow::Error::msg)?;

    let started = Instant::now();
    reconcile(&pool, &client, &repository, false).await?;
    Worker::new(pool.clone(), &settings)?.run_until_idle().await?;

    let calls = github.calls_since(0);
    let writes: Vec<_> = calls.iter().filter(|(_, c)| c.method != "GET").collect();
    let is_overview = |c: &fake_github::Call| {
        c.method == "POST"
            && c.body["labels"]
                .as_array()
                .is_some_and(|l| l.iter().any(|v| v == LABEL))
    };
    let overview_at = writes
        .iter()
        .find(|(_, c)| is_overview(c))
        .map(|(at, _)| *at)
        .context("the overview was written")?;
    let overview = github
        .issues("acme/api")
        .into_iter()
        .find(|i| i.labels.iter().any(|l| l == LABEL))
        .context("the overview is at GitHub")?;
    sqlx::query("DROP DATABASE IF EXISTS dss_bench_overview WITH (FORCE)")
        .execute(&admin)
        .await
        .ok();
    Ok(Visible {
        overview_after: overview_at.duration_since(started),
        done_after: writes
            .last()
            .map_or(Duration::ZERO, |(at, _)| at.duration_since(started)),
        writes: writes.len(),
        creates: writes
            .iter()
            .filter(|(_, c)| c.method == "POST" && !is_overview(c))
            .count(),
        overview_first: writes.first().is_some_and(|(_, c)| is_overview(c)),
        lines: overview.body.lines().filter(|l| l.starts_with("- ")).count(),
        body_chars: overview.body.chars().count(),
        not_shown: overview
            .body
            .lines()
            .find(|l| l.contains("Not shown"))
            .map(str::to_owned),
    })
}

/// The overview's writes for a burst of events posted to a running service.
async fn burst(events: usize, findings: usize, delay: Duration) -> anyhow::Result<(i64, Duration)> {
    let (database_url, admin) = support::fresh_database("dss_bench_overview_burst").await?;
    let github = FakeGitHub::start();
    let mut settings = settings(&database_url, &github, None)?;
    settings.issues.finding_issues = FindingIssues::None;
    settings.overview.delay = delay;
    let app = Application::build(settings.clone()).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wakeups = Wakeups::start(settings.database.listen_url().to_owned(), &pool, stopped.clone());
    let worker = app.spawn_worker(&settings, stopped, wakeups);
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..events {
        let body = event(&format!("burst-{i}"), Some(&format!("RI-burst-{}", i % findings)));
        let response = http
            .post(format!("{address}/webhooks"))
            .header("x-deepsource-signature", sign(&body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "intake answered {}",
            response.status()
        );
    }
    let posted = started.elapsed();
    // Settled: every job done and no overview write waiting.
    let deadline = Instant::now() + delay * 6 + Duration::from_secs(60);
    loop {
        let (busy, due): (i64, bool) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sync_jobs WHERE status IN ('pending', 'running')),
                    EXISTS (SELECT 1 FROM overviews WHERE due_at IS NOT NULL OR visible_at IS NULL)",
        )
        .fetch_one(&pool)
        .await?;
        if busy == 0 && !due {
            break;
        }
        ensure!(Instant::now() < deadline, "the service did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let writes: i64 = sqlx::query_scalar("SELECT writes FROM overviews")
        .fetch_one(&pool)
        .await?;
    let _ = stop.send(true);
    worker.await?;
    pool.close().await;
    sqlx::query("DROP DATABASE IF EXISTS dss_bench_overview_burst WITH (FORCE)")
        .execute(&admin)
        .await
        .ok();
    Ok((writes, posted))
}

fn hours(d: Duration) -> String {
    format!("{:.2} h", d.as_secs_f64() / 3600.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let findings = env_or("OVERVIEW_BENCH_FINDINGS", 2000) as usize;
    let rate = env_or("OVERVIEW_BENCH_RATE", 80);
    let events = env_or("OVERVIEW_BENCH_EVENTS", 500) as usize;
    let burst_findings = env_or("OVERVIEW_BENCH_BURST_FINDINGS", 100) as usize;
    let delay = Duration::from_millis(env_or("OVERVIEW_BENCH_DELAY_MS", 2000));
    let real = Settings::from_lookup(|_| None)?.github;

    println!("time to visible: {findings} open findings, from the comparison's start");
    println!(
        "  today (FINDING_ISSUES=all, no overview): {findings} creates, the last after {} at GitHub's real limits",
        hours(estimate(findings as i64, &real))
    );

    let none = time_to_visible(findings, FindingIssues::None, None).await?;
    println!(
        "  FINDING_ISSUES=none, real limits: the overview written after {:.2} s; {} GitHub write(s) in all; {} lines listed ({} characters){}",
        none.overview_after.as_secs_f64(),
        none.writes,
        none.lines,
        none.body_chars,
        none.not_shown.as_deref().map_or(String::new(), |l| format!("; then: {}", l.trim())),
    );
    ensure!(none.writes == 1, "one write with FINDING_ISSUES=none");

    let some = time_to_visible(
        findings,
        FindingIssues::Severities(vec!["CRITICAL".into(), "MAJOR".into()]),
        Some(rate),
    )
    .await?;
    let floor = Duration::from_secs_f64(some.writes as f64 / rate as f64);
    println!(
        "  FINDING_ISSUES=CRITICAL,MAJOR, limits scaled to {rate} writes/s: the overview written {} after {:.2} s, then {} creates, the last after {:.2} s (pacing floor {:.2} s, {:.3}x); at GitHub's real limits those creates take {}",
        if some.overview_first { "first" } else { "NOT first" },
        some.overview_after.as_secs_f64(),
        some.creates,
        some.done_after.as_secs_f64(),
        floor.as_secs_f64(),
        some.done_after.as_secs_f64() / floor.as_secs_f64(),
        hours(estimate(some.creates as i64, &real)),
    );
    ensure!(
        some.overview_first,
        "the overview is written before any finding's issue"
    );

    let (writes, posted) = burst(events, burst_findings, delay).await?;
    println!(
        "burst: {events} events across {burst_findings} findings posted in {:.2} s, OVERVIEW_DELAY {:?}: {writes} overview write(s) (the create, then the coalesced update)",
        posted.as_secs_f64(),
        delay
    );
    ensure!(writes <= 2, "at most 2 overview writes for the burst");
    Ok(())
}
