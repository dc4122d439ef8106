-- Each process that runs a sync worker, and how it hears of work: `listening` (woken on commit
-- by LISTEN/NOTIFY), `polling` (listening failed: the reason), or `starting`. Written when the
-- mode changes and deleted when the process stops, never on a timer, so an idle service writes
-- nothing here. Whether a row's process still runs is read from pg_stat_activity, where every
-- connection of the process carries `application_name` = `process`.
CREATE TABLE sync_workers (
    process text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    mode text NOT NULL CHECK (mode IN ('starting', 'listening', 'polling')),
    reason text,
    started_at timestamptz NOT NULL DEFAULT now(),
    changed_at timestamptz NOT NULL DEFAULT now()
);
