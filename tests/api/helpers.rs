use std::sync::Once;

use deepsource_sync::configuration::{LogFormat, Settings};
use deepsource_sync::startup::Application;
use deepsource_sync::sync::{Pass, Worker, WorkerError, WorkerLiveness};
use deepsource_sync::telemetry;
use deepsource_sync::wake::Wakeups;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;

pub const SECRET: &str = "test-secret-0123456789abcdef";
/// A second configured secret, as during a rotation.
pub const PREVIOUS_SECRET: &str = "previous-secret-abcdefghijklmnop";

pub use crate::fake_github::{FakeGitHub, Fault};
pub use crate::tcp_proxy::TcpProxy;
pub use crate::test_database::{fresh_database, migrated_database, server_url, TestDatabase};

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub github: FakeGitHub,
    pub db_name: String,
    pub pool: PgPool,
    /// The service's own pool (the test's `pool` is another): to see and fill what it holds.
    pub service_pool: PgPool,
    pub client: reqwest::Client,
    /// Dropping it stops an in-process worker.
    pub _stop_worker: tokio::sync::watch::Sender<bool>,
    /// The in-process worker's state, wake-up mode and idle count.
    pub liveness: WorkerLiveness,
    /// Last field: dropped after the pool, so the database goes when the test ends.
    pub _database: TestDatabase,
}

/// Logs stay quiet unless `TEST_LOG` is set.
fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            telemetry::init(
                LogFormat::Pretty,
                &std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        }
    });
}

pub fn test_settings(database_url: &str) -> Settings {
    test_settings_with_github(database_url, None)
}

/// Settings for one test: its own database, and GitHub (when given) at the fake with pacing off.
pub fn test_settings_with_github(database_url: &str, github_url: Option<&str>) -> Settings {
    let secrets = format!("{SECRET},{PREVIOUS_SECRET}");
    Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.to_owned()),
        "DEEPSOURCE_WEBHOOK_SECRETS" => Some(secrets.clone()),
        "BIND_ADDR" => Some("127.0.0.1:0".into()),
        "DATABASE_MAX_CONNECTIONS" => Some("4".into()),
        "GITHUB_API_URL" => github_url.map(str::to_owned),
        "GITHUB_TOKEN" => github_url.map(|_| crate::fake_github::TOKEN.to_owned()),
        "GITHUB_MIN_WRITE_INTERVAL_MS" => Some("0".into()),
        "GITHUB_WRITES_PER_MINUTE" => Some("100000".into()),
        "GITHUB_WRITES_PER_HOUR" => Some("1000000".into()),
        _ => None,
    })
    .expect("test settings are valid")
}

/// The service with its database behind a TCP proxy the test can stall or cut; the test's own
/// `pool` goes to the database directly, so it can still look while the service cannot.
pub async fn spawn_app_behind_proxy(customise: impl FnOnce(&mut Settings)) -> (TestApp, TcpProxy) {
    let upstream = server_url()
        .rsplit('@')
        .next()
        .expect("a host:port in TEST_DATABASE_SERVER_URL")
        .trim_end_matches('/')
        .parse()
        .expect("TEST_DATABASE_SERVER_URL ends in an IP address and port");
    let proxy = TcpProxy::start(upstream).await;
    let addr = proxy.addr;
    let app = spawn_app_with(move |settings| {
        let url = settings
            .database
            .url()
            .replace(&upstream.to_string(), &addr.to_string());
        assert_ne!(url, settings.database.url(), "the proxy is in the path");
        settings.database.url = url.into();
        customise(settings);
    })
    .await;
    (app, proxy)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service on a random port against a database of its own.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    start_app(customise, false).await
}

/// As `serve` runs: the service with its supervised sync worker in the same process.
pub async fn spawn_app_with_worker() -> TestApp {
    start_app(|_| {}, true).await
}

