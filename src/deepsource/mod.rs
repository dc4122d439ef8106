//! DeepSource's GraphQL API, the source of truth for what is open: the client, the request budget
//! shared by replicas, complete snapshots of a repository's open findings, and what its team
//! decided there (ignore rules, categories switched off, suppressions).
mod budget;
mod client;
mod decisions;
mod findings;
mod ignored;
mod snapshot;

pub use crate::domain::RepositoryRef;
pub use budget::{Budget, MAX_INLINE_WAIT};
pub use client::{DeepSource, DeepSourceError, AUTH_PAUSE};
pub use decisions::take_decisions;
pub use findings::{take_findings, Looked, MAX_FINDINGS_PER_REQUEST};
pub use ignored::{Decisions, IgnoreRule, NotFixed, Suppressed};
pub use snapshot::{
    take as take_snapshot, take_with_progress as take_snapshot_with_progress, Location, OpenFinding,
    Snapshot, SnapshotError,
};
