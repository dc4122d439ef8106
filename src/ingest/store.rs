use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::{IncomingEvent, Outcome};

/// Stores a batch and says, per event and in order, what happened. Ids repeated inside the batch
/// are judged like redeliveries of the first one.
///
/// New events and their sync jobs are written by one statement, which is its own transaction:
/// a separate BEGIN and COMMIT would add two round trips to every batch. Duplicates and conflicts
/// need later statements (a new snapshot must see rows that concurrent writers committed); if any
/// of them fails, the caller answers 503 for the whole batch, and DeepSource's retry of an event
/// that did commit is then a duplicate. So no 2xx is ever given for an event not yet committed.
pub async fn store_batch(
    conn: &mut PgConnection,
    events: &[IncomingEvent],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut first_of_id: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        first_of_id.entry(event.envelope.id.as_str()).or_insert(i);
    }
    // Rows are inserted in id order so concurrent batches (from several replicas) sharing ids
    // cannot deadlock.
    let mut candidates: Vec<&IncomingEvent> = first_of_id.values().map(|&i| &events[i]).collect();
    candidates.sort_unstable_by(|a, b| a.envelope.id.as_str().cmp(b.envelope.id.as_str()));

    let inserted: HashSet<String> = insert_new(conn, &candidates).await?.into_iter().collect();

    let mut stored_hash: HashMap<String, Vec<u8>> = candidates
        .iter()
        .filter(|e| inserted.contains(e.envelope.id.as_str()))
        .map(|e| (e.envelope.id.as_str().to_owned(), e.body_sha256.to_vec()))
        .collect();
    let seen_before: Vec<String> = candidates
        .iter()
        .map(|e| e.envelope.id.as_str())
        .filter(|id| !inserted.contains(*id))
        .map(str::to_owned)
        .collect();
    if !seen_before.is_empty() {
        let rows = sqlx::query!(
            "SELECT id, body_sha256 FROM webhook_events WHERE id = ANY($1)",
            &seen_before
        )
        .fetch_all(&mut *conn)
        .await?;
        stored_hash.extend(rows.into_iter().map(|r| (r.id, r.body_sha256)));
    }

    let mut outcomes = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let id = event.envelope.id.as_str();
        let outcome = if first_of_id[id] == i && inserted.contains(id) {
            Outcome::Stored
        } else if stored_hash.get(id).ok_or(sqlx::Error::RowNotFound)? == &event.body_sha256 {
            Outcome::Duplicate
        } else {
            Outcome::Conflict
        };
        outcomes.push(outcome);
    }

    let conflicts: Vec<&IncomingEvent> = events
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Outcome::Conflict)
        .map(|(e, _)| e)
        .collect();
    if !conflicts.is_empty() {
        insert_conflicts(conn, &conflicts).await?;
    }

    Ok(outcomes)
}

/// Inserts the events that are new and queues a sync job for each new issue event, in one
/// statement (one round trip); returns the ids that were new.
async fn insert_new(conn: &mut PgConnection, events: &[&IncomingEvent]) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<String> = events.iter().map(|e| e.envelope.id.to_string()).collect();
    let types: Vec<String> = events.iter().map(|e| e.envelope.event_type.clone()).collect();
    let times: Vec<_> = events.iter().map(|e| e.envelope.event_time).collect();
    let received: Vec<_> = events.iter().map(|e| e.received_at).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| &e.body[..]).collect();
    let hashes: Vec<&[u8]> = events.iter().map(|e| &e.body_sha256[..]).collect();
    let needs_sync: Vec<bool> = events.iter().map(|e| e.envelope.needs_sync()).collect();
    let findings: Vec<Option<String>> = events.iter().map(|e| e.envelope.finding_id.clone()).collect();
    sqlx::query_scalar!(
        r#"WITH input AS (
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                    $5::bytea[], $6::bytea[], $7::bool[], $8::text[])
                   AS t(id, event_type, event_time, received_at, body, body_sha256, needs_sync, finding_id)
           ),
           inserted AS (
               INSERT INTO webhook_events (id, event_type, event_time, received_at, body, body_sha256)
               SELECT id, event_type, event_time, received_at, body, body_sha256 FROM input
               ON CONFLICT (id) DO NOTHING
               RETURNING id
           ),
           jobs AS (
               INSERT INTO sync_jobs (event_id, finding_id)
               SELECT input.id, input.finding_id FROM inserted JOIN input USING (id)
               WHERE input.needs_sync
           )
           SELECT id AS "id!" FROM inserted"#,
        &ids,
        &types,
        &times,
        &received,
        &bodies as &[&[u8]],
        &hashes as &[&[u8]],
        &needs_sync,
        &findings as &[Option<String>]
    )
    .fetch_all(conn)
    .await
}

async fn insert_conflicts(conn: &mut PgConnection, events: &[&IncomingEvent]) -> Result<(), sqlx::Error> {
    let ids: Vec<String> = events.iter().map(|e| e.envelope.id.to_string()).collect();
    let received: Vec<_> = events.iter().map(|e| e.received_at).collect();
    let bodies: Vec<Vec<u8>> = events.iter().map(|e| e.body.to_vec()).collect();
    let hashes: Vec<Vec<u8>> = events.iter().map(|e| e.body_sha256.to_vec()).collect();
    sqlx::query!(
        r#"INSERT INTO webhook_event_conflicts (event_id, received_at, body, body_sha256)
           SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::bytea[], $4::bytea[])
           ON CONFLICT (event_id, body_sha256) DO NOTHING"#,
        &ids,
        &received,
        &bodies,
        &hashes
    )
    .execute(conn)
    .await?;
    Ok(())
}
