use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::configuration::Settings;
use crate::reconcile::Reconciler;
use crate::sync::Worker;
use crate::{backfill, db, startup::Application};

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
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { no_worker: false }) {
        Command::Serve { no_worker } => {
            let app = Application::build(settings.clone()).await?;
            let (stop, stopped) = watch::channel(false);
            let (worker, reconciler) = match no_worker {
                true => (None, None),
                false => (
                    Some(app.spawn_worker(&settings, stopped.clone())),
                    spawn_reconciler(app.pool(), &settings, stopped)?,
                ),
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
        }
        Command::Worker => {
            db::prepare(&settings.database).await?;
            let pool = db::pool(&settings.database)?;
            let worker = Worker::new(pool.clone(), &settings)?;
            let (stop, stopped) = watch::channel(false);
            let reconciler = spawn_reconciler(pool, &settings, stopped.clone())?;
            // Installed before the worker starts, so a signal at any moment after is caught.
            let signals = ShutdownSignals::install()?;
            tokio::spawn(async move {
                signals.recv().await;
                tracing::info!("stopping: the finding in hand is finished first");
                let _ = stop.send(true);
            });
            worker.run(stopped).await;
            if let Some(reconciler) = reconciler {
                reconciler.await?;
            }
        }
        Command::Migrate => db::prepare(&settings.database).await?,
        Command::Backfill {
            repository,
            provider,
            all,
        } => backfill::run(&settings, repository.as_deref(), &provider, all).await?,
    }
    Ok(())
}

/// Compares repositories with DeepSource beside the worker, when a token is set.
fn spawn_reconciler(
    pool: sqlx::PgPool,
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    Ok(Reconciler::new(pool, settings)?.map(|reconciler| tokio::spawn(reconciler.run(stop))))
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