/// The service with its own settings, and with its supervised sync worker when `run_worker`.
pub async fn start_app(customise: impl FnOnce(&mut Settings), run_worker: bool) -> TestApp {
    init_logs();
    let database = migrated_database().await;
    let (database_url, db_name) = (database.url.clone(), database.name.clone());
    let github = FakeGitHub::start();
    let mut settings = test_settings_with_github(&database_url, Some(&github.url));
    customise(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let service_pool = app.pool();
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let liveness = app.worker_liveness();
    if run_worker {
        let wakeups = Wakeups::start(
            settings.database.listen_url().to_owned(),
            &service_pool,
            worker_stopped.clone(),
        );
        app.spawn_worker(&settings, worker_stopped, wakeups);
    }
    tokio::spawn(app.run_until_stopped());
    let pool = PgPool::connect(&database_url)
        .await
        .expect("the test database is reachable");
    TestApp {
        address,
        settings,
        github,
        db_name,
        pool,
        service_pool,
        client: reqwest::Client::new(),
        _stop_worker: stop_worker,
        liveness,
        _database: database,
    }
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/deepsource/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A distinct event built from a sample payload: same shape, new id.
pub fn fixture_with_id(name: &str, id: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
    value["id"] = id.into();
    serde_json::to_vec(&value).unwrap()
}

pub struct StoredEvent {
    pub event_type: String,
    pub event_time: chrono::DateTime<chrono::Utc>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub body: Vec<u8>,
    pub body_sha256: Vec<u8>,
}

pub struct Job {
    pub finding_id: Option<String>,
    pub status: String,
    pub attempts: i32,
}

impl TestApp {
    pub fn worker(&self) -> Worker {
        Worker::new(self.pool.clone(), &self.settings).expect("the worker starts")
    }

    /// Runs a worker until no job is due now.
    pub async fn run_worker(&self) -> Result<Pass, WorkerError> {
        self.worker().run_until_idle().await
    }

    /// As if the clock had moved past every scheduled retry and GitHub back-off, and past the
    /// time any GitHub call begun earlier could still land.
    pub async fn make_everything_due(&self) {
        sqlx::query("UPDATE sync_jobs SET next_attempt_at = now() WHERE status = 'pending'")
            .execute(&self.pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE findings SET create_started_at = create_started_at - interval '1 hour',
                                 comment_started_at = comment_started_at - interval '1 hour'",
        )
        .execute(&self.pool)
        .await
        .unwrap();
        sqlx::query("UPDATE github_budget SET blocked_until = NULL")
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn post_webhook(&self, body: impl Into<Vec<u8>>, signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks", self.address))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(signature) = signature {
            request = request.header("x-deepsource-signature", signature);
        }
        request.send().await.expect("the service answers")
    }

    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.post_webhook(body.to_vec(), Some(&sign(SECRET, body))).await
    }

    /// Posts, asserts a 200, and returns the `status` it reported.
    pub async fn deliver(&self, body: &[u8]) -> String {
        let response = self.post_signed(body).await;
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        json["status"].as_str().unwrap().to_owned()
    }

    /// Retries a delivery as DeepSource would after a 503 (sooner, and without giving up) until
    /// it is answered 200; returns the `status` it reported.
    pub async fn deliver_when_back(&self, body: &[u8]) -> String {
        loop {
            let response = self.post_signed(body).await;
            if response.status() == 200 {
                let json: serde_json::Value = response.json().await.unwrap();
                return json["status"].as_str().unwrap().to_owned();
            }
            assert_eq!(response.status(), 503);
            assert!(response.headers().get("retry-after").is_some());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the service answers")
    }

    pub async fn stored_event(&self, id: &str) -> Option<StoredEvent> {
        sqlx::query_as!(
            StoredEvent,
            r#"SELECT event_type, event_time, received_at, body AS "body!", body_sha256 FROM webhook_events WHERE id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await
        .unwrap()
    }

    pub async fn jobs_for(&self, event_id: &str) -> Vec<Job> {
        sqlx::query_as!(
            Job,
            "SELECT finding_id, status, attempts FROM sync_jobs WHERE event_id = $1",
            event_id
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    pub async fn conflicting_bodies(&self, id: &str) -> Vec<Vec<u8>> {
        sqlx::query_scalar!(
            "SELECT body FROM webhook_event_conflicts WHERE event_id = $1 ORDER BY id",
            id
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    pub async fn count_rows(&self) -> (i64, i64, i64) {
        let row = sqlx::query!(
            r#"SELECT (SELECT count(*) FROM webhook_events) AS "events!",
                      (SELECT count(*) FROM sync_jobs) AS "jobs!",
                      (SELECT count(*) FROM webhook_event_conflicts) AS "conflicts!""#
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (row.events, row.jobs, row.conflicts)
    }
}

pub const INTRODUCED: &str = "repository_issue.introduced";
pub const RESOLVED: &str = "repository_issue.resolved";
/// The sample payloads' repository.
pub const SAMPLE_REPO: &str = "deepsourcelabs/demo-go";

/// The sample repository as DeepSource's API names it.
pub fn sample_repository() -> deepsource_sync::deepsource::RepositoryRef {
    let (login, name) = SAMPLE_REPO.split_once('/').unwrap();
    deepsource_sync::deepsource::RepositoryRef {
        provider: "GITHUB".into(),
        login: login.into(),
        name: name.into(),
    }
}

/// A `repository_issue.*` event for `finding` built from the published sample.
pub fn issue_event(kind: &str, event_id: &str, finding: &str, count: i64, created_at: i64) -> Vec<u8> {
    issue_event_with(kind, event_id, finding, count, created_at, |_| {})
}

pub fn issue_event_with(
    kind: &str,
    event_id: &str,
    finding: &str,
    count: i64,
    created_at: i64,
    change: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("repository_issue_introduced.json")).unwrap();
    event["id"] = event_id.into();
    event["type"] = kind.into();
    event["createdAt"] = created_at.into();
    event["data"]["object"]["id"] = finding.into();
    let data = event["data"].as_object_mut().unwrap();
    data.remove("issueOccurrencesIntroduced");
    if kind == INTRODUCED {
        data.insert("issueOccurrencesIntroduced".into(), count.into());
    } else {
        data.insert("issueOccurrencesResolved".into(), count.into());
        data["object"]["occurrences"] = serde_json::json!([]);
    }
    change(&mut event["data"]["object"]);
    serde_json::to_vec(&event).unwrap()
}

impl TestApp {
    /// Delivers one issue event and lets the worker act on it.
    pub async fn sync_event(&self, kind: &str, event_id: &str, finding: &str, count: i64, created_at: i64) {
        self.deliver(&issue_event(kind, event_id, finding, count, created_at))
            .await;
        self.run_worker().await.unwrap();
    }

    pub async fn job_of(&self, event_id: &str) -> (String, Option<String>, chrono::DateTime<chrono::Utc>) {
        let row = sqlx::query!(
            "SELECT status, last_error, next_attempt_at FROM sync_jobs WHERE event_id = $1",
            event_id
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (row.status, row.last_error, row.next_attempt_at)
    }

    pub async fn attempts_of(&self, event_id: &str) -> i32 {
        sqlx::query_scalar!("SELECT attempts FROM sync_jobs WHERE event_id = $1", event_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Whether a create for this finding is recorded as begun with its outcome unknown.
    pub async fn create_intent(&self, finding: &str) -> bool {
        sqlx::query_scalar!("SELECT create_started_at FROM findings WHERE id = $1", finding)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .is_some()
    }

    /// As if every worker holding a finding had stalled past its lease.
    pub async fn expire_leases(&self) {
        sqlx::query("UPDATE finding_leases SET expires_at = now() - interval '1 second'")
            .execute(&self.pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE sync_jobs SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'",
        )
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// The GitHub issue number the finding is linked to.
    pub async fn linked_issue(&self, finding: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT github_issue_number FROM findings WHERE id = $1")
            .bind(finding)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// (action, issue number) of every GitHub action recorded for the finding, in order.
    pub async fn actions_of(&self, finding: &str) -> Vec<(String, Option<i64>)> {
        sqlx::query_as("SELECT action, issue_number FROM sync_actions WHERE finding_id = $1 ORDER BY id")
            .bind(finding)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    pub async fn open_occurrences(&self, finding: &str) -> i64 {
        sqlx::query_scalar!("SELECT open_occurrences FROM findings WHERE id = $1", finding)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
