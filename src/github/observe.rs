//! What a sync tells operators besides its log lines: each GitHub call counted by what it does
//! and what the answer meant, and the repository and issue named in the sync's span.
use http::StatusCode;

use super::call::{Answer, Method};
use super::errors::{classify, GitHubError};
use crate::domain::RepoSlug;

/// Counts one call in `deepsource_sync_github_requests_total`.
pub fn count_call(method: Method, path: &str, answer: &Result<Answer, GitHubError>) {
    let outcome = match answer {
        Ok(a) if a.status.is_success() || a.status == StatusCode::NOT_MODIFIED => "ok",
        Ok(a) => match classify(a.status, &a.headers, &a.text) {
            GitHubError::RateLimited { .. } => "rate_limited",
            GitHubError::Transient { .. } => "transient",
            GitHubError::Permanent { .. } => "permanent",
            GitHubError::Unauthorized(_) => "unauthorized",
            GitHubError::Gone { .. } => "gone",
            GitHubError::Moved { .. } => "moved",
        },
        // No answer at all (a timeout, a dropped connection).
        Err(_) => "transient",
    };
    crate::metrics::github_request(operation(method, path), outcome);
}

/// What a call does, from a short fixed list (a label value: never an id or a name).
fn operation(method: Method, path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default().trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or_default();
    match method {
        _ if path.contains("/search/") => "search",
        _ if path.ends_with("/installation") => "installation",
        _ if path.contains("/contents/") => "codeowners",
        _ if path.ends_with("/labels") || path.contains("/labels/") => "labels",
        Method::Post if last == "comments" => "comment",
        Method::Post if last == "issues" => "create",
        Method::Patch => "update",
        Method::Get => "read",
        Method::Post | Method::Delete => "other",
    }
}

/// The sync's span (`Worker::run_once`) names the target repository, and the issue when there is
/// one, on every line from here on.
pub fn name_in_span(repo: RepoSlug, issue: Option<i64>) -> RepoSlug {
    let span = tracing::Span::current();
    span.record("repository", tracing::field::display(&repo));
    if let Some(number) = issue {
        span.record("github_issue", number);
    }
    repo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_is_named_by_what_it_does() {
        let issues = "/repos/o/r/issues";
        assert_eq!(operation(Method::Post, issues), "create");
        assert_eq!(
            operation(Method::Get, "/repos/o/r/issues?state=all&per_page=100"),
            "read"
        );
        assert_eq!(operation(Method::Patch, "/repos/o/r/issues/7"), "update");
        assert_eq!(operation(Method::Get, "/repos/o/r/issues/7"), "read");
        assert_eq!(operation(Method::Post, "/repos/o/r/issues/7/comments"), "comment");
        assert_eq!(
            operation(Method::Get, "/repos/o/r/issues/7/comments?since=x"),
            "read"
        );
        assert_eq!(operation(Method::Post, "/repos/o/r/issues/7/labels"), "labels");
        assert_eq!(
            operation(Method::Delete, "/repos/o/r/issues/7/labels/a%20b"),
            "labels"
        );
        assert_eq!(operation(Method::Get, "/search/issues?q=x"), "search");
        assert_eq!(operation(Method::Get, "/repos/o/r/installation"), "installation");
        assert_eq!(
            operation(Method::Get, "/repos/o/r/contents/.github/CODEOWNERS"),
            "codeowners"
        );
    }
}
