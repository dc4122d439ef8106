//! The subcommands (`serve`, `worker`, `migrate`, `backfill` and the operator commands in
//! `operate.rs`) and how each starts and stops; what they run lives in the rooms below them.
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::configuration::Settings;
use crate::reconcile::Reconciler;
use crate::sync::{Worker, WorkerLiveness};
use crate::wake::Wakeups;
use crate::{backfill, db, maintenance, startup::Application};

mod operate;

#[derive(Debug, Parser)]
#[command(
    name = "deepsource-sync",
    version,
    about = "Keeps GitHub issues in step with DeepSource findings"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive DeepSource webhooks on BIND_ADDR and run the sync worker (the default).
    Serve {
        /// Only receive and store events; run the sync worker elsewhere (`deepsource-sync worker`).
        #[arg(long)]
        no_worker: bool,
    },
    /// Run the sync worker alone: queued DeepSource events become GitHub issue changes.
    Worker,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Compare repositories with DeepSource now (DEEPSOURCE_API_TOKEN): import what is open,
    /// correct counts and locations, zero what is gone; the worker then brings GitHub in line.
    Backfill {
        /// The repository, as login/name (DeepSource's account login and repository name).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        repository: Option<String>,
        /// Its VCS provider as DeepSource names it.
        #[arg(long, default_value = "GITHUB")]
        provider: String,
        /// Every repository the service knows (from events or earlier snapshots).
        #[arg(long)]
        all: bool,
    },
    /// A summary: intake, the queue, GitHub's write budget and when the queue will have
    /// drained, findings by state, the last snapshot of each repository.
    Status {
        /// Print it as JSON (as `GET /api/...` would), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List sync jobs, newest first.
    Jobs {
        /// pending, running, done, skipped or dead.
        #[arg(long)]
        status: Option<String>,
        /// Only the jobs of this finding (its RepositoryIssue id).
        #[arg(long)]
        finding: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Try dead jobs again: one (`--job`), or every dead one (`--dead`), of one finding if given.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["job", "dead"])))]
    Retry {
        #[arg(long)]
        job: Option<i64>,
        #[arg(long)]
        dead: bool,
        /// With --dead: only this finding's jobs.
        #[arg(long, requires = "dead")]
        finding: Option<String>,
    },
    /// Queue stored events again (the ledger still counts each once): every finished one
    /// received since TIME, of one type if given.
    Replay {
        /// RFC 3339 (2026-12-01T09:00:00Z) or a span back from now (2h, 3days).
        #[arg(long)]
        since: String,
        /// Only events of this type (repository_issue.introduced, …).
        #[arg(long = "type")]
        event_type: Option<String>,
    },
    /// Drive GitHub for one finding now, ahead of other work (a deleted issue gets a new one).
    Resync {
        #[arg(long)]
        finding: String,
    },
}

impl Cli {
    /// Commands whose stdout is their answer: their log lines go to stderr.
    pub fn answers_on_stdout(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::Status { .. }
                    | Command::Jobs { .. }
                    | Command::Retry { .. }
                    | Command::Replay { .. }
                    | Command::Resync { .. }
            )
        )
    }
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { no_worker: false }) {
        Command::Serve { no_worker } => {
            let app = Application::build(settings.clone()).await?;
            let (stop, stopped) = watch::channel(false);
            let maintenance = maintenance::start_all(&app.pool(), &settings, !no_worker, stopped.clone());
            let (worker, reconciler) = match no_worker {
                true => (None, None),
                false => {
                    // One listening connection wakes both.
                    let wakeups = Wakeups::start(
                        settings.database.listen_url().to_owned(),
                        &app.pool(),
                        stopped.clone(),
                    );
                    (
                        Some(app.spawn_worker(&settings, stopped.clone(), wakeups.clone())),
                        spawn_reconciler(app.pool(), &settings, stopped, wakeups)?,
                    )
                }
            };
            // actix-web stops on SIGTERM / SIGINT after finishing in-flight requests.
            app.run_until_stopped().await?;
            let _ = stop.send(true);
            if let Some(worker) = worker {
                worker.await?;
            }
            if let Some(reconciler) = reconciler {
                reconciler.await?;
            }
            for duty in maintenance {
                duty.await?;
            }
        }
        Command::Worker => {
            db::prepare(&settings.database).await?;
            let pool = db::pool(&settings.database)?;
            let worker = Worker::new(pool.clone(), &settings)?;
            let (stop, stopped) = watch::channel(false);
            let wakeups = Wakeups::start(settings.database.listen_url().to_owned(), &pool, stopped.clone());
            let reconciler = spawn_reconciler(pool.clone(), &settings, stopped.clone(), wakeups.clone())?;
            let maintenance = maintenance::start_all(&pool, &settings, true, stopped.clone());
            // Installed before the worker starts, so a signal at any moment after is caught.
            let signals = ShutdownSignals::install()?;
            tokio::spawn(async move {
                signals.recv().await;
                tracing::info!("stopping: the finding in hand is finished first");
                let _ = stop.send(true);
            });
            worker.run(stopped, wakeups, WorkerLiveness::default()).await;
            if let Some(reconciler) = reconciler {
                reconciler.await?;
            }
            for duty in maintenance {
                duty.await?;
            }
        }
        Command::Migrate => db::prepare(&settings.database).await?,
        Command::Backfill {
            repository,
            provider,
            all,
        } => backfill::run(&settings, repository.as_deref(), &provider, all).await?,
        Command::Status { json } => operate::status(&settings, json).await?,
        Command::Jobs {
            status,
            finding,
            limit,
        } => operate::jobs(&settings, status, finding, limit).await?,
        Command::Retry {
            job,
            dead: _,
            finding,
        } => operate::retry(&settings, job, finding).await?,
        Command::Replay { since, event_type } => {
            operate::replay(&settings, &since, event_type.as_deref()).await?
        }
        Command::Resync { finding } => operate::resync(&settings, &finding).await?,
    }
    Ok(())
}

/// Compares repositories with DeepSource beside the worker, when a token is set.
fn spawn_reconciler(
    pool: sqlx::PgPool,
    settings: &Settings,
    stop: watch::Receiver<bool>,
    wakeups: Wakeups,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    Ok(Reconciler::new(pool, settings)?.map(|reconciler| tokio::spawn(reconciler.run(stop, wakeups))))
}

struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
