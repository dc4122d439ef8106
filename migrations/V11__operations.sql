-- Operating the service: the admin API and CLI (src/admin/), retention (src/retention.rs).

-- Retention deletes the bodies of finished events older than RETENTION_DAYS and keeps the rows:
-- the id and body_sha256 still tell a redelivery from a conflict, and the ledger rows that count
-- each event once still point at them.
ALTER TABLE webhook_events ALTER COLUMN body DROP NOT NULL;
ALTER TABLE webhook_events ADD COLUMN body_deleted_at timestamptz;
ALTER TABLE github_events ALTER COLUMN body DROP NOT NULL;
ALTER TABLE github_events ADD COLUMN body_deleted_at timestamptz;

-- The delivery log (newest first, from a time), the reconcile cursor's walk and retention's.
CREATE INDEX webhook_events_by_received ON webhook_events (received_at, id);
CREATE INDEX github_events_by_received ON github_events (received_at, id);
-- A finding's jobs, newest first: whether it is failing, and its last error.
CREATE INDEX sync_jobs_by_finding ON sync_jobs (finding_id, id);

-- A finding's state as operators see it, one definition for /metrics, the admin API and the
-- status page: dismissed (a person closed it as not planned or duplicate, or deleted it), failed
-- (its newest finished job is dead and no sync has brought GitHub in line since), open or closed.
CREATE VIEW finding_status AS
SELECT f.id AS finding_id,
       CASE WHEN f.dismissed_reason IS NOT NULL THEN 'dismissed'
            WHEN f.unsynced_under IS NOT NULL AND last.status = 'dead' THEN 'failed'
            WHEN coalesce(f.github_state = 'open', f.open_occurrences > 0) THEN 'open'
            ELSE 'closed' END AS state
FROM findings f
LEFT JOIN LATERAL (
    SELECT j.status FROM sync_jobs j
    WHERE j.finding_id = f.id AND j.status IN ('dead', 'done')
    ORDER BY j.id DESC LIMIT 1
) last ON true;

-- When DeepSource last gave each repository's full state: a comparison that completed, or
-- (`backfill`, or a comparison whose later retry failed) the newest snapshot that set one of its
-- findings. One definition for /metrics, `status` and the status page.
CREATE VIEW repository_snapshots AS
SELECT repository_key, max(at) AS at FROM (
    SELECT repository_key, last_finished_at AS at FROM repository_reconciles
    WHERE last_error IS NULL AND last_finished_at IS NOT NULL
    UNION ALL
    SELECT repository_key, max(snapshot_began_at) FROM findings
    WHERE repository_key IS NOT NULL AND snapshot_began_at IS NOT NULL
    GROUP BY repository_key
) s GROUP BY repository_key;

-- When each booked GitHub write really left. Several replicas book slots from one another's, and
-- a process can wake late; a write leaves only once the one booked before it has left, at least
-- GITHUB_MIN_WRITE_INTERVAL_MS earlier (src/sync/pacing.rs).
ALTER TABLE github_writes ADD COLUMN sent_at timestamptz;
