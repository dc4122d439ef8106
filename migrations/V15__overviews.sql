-- One overview issue per DeepSource repository (src/overview/): a line per open finding, a
-- checkbox where a finding has no issue of its own. A row exists once OVERVIEW_ISSUE is on and
-- a finding of the repository has been synced.
CREATE TABLE overviews (
    repository_key      text PRIMARY KEY,          -- provider:login/name, lower case (findings.repository_key)
    github_repo         text,                      -- owner/name where the issue lives
    github_issue_number bigint,
    github_issue_id     bigint,                    -- GitHub's id of the issue (sub-issues name it)
    github_state        text,
    -- Title and body last written or seen, hashed: an unchanged rendering writes nothing.
    text_hash           text,
    -- The ETag of the last read: a conditional read that answers 304 costs no rate limit.
    etag                text,
    -- The service's own labels as it last set them (people's are never taken off).
    labels              text[],
    -- A create that may have happened: looked for by the hidden marker before another.
    create_started_at   timestamptz,
    -- The service closed it because nothing was open (a person's close turns it off instead).
    closed_by_service   boolean     NOT NULL DEFAULT false,
    -- A person closed or deleted it: never written again until a person reopens it.
    off_reason          text,
    off_by              text,
    off_at              timestamptz,
    -- Written when a change is due: `due_at` is the last change plus OVERVIEW_DELAY, no later
    -- than four delays after the first change not yet written.
    changed_at          timestamptz,
    pending_since       timestamptz,
    due_at              timestamptz,
    written_at          timestamptz,
    -- First written (the repository became visible in GitHub).
    visible_at          timestamptz,
    read_at             timestamptz,
    writes              bigint      NOT NULL DEFAULT 0,
    -- A GitHub answer that will not change (a repository gone, issues turned off).
    failed_reason       text,
    attempts            integer     NOT NULL DEFAULT 0,
    last_error          text,
    -- One writer at a time, across replicas.
    lease_token         uuid,
    leased_until        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX overviews_due ON overviews (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX overviews_by_issue ON overviews (lower(github_repo), github_issue_number);

-- A person ticked the finding's box in its overview: it gets an issue of its own whatever
-- FINDING_ISSUES says.
ALTER TABLE findings ADD COLUMN issue_requested_at timestamptz;

-- GitHub's id of a finding's issue (not its number): a sub-issue is named by it.
ALTER TABLE findings ADD COLUMN github_issue_id bigint;

-- With OVERVIEW_SUB_ISSUES: findings' issues attached to their overview as sub-issues (GitHub
-- allows 100 per parent, closed ones included). `refused` keeps one GitHub would not take
-- (another owner, another parent) from being asked again and again.
ALTER TABLE overviews ADD COLUMN sub_issues_off text;
CREATE TABLE overview_sub_issues (
    repository_key text        NOT NULL REFERENCES overviews ON DELETE CASCADE,
    issue_id       bigint      NOT NULL,
    finding_id     text        NOT NULL,
    refused        text,
    attached_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_key, issue_id)
);
