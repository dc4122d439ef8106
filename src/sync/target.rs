//! Where a finding's issue lives, or why it is not synced: the filters, `GITHUB_REPO`, and the
//! finding's own repository when it is on GitHub.
use crate::configuration::{GitHubSettings, SyncSettings};
use crate::domain::RepoSlug;
use crate::findings::store::Finding;

/// Where this finding's issue lives, or why it is not synced.
pub fn target(finding: &Finding, github: &GitHubSettings, sync: &SyncSettings) -> Result<RepoSlug, String> {
    if let Some(repo) = &finding.github_repo {
        return RepoSlug::parse(repo);
    }
    if !sync.categories.is_empty() && !sync.categories.contains(&finding.category.to_ascii_uppercase()) {
        return Err(format!("category {} is not in SYNC_CATEGORIES", finding.category));
    }
    if !sync.analyzers.is_empty() && !sync.analyzers.contains(&finding.analyzer_shortcode) {
        return Err(format!(
            "analyzer {} is not in SYNC_ANALYZERS",
            finding.analyzer_shortcode
        ));
    }
    if let Some(severity) = finding.severity.as_deref() {
        if !sync.severities.is_empty() && !sync.severities.contains(&severity.to_ascii_uppercase()) {
            return Err(format!("severity {severity} is not in SYNC_SEVERITIES"));
        }
    }
    if let Some(repo) = &github.repo_override {
        return Ok(repo.clone());
    }
    let from_url = || {
        match finding.vcs_url.as_str() {
        "" => Err("no event has given repository.vcsUrl yet, so the GitHub repository is unknown (GITHUB_REPO names one for every finding)".to_owned()),
        url => RepoSlug::from_vcs_url(url),
    }
    };
    match finding.vcs_provider.as_str() {
        "GITHUB" => from_url(),
        "GITHUB_ENTERPRISE" if github.api_url_configured => from_url(),
        "GITHUB_ENTERPRISE" => Err("GITHUB_ENTERPRISE repository, but GITHUB_API_URL is not set".into()),
        "" => Err("no event has given repository.vcsProvider yet (GITHUB_REPO names a repository for every finding)".into()),
        other => Err(format!(
            "{other} repositories are not on GitHub (set GITHUB_REPO to track them in one)"
        )),
    }
}
