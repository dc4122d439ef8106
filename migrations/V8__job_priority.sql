-- Which due job goes first (lower first). Events' jobs are 0: what just happened is shown
-- first. A comparison with DeepSource queues closes next (they remove noise), then the rest by
-- severity and category (src/sync/snapshots.rs), so a backfill that GitHub's write budget
-- stretches over hours shows what matters most first.
ALTER TABLE sync_jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0;
