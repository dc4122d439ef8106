//! Plays hostile clients against a running deepsource-sync: many connections that post bodies
//! without a signature (or with a forged one), or declare a body and trickle only part of it.
//! It holds them open, then prints what the service answered and, given the service's pid, the
//! service's resident memory while they were held.
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(about = "Hostile webhook clients for measuring what they cost deepsource-sync")]
struct Args {
    /// host:port of the service.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 150)]
    connections: usize,
    /// The body length each request declares.
    #[arg(long, default_value_t = 1_048_576)]
    declared: usize,
    /// How much of it each sends (the rest never comes); defaults to all of it.
    #[arg(long)]
    send: Option<usize>,
    /// Send a well-formed signature that matches nothing (without it, no signature at all).
    #[arg(long)]
    forged: bool,
    /// How long to hold the connections open, waiting for answers.
    #[arg(long, default_value_t = 5.0)]
    hold_secs: f64,
    /// The service's pid: its resident memory is read while the connections are held.
    #[arg(long)]
    pid: Option<u32>,
}

/// How one connection ended within the hold.
#[derive(Debug)]
enum End {
    Answered(String, Duration),
    ClosedUnanswered,
    StillOpen,
}

async fn client(args: &Args, started: Instant, sent: tokio::sync::mpsc::Sender<()>) -> End {
    let Ok(mut stream) = TcpStream::connect(&args.addr).await else {
        let _ = sent.send(()).await;
        return End::ClosedUnanswered;
    };
    let signature = if args.forged {
        format!("x-deepsource-signature: {}\r\n", "0".repeat(64))
    } else {
        String::new()
    };
    let head = format!(
        "POST /webhooks HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{signature}Content-Length: {}\r\n\r\n",
        args.addr, args.declared
    );
    let send = args.send.unwrap_or(args.declared).min(args.declared);
    let body = vec![b' '; send];
    // A server that refuses early closes the socket under the writer: that is an answer too.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&body)).await;
    let _ = sent.send(()).await;
    let mut answer = Vec::new();
    let hold = Duration::from_secs_f64(args.hold_secs);
    let mut buf = [0u8; 512];
    loop {
        let left = hold.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return End::StillOpen,
            Ok(Ok(n)) if n > 0 => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(line) = String::from_utf8_lossy(&answer).lines().next() {
                    if answer.windows(2).any(|w| w == b"\r\n") {
                        return End::Answered(line.to_owned(), started.elapsed());
                    }
                }
            }
            Ok(_) => return End::ClosedUnanswered,
        }
    }
}

fn rss_kb(pid: Option<u32>) -> String {
    let Some(pid) = pid else { return "-".into() };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_owned())
        })
        .unwrap_or_else(|| "gone".into())
}

#[tokio::main]
async fn main() {
    let args = std::sync::Arc::new(Args::parse());
    println!("service RSS before: {}", rss_kb(args.pid));
    let started = Instant::now();
    let (sent, mut all_sent) = tokio::sync::mpsc::channel(args.connections.max(1));
    let clients: Vec<_> = (0..args.connections)
        .map(|_| {
            let (args, sent) = (args.clone(), sent.clone());
            tokio::spawn(async move { client(&args, started, sent).await })
        })
        .collect();
    drop(sent);
    while all_sent.recv().await.is_some() {}
    // Every client has sent what it will send; what the service holds now is their cost.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "service RSS with {} clients held: {}",
        args.connections,
        rss_kb(args.pid)
    );
    let mut answers = std::collections::BTreeMap::<String, (usize, Duration)>::new();
    for client in clients {
        let key_and_time = match client.await.expect("a client task") {
            End::Answered(line, at) => (line, at),
            End::ClosedUnanswered => ("closed without an answer".into(), Duration::ZERO),
            End::StillOpen => ("no answer within the hold".into(), Duration::ZERO),
        };
        let entry = answers.entry(key_and_time.0).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(key_and_time.1);
    }
    for (answer, (count, latest)) in &answers {
        println!(
            "{count:>5} × {answer} (latest after {:.2} s)",
            latest.as_secs_f64()
        );
    }
    println!("service RSS after they closed: {}", rss_kb(args.pid));
}
