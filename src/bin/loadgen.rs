//! Sends signed DeepSource events at a running deepsource-sync and prints throughput and latency.
//!
//! Closed loop (default): `--concurrency` connections send as fast as answers come back.
//! Fixed rate (`--rate R`): events are scheduled R per second and each latency is measured from
//! its scheduled send time, so a stall shows up in the percentiles instead of hiding.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::sync::Mutex;

const TEMPLATES: [&[u8]; 6] = [
    include_bytes!("../../tests/fixtures/deepsource/repository_issue_introduced.json"),
    include_bytes!("../../tests/fixtures/deepsource/repository_issue_resolved.json"),
    include_bytes!("../../tests/fixtures/deepsource/analysis_run_updated.json"),
    include_bytes!("../../tests/fixtures/deepsource/autofix_run_started.json"),
    include_bytes!("../../tests/fixtures/deepsource/autofix_run_updated.json"),
    include_bytes!("../../tests/fixtures/deepsource/test_event.json"),
];

#[derive(Debug, Parser)]
#[command(about = "Load generator for deepsource-sync's POST /webhooks")]
struct Args {
    /// The webhook endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks")]
    url: String,
    /// Secret to sign with (one of the service's DEEPSOURCE_WEBHOOK_SECRETS); unsigned if absent.
    #[arg(long, env = "LOADGEN_SECRET")]
    secret: Option<String>,
    /// How many events to send.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Requests in flight at once (closed loop), or the cap on them (fixed rate).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Send at this many events per second instead of as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Prefix of the generated ids; defaults to the current time so runs never collide.
    #[arg(long)]
    id_prefix: Option<String>,
}

#[derive(Default)]
struct Tally {
    stored: usize,
    duplicate: usize,
    conflict: usize,
    refused: usize,
    failed: usize,
}

/// A sample payload split around its id, so a new event costs a few copies, not a JSON round trip:
/// the generator must stay cheap, as it shares the machine with what it measures.
struct Template {
    before_id: Vec<u8>,
    after_id: Vec<u8>,
}

impl Template {
    fn new(sample: &[u8]) -> anyhow::Result<Self> {
        const MARK: &str = "__LOADGEN_ID__";
        let mut value: serde_json::Value = serde_json::from_slice(sample)?;
        value["id"] = MARK.into();
        let text = serde_json::to_string(&value)?;
        let (before, after) = text
            .split_once(MARK)
            .ok_or_else(|| anyhow::anyhow!("id marker lost"))?;
        Ok(Self {
            before_id: before.as_bytes().to_vec(),
            after_id: after.as_bytes().to_vec(),
        })
    }
}

struct Generator {
    templates: Vec<Template>,
    secret: Option<String>,
    prefix: String,
}

impl Generator {
    /// A distinct, signed event: a sample payload with a fresh id.
    fn event(&self, i: usize) -> (Vec<u8>, Option<String>) {
        let template = &self.templates[i % self.templates.len()];
        let id = format!("{}{i:09}", self.prefix);
        let mut body = Vec::with_capacity(template.before_id.len() + id.len() + template.after_id.len());
        body.extend_from_slice(&template.before_id);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&template.after_id);
        let signature = self.secret.as_ref().map(|secret| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(&body);
            hex::encode(mac.finalize().into_bytes())
        });
        (body, signature)
    }
}

struct Shared {
    target: Target,
    generator: Generator,
    histogram: Mutex<Histogram<u64>>,
    tally: Mutex<Tally>,
}

/// Where requests go: one HTTP/1.1 keep-alive connection per worker, driven by hyper directly,
/// so the generator spends as little CPU as it can (it shares the machine with what it measures).
struct Target {
    addr: String,
    host: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: hyper::Uri = url.parse()?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "only http:// URLs are supported"
        );
        let host = uri.host().ok_or_else(|| anyhow::anyhow!("no host in {url}"))?;
        let port = uri.port_u16().unwrap_or(80);
        Ok(Self {
            addr: format!("{host}:{port}"),
            host: format!("{host}:{port}"),
            path: uri.path_and_query().map_or("/".into(), |p| p.to_string()),
        })
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

