mod backfill;
mod cli;
mod codeowners;
mod concurrency;
mod deepsource_apply;
mod deepsource_snapshot;
mod errors;
#[path = "../support/fake_deepsource.rs"]
mod fake_deepsource;
#[path = "../support/fake_github.rs"]
mod fake_github;
mod github_webhooks;
mod health;
mod helpers;
mod idempotency;
mod ingest_batches;
mod ingest_errors;
mod intake;
mod metrics;
mod migrations;
mod outage;
mod pacing;
mod people;
mod reconcile;
mod signature;
mod start_up;
mod sync;
mod sync_due;
mod sync_faults;
mod sync_inputs;
mod sync_limits;
mod sync_properties;
mod sync_recovery;
#[path = "../support/tcp_proxy.rs"]
mod tcp_proxy;
mod test_database;
mod unsigned_clients;
