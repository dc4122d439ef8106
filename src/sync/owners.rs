//! Who a new issue is assigned to (`ASSIGN_CODEOWNERS`): the target repository's CODEOWNERS,
//! read through a cache in Postgres (V10) with conditional requests, and the create that
//! assigns its owners, which leaves out anyone GitHub refuses rather than fail.
use std::time::Duration;

use base64::Engine;
use http::header::{HeaderValue, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, StatusCode};
use sqlx::PgPool;

use super::driver::Driver;
use super::error::SyncError;
use crate::domain::RepoSlug;
use crate::findings::fence::Lease;
use crate::findings::store::{self, Call, Finding};
use crate::github::call::Method;
use crate::github::client::{send_raw, GitHub, GitHubError, RemoteIssue};
use crate::github::codeowners::CodeOwners;
use crate::github::content::IssueContent;

/// Where GitHub looks for CODEOWNERS; the first found counts.
const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];
/// How long a location found missing is believed missing: a repository without CODEOWNERS is
/// not asked again on every create, and one added later is seen within this.
const RECHECK: Duration = Duration::from_secs(600);
/// How long a login GitHub refused to assign is left out of the repository's creates: each
/// refusal costs a second create, and write budget is what a backfill waits for.
const REFUSALS_KEPT: Duration = Duration::from_secs(24 * 3600);

impl Driver {
    /// Creates the finding's issue, assigned to the users CODEOWNERS names for its paths. The
    /// intent is recorded before each call and cleared on a definite answer, so an answer that
    /// never came leaves it for the next try to look for. A refused assignee gets a 422, which
    /// created nothing: the create is made again, in a slot of its own, without them.
    pub(super) async fn create_assigned(
        &self,
        github: &GitHub,
        lease: &Lease,
        finding: &Finding,
        repo: &RepoSlug,
        content: &IssueContent,
    ) -> Result<RemoteIssue, SyncError> {
        let mut assignees = self.owners(github, repo, finding).await?;
        loop {
            // The slot first: a budget wait must not leave an intent for a call never made.
            self.book_write(&github.budget_key(repo)).await?;
            store::set_started(&self.pool, lease, Call::Create, true).await?;
            let refused = match github.create_issue(repo, content, &assignees).await {
                Ok(Ok(issue)) => return Ok(issue),
                Ok(Err(refused)) => refused,
                Err(e) => {
                    if e.is_definite() {
                        store::set_started(&self.pool, lease, Call::Create, false).await?;
                    }
                    return Err(e.into());
                }
            };
            store::set_started(&self.pool, lease, Call::Create, false).await?;
            let named = |login: &String| refused.logins.iter().any(|r| r.eq_ignore_ascii_case(login));
            let sent = assignees.len();
            assignees.retain(|login| !named(login));
            // Unnamed, or none of those sent: which one is unknown, so none of them.
            if assignees.len() == sent {
                assignees.clear();
            }
            tracing::warn!(
                repository = %repo,
                finding = %finding.id,
                refused = ?refused.logins,
                assigning = ?assignees,
                reason = %refused.detail,
                "GitHub refused to assign the issue to CODEOWNERS users; creating it without them"
            );
            remember_refused(&self.pool, repo, &refused.logins).await?;
        }
    }

    /// The users CODEOWNERS names for the finding's paths; none when routing is off, the
    /// finding has no paths, or CODEOWNERS cannot be read (which never stops the create).
    async fn owners(
        &self,
        github: &GitHub,
        repo: &RepoSlug,
        finding: &Finding,
    ) -> Result<Vec<String>, SyncError> {
        let paths: Vec<&str> = finding
            .locations
            .iter()
            .filter_map(|o| o.path.as_deref())
            .collect();
        if !self.issues.assign_codeowners || paths.is_empty() {
            return Ok(Vec::new());
        }
        self.wait_for_reads(&github.budget_key(repo)).await?;
        match read_codeowners(&self.pool, github, repo).await {
            Ok(Some(file)) => Ok(CodeOwners::parse(&file.content).assignees(paths, &file.refused)),
            Ok(None) => Ok(Vec::new()),
            Err(SyncError::GitHub(error)) => {
                tracing::warn!(repository = %repo, %error, "could not read CODEOWNERS; the issue is created without assignees");
                Ok(Vec::new())
            }
            Err(other) => Err(other),
        }
    }
}

struct OwnersFile {
    content: String,
    refused: Vec<String>,
}

enum Read {
    Found { content: String, etag: Option<String> },
    NotModified,
    Missing,
}

