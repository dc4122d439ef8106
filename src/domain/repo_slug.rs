use std::fmt;

/// A GitHub repository as `owner/repo`, checked against GitHub's naming rules so it can be put
/// into API paths without escaping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepoSlug {
    owner: String,
    repo: String,
}

impl RepoSlug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim().trim_end_matches(".git");
        let (owner, repo) = raw
            .split_once('/')
            .ok_or_else(|| format!("`{raw}` is not owner/repo"))?;
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 100
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !valid(owner) || !valid(repo) {
            return Err(format!("`{raw}` is not owner/repo"));
        }
        Ok(Self {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        })
    }

    /// `https://github.com/owner/repo` (or a GitHub Enterprise host): the path's first two parts.
    pub fn from_vcs_url(url: &str) -> Result<Self, String> {
        let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = without_scheme
            .split_once('/')
            .map(|(_, path)| path)
            .ok_or_else(|| format!("`{url}` has no owner/repo path"))?;
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        match (parts.next(), parts.next()) {
            (Some(owner), Some(repo)) => Self::parse(&format!("{owner}/{repo}")),
            _ => Err(format!("`{url}` has no owner/repo path")),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }
}

impl fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::RepoSlug;

    #[test]
    fn parses_owner_and_repo() {
        let slug = RepoSlug::parse("deepsourcelabs/demo-go").unwrap();
        assert_eq!((slug.owner(), slug.repo()), ("deepsourcelabs", "demo-go"));
        assert_eq!(slug.to_string(), "deepsourcelabs/demo-go");
    }

    #[test]
    fn takes_the_repository_from_a_vcs_url() {
        for url in [
            "https://github.com/deepsourcelabs/demo-go",
            "https://github.com/deepsourcelabs/demo-go/",
            "https://github.com/deepsourcelabs/demo-go.git",
            "https://ghe.example.com/deepsourcelabs/demo-go",
        ] {
            assert_eq!(
                RepoSlug::from_vcs_url(url).unwrap().to_string(),
                "deepsourcelabs/demo-go",
                "{url}"
            );
        }
        assert!(RepoSlug::from_vcs_url("https://github.com/deepsourcelabs").is_err());
    }

    #[test]
    fn refuses_what_would_break_an_api_path() {
        for bad in [
            "", "owner", "/repo", "owner/", "o/r/x", "o/..", "o w/r", "o/r?x=1", "o/r#x",
        ] {
            assert!(RepoSlug::parse(bad).is_err(), "{bad}");
        }
    }
}
