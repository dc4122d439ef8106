-- DeepSource's API as the source of truth (src/sync/snapshots.rs).

-- The repository a finding belongs to, as DeepSource's API names it: `provider:login/name`, in
-- lower case. A snapshot of that repository settles every finding with this key.
ALTER TABLE findings ADD COLUMN repository_key text;
CREATE INDEX findings_by_repository ON findings (repository_key);
UPDATE findings
SET repository_key = lower(vcs_provider || ':' ||
        regexp_replace(substring(vcs_url FROM '^[A-Za-z]+://[^/]+/([^/]+/[^/?#]+)'), '\.git$', ''))
WHERE substring(vcs_url FROM '^[A-Za-z]+://[^/]+/([^/]+/[^/?#]+)') IS NOT NULL;

-- CRITICAL, MAJOR or MINOR: only the API says.
ALTER TABLE findings ADD COLUMN severity text;

-- When the snapshot that last set this finding's count and locations began. An event received
-- before then is in that count already: whenever it is applied, it is absorbed (recorded in the
-- ledger, counted zero), so no order of events and snapshots counts an occurrence twice.
ALTER TABLE findings ADD COLUMN snapshot_began_at timestamptz;
ALTER TABLE finding_ledger ADD COLUMN absorbed boolean NOT NULL DEFAULT false;
