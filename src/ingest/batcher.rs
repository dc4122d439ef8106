use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{store_batch, IncomingEvent, IngestError, Outcome};

type Reply = oneshot::Sender<Result<Outcome, IngestError>>;

/// Most deliveries written by one statement.
const MAX_BATCH: usize = 256;

/// Pooled connections are not pinged before use (that would add a round trip to every batch),
/// so a batch that meets a connection the server has dropped is tried again on another one.
/// Safe because storing is idempotent by delivery id.
const ATTEMPTS: usize = 3;

/// Handle to the group-commit task; cheap to clone into every HTTP worker.
#[derive(Clone, Debug)]
pub struct Ingestor {
    queue: mpsc::Sender<(IncomingEvent, Reply)>,
}

impl Ingestor {
    /// Spawns the batching task on the current Tokio runtime.
    pub fn start(pool: PgPool) -> Self {
        let (queue, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(collect_batches(pool, rx));
        Self { queue }
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

/// While one batch is being written, new deliveries queue up and become the next batch: the
/// batch size follows the load, with no timer and no added latency when idle. One batch at a
/// time measured faster than two or four overlapping ones (scripts/bench-ingest.sh): on a busy
/// machine, extra lanes only shrink the batches.
async fn collect_batches(pool: PgPool, mut rx: mpsc::Receiver<(IncomingEvent, Reply)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        commit_batch(&pool, batch).await;
    }
}

#[tracing::instrument(skip_all, fields(batch_size = batch.len()))]
async fn commit_batch(pool: &PgPool, batch: Vec<(IncomingEvent, Reply)>) {
    let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let error = match store_with_retries(pool, &events).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away still had its event stored; its retry is a duplicate.
                let _ = reply.send(Ok(outcome));
            }
            return;
        }
        Err(error) => error,
    };
    if is_connection_lost(&error) || events.len() == 1 {
        if is_connection_lost(&error) {
            tracing::error!(error = %error, "storing a batch of events failed; answering 503 to all of it");
        } else {
            tracing::warn!(error = %error, "an event was refused");
        }
        let error = classify(&error);
        for reply in replies {
            let _ = reply.send(Err(error.clone()));
        }
        return;
    }
    // The database is there but refused the statement: most likely one event it cannot take.
    // Each event is tried on its own so only that one fails; storing is idempotent by id, so an
    // event is never stored twice (one committed before the failure answers `duplicate`).
    tracing::warn!(error = %error, "a batch was refused; storing its events one by one");
    let mut unavailable: Option<IngestError> = None;
    for (event, reply) in events.iter().zip(replies) {
        let result = match &unavailable {
            Some(error) => Err(error.clone()),
            None => match store_with_retries(pool, std::slice::from_ref(event)).await {
                Ok(outcomes) => Ok(outcomes[0]),
                Err(error) => {
                    let answer = classify(&error);
                    if is_connection_lost(&error) {
                        unavailable = Some(answer.clone());
                    }
                    tracing::warn!(delivery_id = %event.envelope.id, error = %error, "an event was refused");
                    Err(answer)
                }
            },
        };
        let _ = reply.send(result);
    }
}

/// Stores on a pooled connection, trying again on another when the connection was gone.
async fn store_with_retries(pool: &PgPool, events: &[IncomingEvent]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut result = store_on_pooled_connection(pool, events).await;
    for _ in 1..ATTEMPTS {
        match &result {
            Err(e) if is_connection_lost(e) => {
                tracing::info!(error = %e, "a pooled connection was gone; trying the batch again");
                result = store_on_pooled_connection(pool, events).await;
            }
            _ => break,
        }
    }
    result
}

/// What a failure means to the event's sender.
fn classify(error: &sqlx::Error) -> IngestError {
    if is_data_error(error) {
        IngestError::Refused(error.to_string())
    } else {
        IngestError::Database(error.to_string())
    }
}

/// The event itself is what the database cannot take: trying again would never succeed.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        // A value that cannot even be encoded for Postgres.
        sqlx::Error::Encode(_) => true,
        // 22xxx data exception (out-of-range time, NUL in text, …); 54xxx program limit
        // exceeded (an index row too large, …).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("54")),
        _ => false,
    }
}

async fn store_on_pooled_connection(
    pool: &PgPool,
    events: &[IncomingEvent],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let result = store_batch(&mut conn, events).await;
    if result.as_ref().is_err_and(is_connection_lost) {
        conn.close_on_drop();
    }
    result
}

/// The connection, not the statement, failed: another connection may well succeed.
fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        // 08xxx connection exception; 57P01-57P03 the server shut the session down.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}