/// The repository's CODEOWNERS, through the cache: the location found before is read with its
/// ETag (a 304 reuses the content); the locations before it, or all of them when there was
/// none, are asked again only once `RECHECK` has passed.
async fn read_codeowners(
    pool: &PgPool,
    github: &GitHub,
    repo: &RepoSlug,
) -> Result<Option<OwnersFile>, SyncError> {
    let key = repo.to_string().to_ascii_lowercase();
    let cached = sqlx::query!(
        r#"SELECT path, etag, content,
                  checked_at > now() - make_interval(secs => $2) AS "fresh!",
                  CASE WHEN unassignable_since > now() - make_interval(secs => $3) THEN unassignable
                       ELSE '{}' END AS "refused!"
           FROM codeowners_files WHERE repository = $1"#,
        key,
        RECHECK.as_secs_f64(),
        REFUSALS_KEPT.as_secs_f64()
    )
    .fetch_optional(pool)
    .await?;
    let first = match &cached {
        Some(c) if c.fresh => match c.path.as_deref() {
            None => return Ok(None),
            Some(path) => LOCATIONS.iter().position(|l| *l == path).unwrap_or(0),
        },
        _ => 0,
    };
    // Only a walk from the first location says anew that the earlier ones are missing.
    let rechecked = first == 0;
    for location in &LOCATIONS[first..] {
        let known = cached.as_ref().filter(|c| c.path.as_deref() == Some(*location));
        let etag = known.and_then(|c| c.etag.as_deref());
        match read_file(github, repo, location, etag).await? {
            Read::Missing => continue,
            Read::NotModified => {
                let known = known.expect("a 304 answers only a request with an ETag");
                if rechecked {
                    sqlx::query!(
                        "UPDATE codeowners_files SET checked_at = now() WHERE repository = $1",
                        key
                    )
                    .execute(pool)
                    .await?;
                }
                return Ok(Some(OwnersFile {
                    content: known.content.clone().unwrap_or_default(),
                    refused: known.refused.clone(),
                }));
            }
            Read::Found { content, etag } => {
                // As `store_found` keeps them: only while the text is the same.
                let refused = cached
                    .as_ref()
                    .filter(|c| c.content.as_deref() == Some(content.as_str()))
                    .map(|c| c.refused.clone())
                    .unwrap_or_default();
                store_found(pool, &key, location, etag.as_deref(), &content, rechecked).await?;
                return Ok(Some(OwnersFile { content, refused }));
            }
        }
    }
    sqlx::query!(
        r#"INSERT INTO codeowners_files (repository, path, etag, content, checked_at)
           VALUES ($1, NULL, NULL, NULL, now())
           ON CONFLICT (repository) DO UPDATE SET path = NULL, etag = NULL, content = NULL,
               checked_at = CASE WHEN $2 THEN now() ELSE codeowners_files.checked_at END,
               unassignable = '{}', unassignable_since = NULL"#,
        key,
        rechecked
    )
    .execute(pool)
    .await?;
    Ok(None)
}

/// Records the file found at `path`; refusals are forgotten when its content changed.
async fn store_found(
    pool: &PgPool,
    key: &str,
    path: &str,
    etag: Option<&str>,
    content: &str,
    rechecked: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO codeowners_files (repository, path, etag, content, checked_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (repository) DO UPDATE SET
               unassignable = CASE WHEN codeowners_files.content IS DISTINCT FROM EXCLUDED.content
                                   THEN '{}' ELSE codeowners_files.unassignable END,
               unassignable_since = CASE WHEN codeowners_files.content IS DISTINCT FROM EXCLUDED.content
                                         THEN NULL ELSE codeowners_files.unassignable_since END,
               path = EXCLUDED.path, etag = EXCLUDED.etag, content = EXCLUDED.content,
               checked_at = CASE WHEN $5 THEN now() ELSE codeowners_files.checked_at END"#,
        key,
        path,
        etag,
        content,
        rechecked
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Logins GitHub refused in this repository, left out of its next creates for a while.
async fn remember_refused(pool: &PgPool, repo: &RepoSlug, logins: &[String]) -> Result<(), sqlx::Error> {
    if logins.is_empty() {
        return Ok(());
    }
    let logins: Vec<String> = logins.iter().map(|l| l.to_ascii_lowercase()).collect();
    sqlx::query!(
        r#"UPDATE codeowners_files SET
               unassignable = ARRAY(SELECT DISTINCT unnest(
                   CASE WHEN unassignable_since > now() - make_interval(secs => $3) THEN unassignable
                        ELSE '{}' END || $2::text[])),
               unassignable_since = CASE WHEN unassignable_since > now() - make_interval(secs => $3)
                                         THEN unassignable_since ELSE now() END
           WHERE repository = $1"#,
        repo.to_string().to_ascii_lowercase(),
        &logins,
        REFUSALS_KEPT.as_secs_f64()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One location, with `If-None-Match` when its ETag is known.
async fn read_file(
    github: &GitHub,
    repo: &RepoSlug,
    path: &str,
    etag: Option<&str>,
) -> Result<Read, GitHubError> {
    let client = github.client_for(repo).await?;
    let mut headers = HeaderMap::new();
    if let Some(value) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(IF_NONE_MATCH, value);
    }
    let url = format!("/repos/{}/{}/contents/{path}", repo.owner(), repo.repo());
    let answer = send_raw(&client, Method::Get, &url, None, Some(headers)).await?;
    match answer.status {
        StatusCode::NOT_MODIFIED if etag.is_some() => return Ok(Read::NotModified),
        StatusCode::NOT_FOUND => return Ok(Read::Missing),
        _ => {}
    }
    let etag = answer
        .headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let file: serde_json::Value = answer.parse()?;
    // A directory of that name is a listing, not a file: as if there were none.
    if file["type"].as_str() != Some("file") {
        return Ok(Read::Missing);
    }
    let unreadable = |why: &str| GitHubError::Transient {
        detail: format!("{path}: {why}"),
    };
    if file["encoding"].as_str() != Some("base64") {
        return Err(unreadable("GitHub sent no content (a file over 1 MB)"));
    }
    // GitHub wraps the base64 text in lines.
    let encoded: String = file["content"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| unreadable(&format!("content is not base64: {e}")))?;
    // Postgres text holds no NUL; patterns and logins never contain one.
    let content = String::from_utf8_lossy(&bytes).replace('\0', "");
    Ok(Read::Found { content, etag })
}
