//! A finding's stored state: issue events parsed and applied, snapshots and lookups applied,
//! people's decisions recorded, the findings and jobs store with its lease fence, what is due,
//! and the one rule by which work is queued. It knows nothing of GitHub's API or the worker's
//! loop.
pub mod decisions;
pub mod due;
pub mod event;
pub mod events;
pub mod fence;
pub mod jobs;
pub mod known_locations;
pub mod lookups;
pub mod queue;
pub mod snapshots;
pub mod store;
