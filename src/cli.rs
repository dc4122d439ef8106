use clap::{Parser, Subcommand};

use crate::configuration::Settings;
use crate::{db, startup::Application};

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
    /// Receive DeepSource webhooks on BIND_ADDR (the default when no subcommand is given).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await?,
        Command::Migrate => {
            db::ensure_database(&settings.database).await?;
            let applied = db::migrate(settings.database.url()).await?;
            tracing::info!(
                applied,
                latest = db::latest_migration_version(),
                "migrations up to date"
            );
        }
    }
    Ok(())
}
