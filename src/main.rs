use std::process::ExitCode;

use clap::Parser;
use deepsource_sync::cli::{self, Cli};
use deepsource_sync::configuration::Settings;
use deepsource_sync::telemetry;

// actix-web runs its HTTP workers on runtimes of their own; this one only carries the group-commit
// task and its database I/O, where one thread measured faster than a work-stealing pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("deepsource-sync: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.answers_on_stdout() {
        true => telemetry::init_on_stderr(settings.log_format, &settings.log_filter),
        false => telemetry::init(settings.log_format, &settings.log_filter),
    }
    match cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "deepsource-sync stopped");
            ExitCode::FAILURE
        }
    }
}
