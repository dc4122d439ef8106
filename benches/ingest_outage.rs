//! How intake answers while the database is away: signed events at a steady rate, with
//! Postgres behind a TCP proxy (`tests/support/tcp_proxy.rs`) that first stalls (forwards
//! nothing, as if packets were dropped) and later refuses (closes every connection), each for a
//! few seconds. Prints, per outage, the answers to the requests sent during it and their
//! time-to-answer, and how long after the database came back deliveries were stored again.
//! Run with `cargo bench --bench ingest_outage`; OUTAGE_BENCH_RATE (events/s, default 400) and
//! OUTAGE_BENCH_SECS (each outage, default 10: longer than the 5 s default INGEST_TIMEOUT_MS)
//! override the defaults.
mod support;
#[path = "../tests/support/tcp_proxy.rs"]
mod tcp_proxy;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deepsource_sync::configuration::Settings;
use deepsource_sync::startup::Application;
use support::{env_or, event, sign, SECRET};
use tcp_proxy::TcpProxy;

/// One request: when it was sent and answered (since the start), and the status (0: no answer).
#[derive(Clone, Copy)]
struct Sample {
    sent: Duration,
    answered: Duration,
    status: u16,
}

struct Phase {
    name: &'static str,
    start: Duration,
    end: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate = env_or("OUTAGE_BENCH_RATE", 400);
    let outage = Duration::from_secs(env_or("OUTAGE_BENCH_SECS", 10));
    let server = std::env::var("BENCH_DATABASE_SERVER_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let upstream = std::env::var("BENCH_POSTGRES_ADDR").unwrap_or_else(|_| "127.0.0.1:5432".into());

    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query("DROP DATABASE IF EXISTS dss_bench_outage WITH (FORCE)")
        .execute(&admin)
        .await?;
    let proxy = TcpProxy::start(upstream.parse()?).await;
    let database_url = format!("postgres://postgres@{}/dss_bench_outage", proxy.addr);
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "DEEPSOURCE_WEBHOOK_SECRETS" => Some(SECRET.into()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        _ => None,
    })?;
    let app = Application::build(settings).await?;
    let url = format!("http://127.0.0.1:{}/webhooks", app.port());
    tokio::spawn(app.run_until_stopped());

    let warm = Duration::from_secs(2);
    let recovery = Duration::from_secs(3);
    let phases = [
        Phase {
            name: "stalled",
            start: warm,
            end: warm + outage,
        },
        Phase {
            name: "refusing",
            start: warm + outage + recovery,
            end: warm + outage + recovery + outage,
        },
    ];
    let total = phases[1].end + recovery;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut requests = Vec::new();
    let mut i = 0u64;
    let mut phase_switches = vec![
        (phases[0].start, 's'),
        (phases[0].end, 'r'),
        (phases[1].start, 'x'),
        (phases[1].end, 'r'),
    ]
    .into_iter()
    .peekable();
    loop {
        let due = interval * i as u32;
        if due >= total {
            break;
        }
        tokio::time::sleep_until((started + due).into()).await;
        while let Some(&(at, what)) = phase_switches.peek() {
            if started.elapsed() < at {
                break;
            }
            match what {
                's' => proxy.stall(),
                'x' => proxy.refuse(),
                _ => proxy.resume(),
            }
            phase_switches.next();
        }
        let (client, url, samples) = (client.clone(), url.clone(), samples.clone());
        requests.push(tokio::spawn(async move {
            let body = event(&format!("outage-{i}"), None);
            let signature = sign(&body);
            let status = match client
                .post(&url)
                .header("x-deepsource-signature", signature)
                .body(body)
                .send()
                .await
            {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            samples.lock().unwrap().push(Sample {
                sent: due,
                answered: started.elapsed(),
                status,
            });
        }));
        i += 1;
    }
    for request in requests {
        request.await?;
    }

    let samples = samples.lock().unwrap().clone();
    println!(
        "{} events at {rate}/s; Postgres behind a proxy, {} s stalled, then {} s refusing",
        samples.len(),
        outage.as_secs(),
        outage.as_secs()
    );
    for phase in &phases {
        let during: Vec<Sample> = samples
            .iter()
            .filter(|s| s.sent >= phase.start && s.sent < phase.end)
            .copied()
            .collect();
        let mut waits: Vec<f64> = during
            .iter()
            .map(|s| (s.answered - s.sent).as_secs_f64() * 1000.0)
            .collect();
        waits.sort_by(f64::total_cmp);
        let quantile = |q: usize| waits[(waits.len() * q / 100).min(waits.len() - 1)];
        let (p50, p99) = (quantile(50), quantile(99));
        let count = |status: u16| during.iter().filter(|s| s.status == status).count();
        let answered_during = during.iter().filter(|s| s.answered < phase.end).count();
        println!(
            "{:>9}: {} sent; 503: {}, 200: {}, other: {}; answered before the database was back: {}; \
             time to answer p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            phase.name,
            during.len(),
            count(503),
            count(200),
            during.len() - count(503) - count(200),
            answered_during,
            p50,
            p99,
            waits.last().unwrap()
        );
        // Recovery: from the database's return to the first request sent after it that was stored,
        // after which every later one was.
        // Only answers given before the next outage began count.
        let after: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.sent >= phase.end && s.answered < phase.end + recovery)
            .collect();
        let failed_after = after.iter().filter(|s| s.status != 200).count();
        let last_failure = after.iter().filter(|s| s.status != 200).map(|s| s.sent).max();
        let recovered = match last_failure {
            None => after.first().map(|s| s.answered.saturating_sub(phase.end)),
            Some(t) => after
                .iter()
                .find(|s| s.sent > t)
                .map(|s| s.answered.saturating_sub(phase.end)),
        };
        match recovered {
            Some(t) => println!(
                "{:>9}  stored again {:.0} ms after the database was back ({failed_after} of {} sent in the {} s after it failed)",
                "",
                t.as_secs_f64() * 1000.0,
                after.len(),
                recovery.as_secs()
            ),
            None => println!(
                "{:>9}  not recovered within {} s ({failed_after} of {} failed)",
                "",
                recovery.as_secs(),
                after.len()
            ),
        }
    }
    drop(proxy);
    sqlx::query("DROP DATABASE IF EXISTS dss_bench_outage WITH (FORCE)")
        .execute(&admin)
        .await?;
    Ok(())
}
