//! Durable intake with group commit: concurrent deliveries are written by one statement (one
//! transaction), and each request is answered only after that transaction has committed.
mod batcher;
mod delivery;
mod outage;
mod store;

pub use batcher::Ingestor;
pub use delivery::{IncomingEvent, IngestError, Outcome};
pub use store::store_batch;
