-- Each target repository's CODEOWNERS as last read from GitHub (ASSIGN_CODEOWNERS), so a create
-- reads it again only conditionally (If-None-Match: a 304 costs no primary-limit request), and a
-- repository without one is looked at again only after a while (src/sync/owners.rs).
CREATE TABLE codeowners_files (
    -- owner/name in lower case (GitHub's names ignore case).
    repository text PRIMARY KEY,
    -- Where it was found (.github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS); NULL: none exists.
    path text,
    etag text,
    content text,
    -- When the locations before `path` (every location, when there is none) were last found
    -- missing: until this is old, only `path` is read again.
    checked_at timestamptz NOT NULL DEFAULT now(),
    -- Lower-case logins GitHub refused to assign here, left out of later creates for a while
    -- (each refusal costs a write: the create is made again without them); forgotten when the
    -- file changes.
    unassignable text[] NOT NULL DEFAULT '{}',
    unassignable_since timestamptz,
    CHECK ((path IS NULL) = (content IS NULL))
);
