-- Set before an owed comment is posted and cleared once GitHub's answer is known: while set, the
-- comment may exist, so it is looked for (by the marker in its text) before it is posted again.
ALTER TABLE findings ADD COLUMN comment_started_at timestamptz;
