use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::delivery::{IncomingEvent, Outcome};

/// Stores a batch and says, per event and in order, what happened. Ids repeated inside the batch
/// are judged like redeliveries of the first one.
///
/// An event is first judged under its delivery id. One whose id is already held by an event of
/// another `type` is another event (DeepSource's published samples show an introduced and a
/// resolved event sharing one id): it is judged again, by the same rules, under a key of its own,
/// `{id}:{type}`, so its sync job and ledger entry (keyed by event) stay its own. The first to
/// arrive keeps the bare id; redeliveries of either, in any order, are duplicates.
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
    let mut keys: Vec<String> = events.iter().map(|e| e.envelope.id.to_string()).collect();
    let mut verdicts = judge(
        conn,
        &keys.iter().map(String::as_str).zip(events).collect::<Vec<_>>(),
    )
    .await?;

    let other_type: Vec<usize> = (0..events.len())
        .filter(|&i| verdicts[i] == Verdict::OtherType)
        .collect();
    if !other_type.is_empty() {
        for &i in &other_type {
            keys[i] = format!("{}:{}", events[i].envelope.id, events[i].envelope.event_type);
        }
        let by_own_key: Vec<(&str, &IncomingEvent)> = other_type
            .iter()
            .map(|&i| (keys[i].as_str(), &events[i]))
            .collect();
        for (&i, verdict) in other_type.iter().zip(judge(conn, &by_own_key).await?) {
            verdicts[i] = match verdict {
                // Only an id that itself looks like `{id}:{type}` can get here: kept aside.
                Verdict::OtherType => Verdict::Conflict,
                verdict => verdict,
            };
        }
    }

    let conflicts: Vec<(&str, &IncomingEvent)> = keys
        .iter()
        .zip(events)
        .zip(&verdicts)
        .filter(|(_, v)| **v == Verdict::Conflict)
        .map(|((key, e), _)| (key.as_str(), e))
        .collect();
    if !conflicts.is_empty() {
        insert_conflicts(conn, &conflicts).await?;
    }

    Ok(verdicts
        .into_iter()
        .map(|v| match v {
            Verdict::Stored => Outcome::Stored,
            Verdict::Duplicate => Outcome::Duplicate,
            Verdict::Conflict | Verdict::OtherType => Outcome::Conflict,
        })
        .collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Stored,
    Duplicate,
    Conflict,
    /// The key is held by an event of another type.
    OtherType,
}

/// One round of judging events under the given keys: inserts the new ones, then compares the
/// others with what is stored under their key.
async fn judge(
    conn: &mut PgConnection,
    entries: &[(&str, &IncomingEvent)],
) -> Result<Vec<Verdict>, sqlx::Error> {
    let mut first_of_key: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, (key, _)) in entries.iter().enumerate() {
        first_of_key.entry(key).or_insert(i);
    }
    // Rows are inserted in key order so concurrent batches (from several replicas) sharing keys
    // cannot deadlock.
    let mut candidates: Vec<(&str, &IncomingEvent)> = first_of_key
        .iter()
        .map(|(key, &i)| (*key, entries[i].1))
        .collect();
    candidates.sort_unstable_by_key(|(key, _)| *key);

    let inserted: HashSet<String> = insert_new(conn, &candidates).await?.into_iter().collect();

    let mut stored: HashMap<String, (String, Vec<u8>)> = candidates
        .iter()
        .filter(|(key, _)| inserted.contains(*key))
        .map(|(key, e)| {
            let seen = (e.envelope.event_type.clone(), e.body_sha256.to_vec());
            ((*key).to_owned(), seen)
        })
        .collect();
    let seen_before: Vec<String> = candidates
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| !inserted.contains(*key))
        .map(str::to_owned)
        .collect();
    if !seen_before.is_empty() {
        let rows = sqlx::query!(
            "SELECT id, event_type, body_sha256 FROM webhook_events WHERE id = ANY($1)",
            &seen_before
        )
        .fetch_all(&mut *conn)
        .await?;
        stored.extend(rows.into_iter().map(|r| (r.id, (r.event_type, r.body_sha256))));
    }

    let mut verdicts = Vec::with_capacity(entries.len());
    for (i, (key, event)) in entries.iter().enumerate() {
        let verdict = if first_of_key[key] == i && inserted.contains(*key) {
            Verdict::Stored
        } else {
            let (event_type, hash) = stored.get(*key).ok_or(sqlx::Error::RowNotFound)?;
            if *event_type != event.envelope.event_type {
                Verdict::OtherType
            } else if *hash == event.body_sha256 {
                Verdict::Duplicate
            } else {
                Verdict::Conflict
            }
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// Inserts the events that are new under their keys and queues a sync job for each new issue
/// event, in one statement (one round trip); returns the keys that were new.
async fn insert_new(
    conn: &mut PgConnection,
    entries: &[(&str, &IncomingEvent)],
) -> Result<Vec<String>, sqlx::Error> {
    let ids: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
    let events: Vec<&IncomingEvent> = entries.iter().map(|(_, e)| *e).collect();
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
               RETURNING 1
           ),
           -- One wake-up for the batch, sent by the commit (db/notify.rs), in this statement so
           -- the group commit costs no extra round trip.
           woke AS (
               SELECT pg_notify($9, '') FROM (SELECT 1 FROM jobs LIMIT 1) AS any_job
           )
           SELECT id AS "id!" FROM inserted WHERE (SELECT count(*) FROM woke) >= 0"#,
        &ids as &[&str],
        &types,
        &times,
        &received,
        &bodies as &[&[u8]],
        &hashes as &[&[u8]],
        &needs_sync,
        &findings as &[Option<String>],
        crate::db::notify::WORK_CHANNEL
    )
    .fetch_all(conn)
    .await
}

async fn insert_conflicts(
    conn: &mut PgConnection,
    entries: &[(&str, &IncomingEvent)],
) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
    let events: Vec<&IncomingEvent> = entries.iter().map(|(_, e)| *e).collect();
    let received: Vec<_> = events.iter().map(|e| e.received_at).collect();
    let bodies: Vec<Vec<u8>> = events.iter().map(|e| e.body.to_vec()).collect();
    let hashes: Vec<Vec<u8>> = events.iter().map(|e| e.body_sha256.to_vec()).collect();
    sqlx::query!(
        r#"INSERT INTO webhook_event_conflicts (event_id, received_at, body, body_sha256)
           SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::bytea[], $4::bytea[])
           ON CONFLICT (event_id, body_sha256) DO NOTHING"#,
        &ids as &[&str],
        &received,
        &bodies,
        &hashes
    )
    .execute(conn)
    .await?;
    Ok(())
}
