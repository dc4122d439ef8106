//! Where a finding's issue lives, or why it is not synced: the filters, `GITHUB_REPO`, and the
//! finding's own repository when it is on GitHub.
use crate::configuration::{GitHubSettings, SyncSettings};
use crate::domain::RepoSlug;
use crate::findings::store::Finding;
use crate::github::home::home_repo;

/// Where this finding's issue lives, or why it is not synced.
pub fn target(finding: &Finding, github: &GitHubSettings, sync: &SyncSettings) -> Result<RepoSlug, String> {
    if let Some(repo) = &finding.github_repo {
        return RepoSlug::parse(repo);
    }
    let severity = finding.severity.as_deref();
    if let Some(reason) = sync.filtered_out(&finding.category, &finding.analyzer_shortcode, severity) {
        return Err(reason);
    }
    home_repo(&finding.vcs_provider, &finding.vcs_url, github)
}
