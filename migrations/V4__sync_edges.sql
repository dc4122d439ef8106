-- Event times are believed only up to a minute past their receipt when the newest metadata is
-- chosen (see lease.rs). Findings whose metadata an event dated far ahead already claimed would
-- otherwise keep it until that date: they take the time of this migration instead, so the next
-- event applies.
UPDATE findings SET metadata_time = now() WHERE metadata_time > now() + interval '1 minute';
UPDATE findings SET locations_time = now() WHERE locations_time > now() + interval '1 minute';
