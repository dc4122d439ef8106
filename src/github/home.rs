//! Which GitHub repository a DeepSource repository's issues go to: `GITHUB_REPO` when set, else
//! the repository itself when it is on GitHub (or on a GitHub Enterprise Server the service is
//! pointed at).
use crate::configuration::GitHubSettings;
use crate::domain::RepoSlug;

/// Where issues of the repository at `vcs_url` (on `vcs_provider`) go, or why they cannot.
pub fn home_repo(vcs_provider: &str, vcs_url: &str, github: &GitHubSettings) -> Result<RepoSlug, String> {
    if let Some(repo) = &github.repo_override {
        return Ok(repo.clone());
    }
    let from_url = || {
        match vcs_url {
        "" => Err("no event has given repository.vcsUrl yet, so the GitHub repository is unknown (GITHUB_REPO names one for every finding)".to_owned()),
        url => RepoSlug::from_vcs_url(url),
    }
    };
    match vcs_provider {
        "GITHUB" => from_url(),
        "GITHUB_ENTERPRISE" if github.api_url_configured => from_url(),
        "GITHUB_ENTERPRISE" => Err("GITHUB_ENTERPRISE repository, but GITHUB_API_URL is not set".into()),
        "" => Err("no event has given repository.vcsProvider yet (GITHUB_REPO names a repository for every finding)".into()),
        other => Err(format!(
            "{other} repositories are not on GitHub (set GITHUB_REPO to track them in one)"
        )),
    }
}
