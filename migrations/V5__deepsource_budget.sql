-- DeepSource's API allows 5,000 requests an hour per user. The service's share of it is kept
-- here, one token bucket per API token (by hash), so every replica draws on the same budget:
-- `tokens` requests may be made now (refilled at the hourly share, up to a minute's worth), and
-- none before `blocked_until` once DeepSource has answered 429.
CREATE TABLE deepsource_budget (
    budget_key text PRIMARY KEY,
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    blocked_until timestamptz
);
