//! Maintenance: background duties that keep the queue and tables in shape, each a small service
//! in a file of its own with one shape (`Duty`): one bounded batch per pass, on a timer of its
//! own with jitter, started and stopped with the process — as River's maintenance services are.
//! The sync worker does none of this on its passes, so an idle service asks Postgres only what
//! these timers and the worker's fallback ask. It knows the tables (through `findings/` where
//! those own them); it knows nothing of GitHub or DeepSource.
mod cleanup;
mod duty;
mod requeue;
mod rescue;
mod retention;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cleanup::Cleanup;
pub use duty::{start, Duty};
pub use requeue::Requeue;
pub use rescue::LeaseRescue;
pub use retention::{Purged, Retention};

use crate::configuration::Settings;

/// The duties every process runs (retention and clean-up; each replica's skip the others'
/// rows), and with a sync worker the ones that serve it (lease rescue, re-queueing).
pub fn start_all(
    pool: &PgPool,
    settings: &Settings,
    worker: bool,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut running = Vec::new();
    if let Some(retention) = Retention::new(pool.clone(), settings.operations.retention) {
        running.push(start(retention, stop.clone()));
    }
    if let Some(cleanup) = Cleanup::new(pool.clone(), settings.operations.retention) {
        running.push(start(cleanup, stop.clone()));
    }
    if worker {
        running.push(start(
            LeaseRescue::new(pool.clone(), settings.sync.lease),
            stop.clone(),
        ));
        running.push(start(Requeue::new(pool.clone(), settings), stop));
    }
    running
}
