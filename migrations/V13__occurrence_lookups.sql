-- A finding whose occurrences DeepSource is to be asked for (src/reconcile/lookup.rs): a
-- `resolved` event lowers the count but cannot say which lines were fixed, so with a DeepSource
-- token the finding's occurrences are looked up soon after. One row per finding, however many
-- events asked (they are coalesced); kept until a lookup that began after the last request
-- succeeds, retried with backoff meanwhile.
CREATE TABLE finding_lookups (
    finding_id        text        PRIMARY KEY REFERENCES findings (id) ON DELETE CASCADE,
    -- The newest request: a lookup that began before it may have missed what it asked for.
    requested_at      timestamptz NOT NULL DEFAULT now(),
    due_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text,
    -- One replica at a time looks a finding up; one that dies frees it when this runs out.
    lease_token       uuid,
    lease_expires_at  timestamptz
);
CREATE INDEX finding_lookups_due ON finding_lookups (due_at);
