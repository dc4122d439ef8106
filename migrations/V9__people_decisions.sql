-- GitHub issues that people own (src/sync/decisions.rs, src/github_webhooks/).

-- GitHub's `state_reason` of the linked issue as last seen: completed, not_planned, duplicate,
-- reopened, or NULL (never closed, or an issue from before GitHub had reasons).
ALTER TABLE findings ADD COLUMN github_state_reason text;

-- A person closed the issue as not planned or duplicate, or deleted it: the service never
-- writes to it again, whatever DeepSource reports, until a person reopens it.
ALTER TABLE findings ADD COLUMN dismissed_at timestamptz;
ALTER TABLE findings ADD COLUMN dismissed_by text;
ALTER TABLE findings ADD COLUMN dismissed_reason text
    CHECK (dismissed_reason IN ('not_planned', 'duplicate', 'deleted'));

-- A person closed the issue as completed while DeepSource still reported this many open
-- occurrences: it stays closed unless the count rises above it (a real regression).
ALTER TABLE findings ADD COLUMN closed_by_person_with bigint;

-- The open-occurrence count the issue shows, as last written: what a person closing it saw.
ALTER TABLE findings ADD COLUMN github_shown_occurrences bigint;

-- The service's own labels on the issue as it last set them. It adds and removes labels one by
-- one against this set, so labels people added are never touched. NULL for issues from before:
-- their labels were set whole, and are taken to be what the finding wanted then.
ALTER TABLE findings ADD COLUMN github_labels text[];

-- The title and body last written (a hash), apart from the labels: an update that changes only
-- labels writes no PATCH. NULL for issues from before: github_content_hash covers both.
ALTER TABLE findings ADD COLUMN github_text_hash text;

-- The `updated_at` of the newest GitHub issue event or read applied: an older one, delivered
-- late, changes nothing.
ALTER TABLE findings ADD COLUMN github_seen_at timestamptz;

-- GitHub's events name an issue by repository and number.
CREATE INDEX findings_by_github_issue ON findings (lower(github_repo), github_issue_number)
    WHERE github_issue_number IS NOT NULL;

-- Every GitHub webhook delivery, stored once by X-GitHub-Delivery, byte-for-byte as received,
-- with what became of it.
CREATE TABLE github_events (
    id           text        PRIMARY KEY,
    event_type   text        NOT NULL,
    action       text,
    received_at  timestamptz NOT NULL,
    body         bytea       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32),
    finding_id   text,
    outcome      text        NOT NULL
);

-- A different body under a delivery id already stored: kept, never silently dropped.
CREATE TABLE github_event_conflicts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text        NOT NULL REFERENCES github_events (id),
    received_at  timestamptz NOT NULL,
    body         bytea       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32),
    UNIQUE (event_id, body_sha256)
);
