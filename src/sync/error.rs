//! Why a sync stopped short, as the worker decides what follows: retry the finding's jobs, wait
//! for GitHub's budget, or stop the whole worker.
use std::time::Duration;

use crate::findings::fence::StoreError;
use crate::github::errors::GitHubError;

/// Why a sync stopped short. `Unauthorized` stops the whole worker, not just this finding.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("write budget exhausted for {0:?}")]
    Budget(Duration),
    /// A call begun earlier may still land; look for its result after this long.
    #[error("a GitHub call begun earlier may still land; looking for its result in {0:?}")]
    Settling(Duration),
    #[error("another worker holds this finding now")]
    LeaseLost,
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => SyncError::Database(e),
            StoreError::LeaseLost => SyncError::LeaseLost,
        }
    }
}
