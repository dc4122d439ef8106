use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::delivery::{IncomingEvent, IngestError, Outcome};
use super::outage::Availability;
use super::store::store_batch;
use crate::db::is_connection_lost;

type Reply = oneshot::Sender<Result<Outcome, IngestError>>;

/// Most deliveries written by one statement.
const MAX_BATCH: usize = 256;

/// The pool pings a connection before handing it out, but one can still die under a batch (the
/// server restarting under load) or between the ping and the batch: a batch whose connection
/// turns out lost is tried again on another. Safe because storing is idempotent by delivery id:
/// a batch that committed before its answer was lost finds its events stored (`duplicate`).
const ATTEMPTS: usize = 3;

/// Handle to the group-commit task; cheap to clone into every HTTP worker.
#[derive(Clone, Debug)]
pub struct Ingestor {
    queue: mpsc::Sender<(IncomingEvent, Reply)>,
    availability: Availability,
}

impl Ingestor {
    /// Spawns the batching task on the current Tokio runtime. `timeout` bounds each write once
    /// a connection is in hand (the pool's acquire timeout bounds getting one).
    pub fn start(pool: PgPool, timeout: Duration) -> Self {
        let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
        let availability = Availability::default();
        tokio::spawn(collect_batches(
            Writer { pool, timeout },
            availability.clone(),
            rx,
        ));
        Self { queue, availability }
    }

    /// Intake has found the database unreachable and is waiting for it to answer again.
    pub fn database_is_down(&self) -> bool {
        self.availability.is_down()
    }

    pub async fn ingest(&self, event: IncomingEvent) -> Result<Outcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| IngestError::Closed)?;
        answer.await.map_err(|_| IngestError::Closed)?
    }
}

struct Writer {
    pool: PgPool,
    timeout: Duration,
}

/// Why a write did not happen.
enum Failure {
    /// No connection, connections lost on every attempt, or no answer in time: the database is
    /// away, and any write would fail now.
    Unavailable(String),
    /// The database answered, refusing the statement.
    Refused(sqlx::Error),
}

/// While one batch is being written, new deliveries queue up and become the next batch: the
/// batch size follows the load, with no timer and no added latency when idle. One batch at a
/// time measured faster than two or four overlapping ones (scripts/bench-ingest.sh): on a busy
/// machine, extra lanes only shrink the batches.
///
/// Once a batch finds the database unreachable, every delivery waiting and every new one is
/// answered 503 at once (they would only meet the same outage, one timeout after another) until
/// the background probe sees the database answer again.
async fn collect_batches(
    writer: Writer,
    availability: Availability,
    mut rx: mpsc::Receiver<(IncomingEvent, Reply)>,
) {
    while let Some(first) = rx.recv().await {
        if availability.is_down() {
            refuse_all_waiting(first, &mut rx);
            continue;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if commit_batch(&writer, batch).await == Written::StorageUnavailable {
            availability.mark_down(&writer.pool);
            if let Ok(next) = rx.try_recv() {
                refuse_all_waiting(next, &mut rx);
            }
        }
    }
}

fn refuse_all_waiting(first: (IncomingEvent, Reply), rx: &mut mpsc::Receiver<(IncomingEvent, Reply)>) {
    let _ = first.1.send(Err(Availability::refusal()));
    while let Ok((_, reply)) = rx.try_recv() {
        let _ = reply.send(Err(Availability::refusal()));
    }
}

/// How a batch ended, as far as the next one is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    /// Every event got its own answer.
    Answered,
    /// The database could not be reached (some events may have been answered first).
    StorageUnavailable,
}

#[tracing::instrument(skip_all, fields(batch_size = batch.len()))]
async fn commit_batch(writer: &Writer, batch: Vec<(IncomingEvent, Reply)>) -> Written {
    let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let error = match writer.store(&events).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away still had its event stored; its retry is a duplicate.
                let _ = reply.send(Ok(outcome));
            }
            return Written::Answered;
        }
        Err(Failure::Unavailable(reason)) => {
            tracing::error!(%reason, "storage is unavailable; answering 503 to the whole batch");
            let error = IngestError::Database(reason);
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
            return Written::StorageUnavailable;
        }
        Err(Failure::Refused(error)) => error,
    };
    if events.len() == 1 {
        tracing::warn!(delivery_id = %events[0].envelope.id, %error, "an event was refused");
        let _ = replies
            .into_iter()
            .next()
            .map(|reply| reply.send(Err(classify(&error))));
        return Written::Answered;
    }
    // The database is there but refused the statement: most likely one event it cannot take.
    // Each event is tried on its own so only that one fails; storing is idempotent by id, so an
    // event is never stored twice (one committed before the failure answers `duplicate`).
    tracing::warn!(%error, "a batch was refused; storing its events one by one");
    let mut unavailable: Option<IngestError> = None;
    for (event, reply) in events.iter().zip(replies) {
        let result = match &unavailable {
            Some(error) => Err(error.clone()),
            None => match writer.store(std::slice::from_ref(event)).await {
                Ok(outcomes) => Ok(outcomes[0]),
                Err(Failure::Unavailable(reason)) => {
                    tracing::error!(%reason, "storage is unavailable; answering 503 to the rest of the batch");
                    let error = IngestError::Database(reason);
                    unavailable = Some(error.clone());
                    Err(error)
                }
                Err(Failure::Refused(error)) => {
                    tracing::warn!(delivery_id = %event.envelope.id, %error, "an event was refused");
                    Err(classify(&error))
                }
            },
        };
        let _ = reply.send(result);
    }
    if unavailable.is_some() {
        Written::StorageUnavailable
    } else {
        Written::Answered
    }
}

impl Writer {
    /// One statement's worth of events on a pooled connection, tried again on another when the
    /// connection turns out to be gone.
    async fn store(&self, events: &[IncomingEvent]) -> Result<Vec<Outcome>, Failure> {
        let mut attempt = 1;
        loop {
            // Acquiring is bounded by the pool's own timeout, outside the statement's deadline,
            // so a statement that overruns leaves its connection in hand to be closed.
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(|e| Failure::Unavailable(format!("no database connection: {e}")))?;
            match tokio::time::timeout(self.timeout, store_batch(&mut conn, events)).await {
                Ok(Ok(outcomes)) => return Ok(outcomes),
                Ok(Err(error)) if is_connection_lost(&error) => {
                    conn.close_on_drop();
                    if attempt == ATTEMPTS {
                        return Err(Failure::Unavailable(error.to_string()));
                    }
                    tracing::info!(%error, "a pooled connection was gone; trying the batch again");
                    attempt += 1;
                }
                Ok(Err(error)) => return Err(Failure::Refused(error)),
                Err(_) => {
                    // Its answer may still arrive: a connection with a statement in flight must
                    // never serve another one.
                    conn.close_on_drop();
                    return Err(Failure::Unavailable(format!(
                        "no answer from the database within {} ms",
                        self.timeout.as_millis()
                    )));
                }
            }
        }
    }
}

/// What a failure means to the event's sender.
fn classify(error: &sqlx::Error) -> IngestError {
    if crate::db::is_data_error(error) {
        IngestError::Refused(error.to_string())
    } else {
        IngestError::Database(error.to_string())
    }
}
