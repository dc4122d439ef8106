//! Keeping findings in step with DeepSource's API: comparisons of whole repositories
//! (`compare.rs`) on a schedule replicas share (`schedule.rs`), lookups of single findings after
//! `resolved` events (`lookup.rs`), and the background duty that runs both (`service.rs`). It
//! applies what DeepSource says through `findings/`, and never writes to GitHub.
mod compare;
mod lookup;
pub(crate) mod schedule;
mod service;

pub use compare::{client, estimate, planned, reconcile, Planned, ReconcileError};
pub use service::{Pass, Reconciler};
