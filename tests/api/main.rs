mod cli;
mod concurrency;
mod errors;
#[path = "../support/fake_github.rs"]
mod fake_github;
mod health;
mod helpers;
mod idempotency;
mod ingest_batches;
mod intake;
mod migrations;
mod signature;
mod sync;
mod sync_faults;
mod sync_properties;
