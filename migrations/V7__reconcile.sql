-- When each repository is next compared with DeepSource (src/reconcile/service.rs): one row per
-- repository the service knows, from events, earlier snapshots or DEEPSOURCE_REPOSITORIES.
CREATE TABLE repository_reconciles (
    repository_key   text        PRIMARY KEY,        -- provider:login/name, lower case
    provider         text        NOT NULL,
    login            text        NOT NULL,
    name             text        NOT NULL,
    -- The next comparison; NULL when none is scheduled. An event pushes it to RECONCILE_DELAY
    -- after itself, the timer brings it to now every RECONCILE_INTERVAL.
    due_at           timestamptz,
    -- Held by the replica comparing it now: one comparison of a repository at a time.
    lease_token      uuid,
    lease_expires_at timestamptz,
    attempts         integer     NOT NULL DEFAULT 0,
    last_finished_at timestamptz,
    last_error       text
);
CREATE INDEX repository_reconciles_due ON repository_reconciles (due_at) WHERE due_at IS NOT NULL;

-- How far the events that schedule comparisons have been read (received_at, id).
CREATE TABLE reconcile_cursor (
    only_row     boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    received_at  timestamptz NOT NULL,
    event_id     text        NOT NULL
);
