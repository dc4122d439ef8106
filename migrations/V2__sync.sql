-- One row per DeepSource RepositoryIssue (a finding type in a repository), mirrored by at most
-- one open GitHub issue.
CREATE TABLE findings (
    id                   text        PRIMARY KEY,          -- RepositoryIssue id (data.object.id)
    repository_id        text        NOT NULL,
    repository_name      text        NOT NULL,
    vcs_provider         text        NOT NULL,
    vcs_url              text        NOT NULL,
    default_branch       text        NOT NULL,
    issue_shortcode      text        NOT NULL,
    issue_title          text        NOT NULL,
    issue_description    text        NOT NULL,
    category             text        NOT NULL,
    analyzer_shortcode   text        NOT NULL,
    analyzer_name        text        NOT NULL,
    -- Newest event time the fields above were taken from, so an older event arriving late
    -- does not overwrite newer metadata.
    metadata_time        timestamptz NOT NULL,
    -- Signed sum of introduced minus resolved, never clamped: a resolve that overtakes its
    -- introduce still ends right once both are in.
    open_occurrences     bigint      NOT NULL DEFAULT 0,
    -- The occurrences of the newest introduced event: [{path, beginLine, endLine, title}].
    locations            jsonb       NOT NULL DEFAULT '[]',
    locations_time       timestamptz,
    -- The linked GitHub issue.
    github_repo          text,                              -- owner/repo
    github_issue_number  bigint,
    github_state         text        CHECK (github_state IN ('open', 'closed')),
    github_content_hash  text,
    -- Set before a create call and cleared once its outcome is known: while set, the issue may
    -- exist, so it is looked for (by the hidden marker) before anything is created again.
    create_started_at    timestamptz,
    -- A comment owed for a state change already made (close or reopen), so a retry posts it
    -- without repeating the state change.
    pending_comment      text,
    -- Earlier issues of this finding (REOPEN_POLICY=new).
    previous_issues      bigint[]    NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Exactly-once accounting: an event's delta is applied only when its row is inserted here.
CREATE TABLE finding_ledger (
    event_id    text        PRIMARY KEY REFERENCES webhook_events (id),
    finding_id  text        NOT NULL REFERENCES findings (id),
    delta       bigint      NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Jobs whose event named no finding are failed on every worker pass; this keeps that cheap.
CREATE INDEX sync_jobs_without_finding ON sync_jobs (id)
    WHERE finding_id IS NULL AND status IN ('pending', 'running');

-- At most one worker per finding at a time, across replicas; expires if its worker dies.
CREATE TABLE finding_leases (
    finding_id  text        PRIMARY KEY,
    token       uuid        NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- GitHub write budget, shared by every replica using one credential (budget_key).
CREATE TABLE github_budget (
    budget_key     text        PRIMARY KEY,
    -- Set from retry-after / x-ratelimit-reset (or 60 s) when GitHub says to slow down.
    blocked_until  timestamptz
);

CREATE TABLE github_writes (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    budget_key  text        NOT NULL,
    written_at  timestamptz NOT NULL
);
CREATE INDEX github_writes_window ON github_writes (budget_key, written_at);

-- Every GitHub action taken (or, without credentials, that would have been taken).
CREATE TABLE sync_actions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id  text        NOT NULL,
    action      text        NOT NULL,      -- create, update, close, reopen, comment, link
    github_repo text        NOT NULL,
    issue_number bigint,
    dry_run     boolean     NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_actions_finding ON sync_actions (finding_id, id);
