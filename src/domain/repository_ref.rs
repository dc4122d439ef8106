//! A repository as DeepSource names it: provider, account login and name. Events name it by
//! `vcsProvider` and `vcsUrl`, DeepSource's API and operators by login and name.
/// A repository as DeepSource's API names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepositoryRef {
    /// `GITHUB`, `GITHUB_ENTERPRISE`, `GITLAB`, …
    pub provider: String,
    pub login: String,
    pub name: String,
}

impl RepositoryRef {
    /// `login/name`, or `PROVIDER:login/name` (as `DEEPSOURCE_REPOSITORIES` and `backfill
    /// --repository` take it); `provider` when none is given.
    pub fn parse(spec: &str, provider: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (provider, path) = spec.split_once(':').unwrap_or((provider, spec));
        match path.split_once('/') {
            Some((login, name))
                if !provider.is_empty() && !login.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Self {
                    provider: provider.to_ascii_uppercase(),
                    login: login.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!("{spec:?}: expected login/name or PROVIDER:login/name")),
        }
    }

    /// The repository an event's `vcsProvider` and `vcsUrl` name (`https://host/login/name`).
    pub fn from_vcs(provider: &str, vcs_url: &str) -> Option<Self> {
        let path = vcs_url.split_once("://")?.1.split_once('/')?.1;
        let mut parts = path.split(['/', '?', '#']).filter(|p| !p.is_empty());
        let (login, name) = (parts.next()?, parts.next()?.trim_end_matches(".git"));
        (!provider.is_empty() && !name.is_empty()).then(|| Self {
            provider: provider.to_owned(),
            login: login.to_owned(),
            name: name.to_owned(),
        })
    }

    /// A finding's occurrences in DeepSource's dashboard at `app` (`https://app.deepsource.com`),
    /// for the providers whose dashboard prefix is known.
    pub fn dashboard_url(&self, app: &str, shortcode: &str) -> Option<String> {
        let repository = self.repository_url(app)?;
        (!shortcode.is_empty()).then(|| format!("{repository}/issue/{}/occurrences", part(shortcode)))
    }

    /// The repository in DeepSource's dashboard at `app`, for the providers whose dashboard
    /// prefix is known.
    pub fn repository_url(&self, app: &str) -> Option<String> {
        let prefix = match self.provider.as_str() {
            "GITHUB" => "gh",
            "GITLAB" => "gl",
            "BITBUCKET" => "bb",
            _ => return None,
        };
        Some(format!(
            "{app}/{prefix}/{}/{}",
            part(&self.login),
            part(&self.name)
        ))
    }

    /// How findings are filed by repository: `provider:login/name`, in lower case (GitHub's
    /// names are not case-sensitive, and events and the API need not agree on case).
    pub fn key(&self) -> String {
        format!("{}:{}/{}", self.provider, self.login, self.name).to_lowercase()
    }
}

/// One part of a dashboard path: unreserved characters stay as they are (RFC 3986); anything
/// else is escaped.
fn part(s: &str) -> String {
    const PART: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, PART).to_string()
}

impl std::fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.provider, self.login, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_is_named_login_slash_name_with_an_optional_provider() {
        let plain = RepositoryRef::parse("acme/api", "GITHUB").unwrap();
        assert_eq!(plain.key(), "github:acme/api");
        let gitlab = RepositoryRef::parse(" gitlab:acme/web ", "GITHUB").unwrap();
        assert_eq!(
            (
                gitlab.provider.as_str(),
                gitlab.login.as_str(),
                gitlab.name.as_str()
            ),
            ("GITLAB", "acme", "web")
        );
        assert_eq!(
            RepositoryRef::parse("acme/api", "gitlab").unwrap().provider,
            "GITLAB"
        );
        for bad in ["acme", "acme/", "/api", "acme/api/x", ":acme/api"] {
            assert!(RepositoryRef::parse(bad, "GITHUB").is_err(), "{bad}");
        }
    }

    #[test]
    fn events_and_the_api_name_a_repository_alike() {
        let from_event =
            RepositoryRef::from_vcs("GITHUB", "https://github.com/DeepSourceLabs/Demo-Go.git").unwrap();
        assert_eq!(from_event.key(), "github:deepsourcelabs/demo-go");
        let from_api = RepositoryRef {
            provider: "GITHUB".into(),
            login: "deepsourcelabs".into(),
            name: "demo-go".into(),
        };
        assert_eq!(from_api.key(), from_event.key());
        assert!(RepositoryRef::from_vcs("GITHUB", "https://github.com/only-owner").is_none());
        assert!(RepositoryRef::from_vcs("", "https://github.com/a/b").is_none());
        assert!(RepositoryRef::from_vcs("GITHUB", "").is_none());
        assert_eq!(
            from_api
                .dashboard_url("https://app.deepsource.com", "GO-W1001")
                .unwrap(),
            "https://app.deepsource.com/gh/deepsourcelabs/demo-go/issue/GO-W1001/occurrences"
        );
        assert!(RepositoryRef {
            provider: "ADS".into(),
            ..from_api
        }
        .dashboard_url("https://x", "A")
        .is_none());
    }
}
