-- Every DeepSource event, stored once by its delivery id, byte-for-byte as received.
CREATE TABLE webhook_events (
    id           text        PRIMARY KEY,
    event_type   text        NOT NULL,
    -- createdAt, else created, else received_at (see CONTRACTS.md).
    event_time   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    body         bytea       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32)
);

-- A different body under an id already stored: kept, never silently dropped.
-- One row per distinct body, so redeliveries of the same conflicting body add nothing.
CREATE TABLE webhook_event_conflicts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text        NOT NULL REFERENCES webhook_events (id),
    received_at  timestamptz NOT NULL,
    body         bytea       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32),
    UNIQUE (event_id, body_sha256)
);

-- The sync queue: one job per repository_issue.* event, queued in the transaction that
-- stores the event. Workers claim with FOR UPDATE SKIP LOCKED; a claimed job is 'running'
-- until lease_expires_at, after which another worker may take it over (crash recovery).
CREATE TABLE sync_jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         text        NOT NULL UNIQUE REFERENCES webhook_events (id),
    -- data.object.id (the RepositoryIssue); NULL when the payload has none, and the
    -- job then fails with that reason instead of the event being refused.
    finding_id       text,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'done', 'skipped', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sync_jobs_claimable ON sync_jobs (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX sync_jobs_leased ON sync_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX sync_jobs_finding ON sync_jobs (finding_id) WHERE status IN ('pending', 'running');

-- Bodies are JSON of a few kilobytes: lz4 compresses them at a fraction of pglz's CPU cost.
-- Servers built without lz4 keep the default.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE webhook_events ALTER COLUMN body SET COMPRESSION lz4;
        ALTER TABLE webhook_event_conflicts ALTER COLUMN body SET COMPRESSION lz4;
    END IF;
END
$$;
