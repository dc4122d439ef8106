//! What can stop a pass at an overview.
use std::time::Duration;

use crate::github::client::GitHubError;

#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("GitHub write budget exhausted; next write allowed in {0:?}")]
    Budget(Duration),
    #[error("a create begun earlier may still land")]
    Settling(Duration),
    /// No GitHub repository takes it (a provider not on GitHub without `GITHUB_REPO`).
    #[error("{0}")]
    Refused(String),
    #[error("another writer holds the overview now")]
    LeaseLost,
}
