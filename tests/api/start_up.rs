//! Start-up as an operator meets it: every setting checked before anything is touched, errors
//! that name their variable, a pooler in front of Postgres, and a prompt exit on SIGTERM.
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deepsource_sync::startup::Application;

use crate::cli::{binary, text};
use crate::helpers::{fresh_database, server_url, test_settings, TcpProxy, SECRET};

fn database_exists(name: &str) -> bool {
    let out = Command::new("psql")
        .args([
            &format!("{}/postgres", server_url()),
            "-Atc",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// Runs `serve` with `env` (and a test secret), expecting it to stop at once: its exit code and
/// everything it printed.
fn serve_fails(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut all = vec![("DEEPSOURCE_WEBHOOK_SECRETS", SECRET)];
    all.extend_from_slice(env);
    let output = binary(&all).arg("serve").output().unwrap();
    (output.status.code(), text(&output))
}

#[test]
fn a_setting_the_github_client_would_refuse_stops_start_up_before_the_database_is_created() {
    let db = fresh_database();
    let (code, printed) = serve_fails(&[
        ("DATABASE_URL", &db.url),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("GITHUB_API_URL", "http://exa mple"),
    ]);
    assert_eq!(code, Some(2), "{printed}");
    assert_eq!(printed.trim().lines().count(), 1, "{printed}");
    assert!(printed.contains("invalid GITHUB_API_URL"), "{printed}");
    assert!(
        !database_exists(&db.name),
        "nothing is created before the settings are known good"
    );
}

#[test]
fn each_bad_setting_names_its_variable_in_one_line() {
    for (var, value) in [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:99999/x"),
        ("RUST_LOG", "wran"),
        ("BODY_READ_TIMEOUT", "ten"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("ISSUE_TITLE_TEMPLATE", "{title} ({shortcod})"),
    ] {
        let (code, printed) = serve_fails(&[(var, value)]);
        assert_eq!(code, Some(2), "{var}: {printed}");
        assert_eq!(printed.trim().lines().count(), 1, "{var}: {printed}");
        assert!(printed.contains(&format!("invalid {var}")), "{var}: {printed}");
    }
}

#[test]
fn a_busy_bind_addr_is_named_and_the_database_is_not_touched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = fresh_database();
    let (code, printed) = serve_fails(&[("DATABASE_URL", &db.url), ("BIND_ADDR", &addr)]);
    assert_ne!(code, Some(0), "{printed}");
    assert!(printed.contains("BIND_ADDR"), "{printed}");
    assert!(printed.contains(&addr), "{printed}");
    assert!(!database_exists(&db.name));
}

/// `serve` on a free port, with its log read until it says where it listens.
struct Served {
    child: Child,
    port: u16,
    log: std::sync::mpsc::Receiver<String>,
}

fn serve(env: &[(&str, &str)]) -> Served {
    let mut child = binary(env)
        .args(["serve", "--no-worker"])
        .env("DEEPSOURCE_WEBHOOK_SECRETS", SECRET)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, log) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let port = loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .expect("the service logs where it listens");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if json["fields"]["message"] == "listening" {
            break json["fields"]["port"].as_u64().unwrap() as u16;
        }
    };
    Served { child, port, log }
}

impl Served {
    fn terminate(&mut self) -> Duration {
        let asked = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = asked + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        asked.elapsed()
    }

    /// The next log line that mentions `needle`.
    fn log_line(&self, needle: &str) -> serde_json::Value {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no log line with {needle}"));
            if line.contains(needle) {
                return serde_json::from_str(&line).unwrap();
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_host_name_is_accepted_as_bind_addr() {
    let db = fresh_database();
    let mut served = serve(&[("DATABASE_URL", &db.url), ("BIND_ADDR", "localhost:0")]);
    let health = std::net::TcpStream::connect(("localhost", served.port));
    assert!(health.is_ok());
    served.terminate();
}

#[test]
fn a_stalled_body_does_not_hold_up_shutdown() {
    let db = fresh_database();
    let mut served = serve(&[
        ("DATABASE_URL", &db.url),
        ("BIND_ADDR", "127.0.0.1:0"),
        // Longer than shutdown may take: what ends the stalled request is the shutdown grace.
        ("BODY_READ_TIMEOUT", "60s"),
    ]);
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    let signature = "0".repeat(64);
    write!(
        stalled,
        "POST /webhooks HTTP/1.1\r\nHost: t\r\nx-deepsource-signature: {signature}\r\nContent-Length: 1000\r\n\r\n{{\"id\":"
    )
    .unwrap();
    stalled.flush().unwrap();
    // Once a later request is answered, the stalled one (sent first) is in the service's hands.
    let mut probe = std::net::TcpStream::connect(("127.0.0.1", served.port)).unwrap();
    write!(
        probe,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut probe, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let took = served.terminate();
    assert!(
        took < Duration::from_secs(15),
        "exit took {took:?} with one stalled client"
    );
}

#[test]
fn the_log_names_the_peer_and_believes_forwarding_headers_only_from_trusted_proxies() {
    let db = fresh_database();
    for (trusted, expected_client) in [("", "127.0.0.1"), ("127.0.0.1", "198.51.100.7")] {
        let served = serve(&[
            ("DATABASE_URL", &db.url),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("TRUSTED_PROXIES", trusted),
        ]);
        let mut client = std::net::TcpStream::connect(("127.0.0.1", served.port)).unwrap();
        // Unsigned, so refused and logged: the log line is what is looked at.
        write!(
            client,
            "POST /webhooks HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 198.51.100.7\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut client, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        let line = served.log_line("bad signature");
        let span = &line["spans"][0];
        assert_eq!(
            span["client_ip"], expected_client,
            "TRUSTED_PROXIES={trusted}: {line}"
        );
        assert!(
            span["peer_addr"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn behind_a_pooler_that_serves_only_the_target_database_start_up_succeeds() {
    let db = fresh_database();
    // The database exists (a pooler only serves databases that do), but nothing else can be
    // reached through the pooler, not even the maintenance database `postgres`.
    let created = Command::new("psql")
        .args([
            &format!("{}/postgres", server_url()),
            "-qc",
            &format!("CREATE DATABASE \"{}\"", db.name),
        ])
        .status()
        .unwrap();
    assert!(created.success());
    let upstream = server_url().rsplit('@').next().unwrap().parse().unwrap();
    let pooler = TcpProxy::start(upstream).await;
    pooler.serve_only(&db.name);
    let url = db.url.replace(&upstream.to_string(), &pooler.addr.to_string());
    assert_ne!(url, db.url);

    let app = Application::build(test_settings(&url))
        .await
        .expect("starts behind the pooler");
    assert!(app.port() > 0);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    assert!(deepsource_sync::db::schema_is_current(&pool).await.unwrap());

    // And the pooler does refuse the maintenance database, so the test means something.
    let maintenance = url.replace(&db.name, "postgres");
    let refused = sqlx::PgPool::connect(&maintenance).await.unwrap_err();
    assert!(refused.to_string().contains("no such database"), "{refused}");
}
