//! GitHub settings for the sync worker: where, as whom, and how fast.
use secrecy::SecretString;

use super::parse::{parse_or, ConfigError};
use crate::domain::{RepoSlug, WebhookSecret};

#[derive(Clone, Debug)]
pub struct GitHubSettings {
    /// `https://api.github.com`, `https://HOST/api/v3` for GitHub Enterprise Server, or a test fake.
    pub api_url: String,
    /// Whether `GITHUB_API_URL` was set: GitHub Enterprise repositories are only synced then.
    pub api_url_configured: bool,
    pub auth: GitHubAuth,
    /// Send every finding to this repository instead of the one it was found in.
    pub repo_override: Option<RepoSlug>,
    pub min_write_interval: std::time::Duration,
    pub writes_per_minute: u32,
    pub writes_per_hour: u32,
    /// `GITHUB_WEBHOOK_SECRET`: GitHub's `issues` webhooks tell the service what people do to
    /// its issues. Without it, the worker reads an issue before any write that could undo a
    /// person's decision.
    pub webhook_secret: Option<WebhookSecret>,
}

impl GitHubSettings {
    pub fn learns_from_webhooks(&self) -> bool {
        self.webhook_secret.is_some()
    }

    /// Where people read an issue: `https://github.com/owner/repo/issues/12`, or on the GitHub
    /// Enterprise host whose API is `GITHUB_API_URL` (`https://HOST/api/v3`).
    pub fn issue_url(&self, repo: &str, number: i64) -> String {
        let api = self.api_url.trim_end_matches('/');
        let web = match api {
            "https://api.github.com" => "https://github.com",
            other => other.strip_suffix("/api/v3").unwrap_or(other),
        };
        format!("{web}/{repo}/issues/{number}")
    }
}

#[derive(Clone, Debug)]
pub enum GitHubAuth {
    /// No credentials: the worker only logs and records what it would do.
    DryRun,
    Token(SecretString),
    App {
        app_id: u64,
        private_key: SecretString,
    },
}

pub(super) fn github_settings(get: &impl Fn(&str) -> Option<String>) -> Result<GitHubSettings, ConfigError> {
    let api_url_configured = get("GITHUB_API_URL").is_some();
    let api_url = get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned());
    super::parse::http_url("GITHUB_API_URL", &api_url, "https://ghe.example.com/api/v3")?;
    let auth = match (get("GITHUB_TOKEN"), get("GITHUB_APP_ID")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "GITHUB_TOKEN",
                "set either GITHUB_TOKEN or GITHUB_APP_ID, not both",
            ))
        }
        (Some(token), None) => GitHubAuth::Token(SecretString::from(token.trim().to_owned())),
        (None, Some(app_id)) => {
            let app_id = app_id
                .trim()
                .parse()
                .map_err(|_| ConfigError::new("GITHUB_APP_ID", "expected the app's numeric id"))?;
            let private_key = match (get("GITHUB_APP_PRIVATE_KEY"), get("GITHUB_APP_PRIVATE_KEY_PATH")) {
                (Some(pem), _) => pem.replace("\\n", "\n"),
                (None, Some(path)) => std::fs::read_to_string(path.trim())
                    .map_err(|e| ConfigError::new("GITHUB_APP_PRIVATE_KEY_PATH", e.to_string()))?,
                (None, None) => {
                    return Err(ConfigError::new(
                        "GITHUB_APP_PRIVATE_KEY",
                        "GITHUB_APP_ID needs GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH",
                    ))
                }
            };
            // Parsed here, not at the first GitHub call, so a bad key stops start-up naming its variable.
            let var = if get("GITHUB_APP_PRIVATE_KEY").is_some() {
                "GITHUB_APP_PRIVATE_KEY"
            } else {
                "GITHUB_APP_PRIVATE_KEY_PATH"
            };
            if let Err(e) = octocrab::EncodingKey::from_rsa_pem(private_key.as_bytes()) {
                return Err(ConfigError::new(
                    var,
                    format!("expected an RSA private key in PEM form ({e})"),
                ));
            }
            GitHubAuth::App {
                app_id,
                private_key: SecretString::from(private_key),
            }
        }
        (None, None) => GitHubAuth::DryRun,
    };
    let repo_override = get("GITHUB_REPO")
        .map(|v| RepoSlug::parse(&v))
        .transpose()
        .map_err(|e| ConfigError::new("GITHUB_REPO", e))?;
    let webhook_secret = get("GITHUB_WEBHOOK_SECRET")
        .map(|v| WebhookSecret::parse(v.trim()))
        .transpose()
        .map_err(|e| ConfigError::new("GITHUB_WEBHOOK_SECRET", e))?;
    let positive = |v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("expected a positive whole number")
    };
    Ok(GitHubSettings {
        api_url: api_url.trim_end_matches('/').to_owned(),
        api_url_configured,
        auth,
        repo_override,
        min_write_interval: std::time::Duration::from_millis(parse_or(
            "GITHUB_MIN_WRITE_INTERVAL_MS",
            get("GITHUB_MIN_WRITE_INTERVAL_MS"),
            1000,
            |v| v.parse::<u64>().map_err(|_| "expected milliseconds"),
        )?),
        writes_per_minute: parse_or(
            "GITHUB_WRITES_PER_MINUTE",
            get("GITHUB_WRITES_PER_MINUTE"),
            80,
            positive,
        )?,
        writes_per_hour: parse_or(
            "GITHUB_WRITES_PER_HOUR",
            get("GITHUB_WRITES_PER_HOUR"),
            500,
            positive,
        )?,
        webhook_secret,
    })
}
