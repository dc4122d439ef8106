//! DeepSource's GraphQL API, the source of truth for what is open: the client, and complete
//! snapshots of a repository's open findings.
mod client;
mod snapshot;

pub use client::{DeepSource, DeepSourceError};
pub use snapshot::{take as take_snapshot, Location, OpenFinding, RepositoryRef, Snapshot, SnapshotError};
