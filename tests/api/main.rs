mod concurrency;
mod errors;
mod health;
mod helpers;
mod idempotency;
mod intake;
mod migrations;
mod signature;