impl Shared {
    /// Sends event `i` on `connection` (reconnecting if it broke) and records the outcome.
    async fn send(&self, connection: &mut Option<SendRequest<Full<Bytes>>>, i: usize, started: Instant) {
        let (body, signature) = self.generator.event(i);
        let status = match self.post(connection, body, signature).await {
            Ok((200..=299, body)) => {
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                json["status"].as_str().unwrap_or("").to_owned()
            }
            Ok(_) => "refused".to_owned(),
            Err(_) => {
                *connection = None;
                "failed".to_owned()
            }
        };
        let micros = started.elapsed().as_micros().max(1) as u64;
        self.histogram.lock().await.saturating_record(micros);
        let mut tally = self.tally.lock().await;
        match status.as_str() {
            "stored" => tally.stored += 1,
            "duplicate" => tally.duplicate += 1,
            "conflict" => tally.conflict += 1,
            "failed" => tally.failed += 1,
            _ => tally.refused += 1,
        }
    }

    async fn post(
        &self,
        connection: &mut Option<SendRequest<Full<Bytes>>>,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> anyhow::Result<(u16, Bytes)> {
        if connection.as_ref().is_none_or(|c| c.is_closed()) {
            *connection = Some(self.target.connect().await?);
        }
        let sender = connection.as_mut().expect("connected above");
        sender.ready().await?;
        let mut request = hyper::Request::post(self.target.path.as_str())
            .header("host", self.target.host.as_str())
            .header("content-type", "application/json");
        if let Some(signature) = signature {
            request = request.header("x-deepsource-signature", signature);
        }
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            sender.send_request(request.body(Full::new(Bytes::from(body)))?),
        )
        .await??;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let concurrency = args.concurrency.max(1);
    let prefix = args.id_prefix.unwrap_or_else(|| {
        format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
        )
    });
    let templates = TEMPLATES
        .iter()
        .map(|t| Template::new(t))
        .collect::<anyhow::Result<_>>()?;
    let shared = Arc::new(Shared {
        target: Target::parse(&args.url)?,
        generator: Generator {
            templates,
            secret: args.secret.clone(),
            prefix,
        },
        histogram: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        tally: Mutex::new(Tally::default()),
    });

    let began = Instant::now();
    match args.rate {
        None => closed_loop(&shared, args.events, concurrency).await,
        Some(rate) => fixed_rate(&shared, args.events, concurrency, rate).await,
    }
    let elapsed = began.elapsed().as_secs_f64();

    let h = shared.histogram.lock().await;
    let t = shared.tally.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mode = args
        .rate
        .map_or("closed loop".to_owned(), |r| format!("fixed rate {r}/s"));
    println!(
        "events: {}  concurrency: {concurrency}  mode: {mode}",
        args.events
    );
    println!(
        "elapsed: {elapsed:.2} s  throughput: {:.0} events/s",
        args.events as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        ms(0.50),
        ms(0.95),
        ms(0.99),
        h.max() as f64 / 1000.0
    );
    println!(
        "answers: stored {}  duplicate {}  conflict {}  refused {}  failed {}",
        t.stored, t.duplicate, t.conflict, t.refused, t.failed
    );
    // One line for scripts.
    println!(
        "RESULT events_per_sec={:.0} p50_ms={:.2} p95_ms={:.2} p99_ms={:.2} stored={} refused={} failed={}",
        args.events as f64 / elapsed,
        ms(0.50),
        ms(0.95),
        ms(0.99),
        t.stored,
        t.refused,
        t.failed
    );
    Ok(())
}

async fn closed_loop(shared: &Arc<Shared>, events: usize, concurrency: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let shared = shared.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut connection = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= events {
                        break;
                    }
                    shared.send(&mut connection, i, Instant::now()).await;
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// A scheduler hands out events at their send times; each of `concurrency` connections takes
/// the next one when free. An event that waits for a connection is late, and its latency says so.
async fn fixed_rate(shared: &Arc<Shared>, events: usize, concurrency: usize, rate: f64) {
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Instant)>(concurrency * 4);
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let shared = shared.clone();
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut connection = None;
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some((i, scheduled)) = next else { break };
                    shared.send(&mut connection, i, scheduled).await;
                }
            })
        })
        .collect();
    let start = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    for i in 0..events {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled).await;
        if tx.send((i, scheduled.into_std())).await.is_err() {
            break;
        }
    }
    drop(tx);
    for worker in workers {
        let _ = worker.await;
    }
}
