-- The pull requests DeepSource's Autofix opened, as the newest autofix_run.updated about each
-- said (by the event's createdAt, then its id). A finding's issue shows the ones that fix its
-- issue shortcode in its repository (`finding_fixes`).
CREATE TABLE autofix_pull_requests (
    -- DeepSource's repository id, or the provider:login/name key when the event had no id.
    repository      text        NOT NULL,
    number          bigint      NOT NULL,
    repository_id   text        NOT NULL,
    repository_key  text,
    url             text        NOT NULL,
    title           text        NOT NULL,
    -- OPEN, MERGED or CLOSED.
    status          text        NOT NULL,
    shortcodes      text[]      NOT NULL,
    event_time      timestamptz NOT NULL,
    event_id        text        NOT NULL REFERENCES webhook_events (id),
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (repository, number)
);

-- From the newest issue event or snapshot: DeepSource can fix this issue itself.
ALTER TABLE findings ADD COLUMN autofix_available boolean;
-- When the service last closed the finding's issue: fixes reported before then belong to that
-- closed episode and are not shown again if the finding comes back.
ALTER TABLE findings ADD COLUMN fixes_cleared_at timestamptz;
CREATE INDEX findings_by_shortcode ON findings (issue_shortcode);

-- Which pull request fixes which finding: its shortcode in the run's affected issues, in the
-- same repository (by DeepSource's id where both have one, else by provider, login and name).
CREATE VIEW finding_fixes AS
SELECT f.id AS finding_id, p.*
FROM autofix_pull_requests p
JOIN findings f ON f.issue_shortcode = ANY (p.shortcodes)
 AND CASE WHEN p.repository_id <> '' AND f.repository_id <> '' THEN p.repository_id = f.repository_id
          ELSE p.repository_key = f.repository_key END;
