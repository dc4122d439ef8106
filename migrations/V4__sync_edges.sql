-- Event times are believed only up to a minute past their receipt when the newest metadata is
-- chosen (see lease.rs). Findings whose metadata an event dated far ahead already claimed would
-- otherwise keep it until that date: they take the time of this migration instead, so the next
-- event applies.
UPDATE findings SET metadata_time = now() WHERE metadata_time > now() + interval '1 minute';
UPDATE findings SET locations_time = now() WHERE locations_time > now() + interval '1 minute';

-- A job is an event's to apply (event_id set) or, with event_id NULL, a reconciliation: a look at
-- a finding whose GitHub issue may not show what it should, queued when the worker starts.
ALTER TABLE sync_jobs ALTER COLUMN event_id DROP NOT NULL;

-- NULL when GitHub shows what the finding wants, as far as the last sync knows. Otherwise the
-- fingerprint of the settings (credentials, filters, target, release) under which a sync last
-- left it off GitHub (a dry run, a filter, a refusal), or '' while no sync has settled it (an
-- event not synced yet, or one whose attempts ran out). A worker starting with settings whose
-- fingerprint differs queues a reconciliation for it, so nothing a dry run or a filter passed
-- over is lost, and a start with the same settings does nothing again.
ALTER TABLE findings ADD COLUMN unsynced_under text;

-- What earlier releases left behind: a finding whose last job was skipped or dead (a dry run
-- ended its jobs `done`, and is found by comparing its count with its issue at start-up).
UPDATE findings f SET unsynced_under = ''
WHERE EXISTS (SELECT 1 FROM sync_jobs j
              WHERE j.finding_id = f.id AND j.status IN ('skipped', 'dead')
                AND j.id = (SELECT max(id) FROM sync_jobs WHERE finding_id = f.id));
