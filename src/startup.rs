use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

use crate::admin::Links;
use crate::configuration::{GitHubSettings, Settings, TrustedProxies, WebhookSettings};
use crate::db;
use crate::domain::SignatureVerifier;
use crate::github_webhooks::GitHubWebhooks;
use crate::ingest::Ingestor;
use crate::metrics::{process_handle, DatabaseGauges, IntakeMetrics};
use crate::request_span::RequestSpan;
use crate::routes::status_page;
use crate::routes::{
    self, healthz, metrics, readyz, receive_github_webhook, receive_webhook, AdminToken, BodyLimits,
    MetricsToken, ReadinessCache,
};
use crate::sync::{supervise, Worker, WorkerLiveness};
use crate::wake::Wakeups;
use crate::web::{Sessions, StatusPage};

/// A sync worker that failed inside `serve` is started again after this long.
const WORKER_RESTART_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
/// After SIGTERM, requests still in flight get this long (a stalled body is cut off then; its
/// client retries, and intake is idempotent).
const SHUTDOWN_GRACE_SECS: u64 = 5;

/// The HTTP service, bound and ready to run. Tests bind port 0 and read `port()`.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    worker: WorkerLiveness,
}

impl Application {
    /// Binds the listener, then creates the database if needed and applies migrations: a port
    /// that is taken stops start-up before the database is touched.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.webhook.check_signing()?;
        if !settings.webhook.secrets_enabled() {
            tracing::warn!("ALLOW_UNSIGNED_WEBHOOKS=true and no secret: accepting unsigned events from anyone who can reach this port");
        }
        let listener = TcpListener::bind(settings.bind_addr.addrs())
            .with_context(|| format!("invalid BIND_ADDR: cannot listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        db::prepare(&settings.database).await?;
        let pool = db::pool(&settings.database)?;

        // Before the worker can make a call to count.
        process_handle();
        let ingestor = Ingestor::start(pool.clone(), settings.webhook.ingest_timeout);
        let worker = WorkerLiveness::default();
        let server = serve(
            listener,
            pool.clone(),
            ingestor,
            &settings.webhook,
            GitHubWebhooks::new(settings.github.webhook_secret.clone()),
            settings.trusted_proxies.clone(),
            worker.clone(),
            MetricsToken::new(settings.metrics_token.as_ref()),
            AdminToken::new(settings.operations.admin_token.as_ref()),
            Links::new(&settings),
            settings.github.clone(),
        )?;
        tracing::info!(addr = %settings.bind_addr, port, "listening");
        Ok(Self {
            port,
            server,
            pool,
            worker,
        })
    }

    /// Runs the sync worker in this process until `stop` turns true, restarting it should it
    /// fail, woken by `wakeups`; `/readyz` then reports whether it is running and how it hears
    /// of work.
    pub fn spawn_worker(
        &self,
        settings: &Settings,
        stop: tokio::sync::watch::Receiver<bool>,
        wakeups: Wakeups,
    ) -> tokio::task::JoinHandle<()> {
        let (pool, settings) = (self.pool.clone(), settings.clone());
        let stopped = stop.clone();
        let liveness = self.worker.clone();
        liveness.set_wakeups(wakeups.clone());
        tokio::spawn(supervise(
            self.worker.clone(),
            stop,
            WORKER_RESTART_DELAY,
            move || {
                let worker = Worker::new(pool.clone(), &settings)?;
                Ok(worker.run(stopped.clone(), wakeups.clone(), liveness.clone()))
            },
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// The in-process worker's state, wake-up mode and idle count.
    pub fn worker_liveness(&self) -> WorkerLiveness {
        self.worker.clone()
    }

    /// Runs until SIGTERM/SIGINT; actix finishes in-flight requests before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[allow(clippy::too_many_arguments)]
fn serve(
    listener: TcpListener,
    pool: PgPool,
    ingestor: Ingestor,
    webhook: &WebhookSettings,
    github_webhooks: GitHubWebhooks,
    trusted_proxies: TrustedProxies,
    worker: WorkerLiveness,
    metrics_token: MetricsToken,
    admin_token: AdminToken,
    links: Links,
    github: GitHubSettings,
) -> std::io::Result<Server> {
    let status_page = web::Data::new(StatusPage {
        sessions: admin_token.0.digest().map(Sessions::new),
        github,
    });
    let admin_token = web::Data::new(admin_token);
    let links = web::Data::new(links);
    let gauges = web::Data::new(DatabaseGauges::new(pool.clone()));
    let intake_metrics = web::Data::new(IntakeMetrics::default());
    let metrics_token = web::Data::new(metrics_token);
    let pool = web::Data::new(pool);
    let ingestor = web::Data::new(ingestor);
    let verifier = web::Data::new(SignatureVerifier::new(webhook.secrets.clone()));
    // One budget for the whole process, shared by every HTTP worker thread.
    let limits = web::Data::new(BodyLimits::new(webhook));
    let trusted_proxies = web::Data::new(trusted_proxies);
    let readiness = web::Data::new(ReadinessCache::default());
    let worker = web::Data::new(worker);
    let github_webhooks = web::Data::new(github_webhooks);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(TracingLogger::<RequestSpan>::new())
            .app_data(pool.clone())
            .app_data(ingestor.clone())
            .app_data(verifier.clone())
            .app_data(limits.clone())
            .app_data(trusted_proxies.clone())
            .app_data(readiness.clone())
            .app_data(worker.clone())
            .app_data(github_webhooks.clone())
            .app_data(gauges.clone())
            .app_data(intake_metrics.clone())
            .app_data(metrics_token.clone())
            .app_data(admin_token.clone())
            .app_data(links.clone())
            .app_data(status_page.clone())
            .route("/webhooks", web::post().to(receive_webhook))
            .route("/github/webhooks", web::post().to(receive_github_webhook))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .service(routes::api::scope())
            .route("/", web::get().to(status_page::index))
            .route("/login", web::post().to(status_page::login))
            .route("/logout", web::post().to(status_page::logout))
            .route("/jobs/{id}/retry", web::post().to(status_page::retry))
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}
