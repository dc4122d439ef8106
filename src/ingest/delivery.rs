//! A verified, parsed delivery on its way to the database, what storing it did, and why a batch
//! could not be stored.
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::Envelope;

/// A verified, parsed delivery on its way to the database.
#[derive(Debug)]
pub struct IncomingEvent {
    pub envelope: Envelope,
    pub body: Bytes,
    pub body_sha256: [u8; 32],
    pub received_at: DateTime<Utc>,
}

impl IncomingEvent {
    pub fn new(envelope: Envelope, body: Bytes, received_at: DateTime<Utc>) -> Self {
        let body_sha256 = Sha256::digest(&body).into();
        Self {
            envelope,
            body,
            body_sha256,
            received_at,
        }
    }
}

/// What storing one delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// First time this id was seen: stored (and its sync job queued).
    Stored,
    /// The same id with the same bytes: a redelivery, nothing new.
    Duplicate,
    /// The same id with different bytes: the body was kept aside for inspection.
    Conflict,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict => "conflict",
        }
    }
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum IngestError {
    /// The batch's transaction failed: nothing in it can be claimed as stored.
    #[error("database error: {0}")]
    Database(String),
    /// The database refused this event on its own (a data error): it would never succeed.
    #[error("the database refused this event: {0}")]
    Refused(String),
    #[error("the ingest pipeline has stopped")]
    Closed,
}
