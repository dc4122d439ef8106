//! Several `serve` processes on one database, as real processes: they share the jobs, one worker
//! drives a finding at a time, and one GitHub budget holds for all. And a replica stopped with
//! SIGTERM mid-request and mid-sync answers the request, finishes the finding, exits 0.
use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::time::Duration;

use deepsource_sync::issue::markers::marker;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::binary;
use crate::fake_github::{FakeGitHub, Limits, TOKEN};
use crate::helpers::{issue_event, migrated_database, sign, INTRODUCED, RESOLVED, SAMPLE_REPO, SECRET};

/// One `deepsource-sync serve` process, its log drained (and kept) by a thread.
pub(crate) struct Replica {
    child: Child,
    pub(crate) address: String,
    pub(crate) log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Replica {
    pub(crate) fn start(env: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DEEPSOURCE_WEBHOOK_SECRETS", SECRET),
            ("LOG_FORMAT", "json"),
            ("DATABASE_MAX_CONNECTIONS", "6"),
        ];
        all.extend_from_slice(env);
        let mut child = binary(&all)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // The port it bound, from its "listening" line: waited for, not slept on.
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let json: serde_json::Value = serde_json::from_str(&line).ok()?;
                (json["fields"]["message"] == "listening").then(|| json["fields"]["port"].as_u64())?
            })
            .expect("the replica logs the port it listens on");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Drained for as long as it runs, so a full pipe never stalls it.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn terminate(&self) {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    /// Waits for the exit (at most `within`) and returns whether it was clean.
    async fn exited_cleanly(mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still running after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GitHub's one second between writes scaled down to 150 ms: the fake refuses (and counts) two
/// writes that reach it closer than that, or more than 8 in any second; the replicas are told
/// the interval. The fake times its handler, after the trip from the replica's `sending`
/// through its HTTP client, the loopback and the fake's one worker thread: with three debug-build
/// replicas, their Postgres and the rest of the suite on two cores, that trip was seen to differ
/// by up to ~45 ms between two writes, and more than 60 ms once in a full suite run, so the fake
/// forgives 100 ms of the interval (it still catches writes sent together) and the spacing the
/// replicas kept is checked exactly in the database.
fn paced(github: &FakeGitHub) -> [(&'static str, &'static str); 4] {
    github.set_limits(Limits {
        per_minute: 8,
        window: Duration::from_secs(1),
        min_interval: Duration::from_millis(150),
        tolerance: Duration::from_millis(60),
        interval_tolerance: Duration::from_millis(100),
    });
    [
        ("GITHUB_MIN_WRITE_INTERVAL_MS", "150"),
        ("GITHUB_WRITES_PER_MINUTE", "1500"),
        ("GITHUB_WRITES_PER_HOUR", "1000000"),
        ("GITHUB_TOKEN", TOKEN),
    ]
}

/// Waits until no job is pending or running (the replicas' workers are separate processes, so
/// their database is the only signal there is).
async fn drained(pool: &sqlx::PgPool, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sync_jobs WHERE status IN ('pending', 'running')")
                .fetch_one(pool)
                .await
                .unwrap();
        if open == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{open} jobs still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_the_work_and_githubs_budget() {
    let database = migrated_database().await;
    let github = FakeGitHub::start();
    let mut env = vec![
        ("DATABASE_URL", database.url.as_str()),
        ("GITHUB_API_URL", github.url.as_str()),
    ];
    env.extend(paced(&github));
    let replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&env)).collect();

    // 100 findings, each a history of introduced and resolved events (never below zero in
    // event time); 900 events, then 100 redeliveries, all in a shuffled order.
    let mut rng = StdRng::seed_from_u64(7);
    let mut events = Vec::new();
    let mut expected = HashMap::new();
    for f in 0..100 {
        let finding = format!("RI-{f}");
        let mut open = 0i64;
        for i in 0..9 {
            let at = 1_700_000_000 + i * 60;
            let resolve = open > 0 && rng.random_bool(0.45);
            let (kind, count) = match resolve {
                true => (RESOLVED, rng.random_range(1..=open)),
                false => (INTRODUCED, rng.random_range(1..=3)),
            };
            open += if resolve { -count } else { count };
            events.push(issue_event(kind, &format!("{finding}-{i}"), &finding, count, at));
        }
        expected.insert(finding, open);
    }
    let redeliveries: Vec<Vec<u8>> = (0..100)
        .map(|_| events[rng.random_range(0..events.len())].clone())
        .collect();
    events.extend(redeliveries);
    events.shuffle(&mut rng);
    assert_eq!(events.len(), 1000);

    let client = reqwest::Client::new();
    let answers: Vec<u16> = futures_util::stream::iter(events.iter().enumerate())
        .map(|(n, body)| {
            let request = client
                .post(format!("{}/webhooks", replicas[n % 3].address))
                .header("content-type", "application/json")
                .header("x-deepsource-signature", sign(SECRET, body))
                .body(body.clone());
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    assert!(answers.iter().all(|s| *s == 200), "every delivery answered 200");

    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    drained(&pool, Duration::from_secs(120)).await;

    let issues = github.issues(SAMPLE_REPO);
    for (finding, open) in &expected {
        let theirs: Vec<_> = issues
            .iter()
            .filter(|i| i.body.contains(&marker(finding, 0)))
            .collect();
        match open {
            // Its events may have cancelled out before any worker saw one open: no issue then.
            0 => {
                assert!(theirs.len() <= 1, "{finding}: never two issues");
                assert!(theirs.iter().all(|i| i.state == "closed"), "{finding}");
            }
            n => {
                assert_eq!(theirs.len(), 1, "{finding}: exactly one issue");
                assert_eq!(theirs[0].state, "open", "{finding}");
                let count = format!("| Open occurrences | {n} |");
                assert!(theirs[0].body.contains(&count), "{finding}: {}", theirs[0].body);
            }
        }
    }
    // As the replicas sent them: each write left at least the interval (less 5 ms of wake-up
    // slack) after the one booked before it, whichever process held either.
    let sent: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT sent_at FROM github_writes ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sent.len(), github.writes(), "every write booked");
    for pair in sent.windows(2) {
        let gap = (pair[1] - pair[0]).num_microseconds().unwrap();
        assert!(gap >= 145_000, "two writes {gap} µs apart");
    }
    let violations = github.violation_reasons();
    assert!(violations.is_empty(), "one budget for the three: {violations:?}");
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_jobs WHERE status = 'dead'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dead, 0);
    // Each replica did some of the work.
    for replica in &replicas {
        let log = replica.log.lock().unwrap();
        assert!(
            log.iter().any(|l| l.contains(r#""finding":"RI-"#)),
            "a replica that synced nothing"
        );
    }
    for replica in replicas {
        replica.terminate();
        assert!(replica.exited_cleanly(Duration::from_secs(15)).await);
    }
}

#[tokio::test]
async fn sigterm_answers_the_request_in_flight_and_finishes_the_finding_in_hand() {
    let database = migrated_database().await;
    let github = FakeGitHub::start();
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("GITHUB_API_URL", github.url.as_str()),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_MIN_WRITE_INTERVAL_MS", "0"),
    ];
    let replica = Replica::start(&env);
    let held = github.hold_next("POST");
    let first = issue_event(INTRODUCED, "1", "RI-a", 1, 1_700_000_000);
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks", replica.address))
        .header("x-deepsource-signature", sign(SECRET, &first))
        .body(first)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    held.arrived().await; // the worker's create is at GitHub

    // A second delivery, half sent, when SIGTERM comes.
    let second = issue_event(INTRODUCED, "2", "RI-b", 1, 1_700_000_000);
    let (head, tail) = second.split_at(second.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(replica.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-DeepSource-Signature: {}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        sign(SECRET, &second),
        second.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // "100 Continue" says the service has taken the request in: it is in flight from here.
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).await.unwrap();
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    stream.write_all(head).await.unwrap();
    replica.terminate();
    stream.write_all(tail).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"stored""#), "{response}");

    held.release(); // the create goes through; the worker finishes the finding, then stops
    assert!(replica.exited_cleanly(Duration::from_secs(15)).await, "exit 0");
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let (status,): (String,) = sqlx::query_as("SELECT status FROM sync_jobs WHERE event_id = '1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "done", "the finding in hand was finished");
    let created = github.issues(SAMPLE_REPO);
    assert_eq!(
        created
            .iter()
            .filter(|i| i.body.contains(&marker("RI-a", 0)))
            .count(),
        1
    );
    let held_leases: i64 = sqlx::query_scalar("SELECT count(*) FROM finding_leases WHERE expires_at > now()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held_leases, 0, "nothing left leased");
    let (status,): (String,) = sqlx::query_as("SELECT status FROM sync_jobs WHERE event_id = '2'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        status == "pending" || status == "done",
        "stored and queued: {status}"
    );
}
