//! Typed settings read from the environment (and `.env`, loaded by `main`).
use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::{RepoSlug, WebhookSecret};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/deepsource_sync";

#[derive(Clone, Debug)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub webhook: WebhookSettings,
    pub bind_addr: SocketAddr,
    pub log_format: LogFormat,
    pub github: GitHubSettings,
    pub sync: SyncSettings,
}

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

#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Upper-case DeepSource categories to sync; empty means all.
    pub categories: Vec<String>,
    /// Analyzer shortcodes to sync; empty means all.
    pub analyzers: Vec<String>,
    pub reopen_policy: ReopenPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReopenPolicy {
    /// Reopen the closed issue (and comment).
    Reopen,
    /// Open a fresh issue that links the old one.
    New,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// May carry a password, hence secret: `Debug` prints it redacted.
    pub url: SecretString,
    pub max_connections: u32,
}

impl DatabaseSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub secrets: Vec<WebhookSecret>,
    pub allow_unsigned: bool,
    pub max_body_bytes: usize,
}

impl WebhookSettings {
    /// Serving without a secret is an explicit choice; `migrate` needs no secret at all.
    pub fn check_signing(&self) -> Result<(), ConfigError> {
        if self.secrets.is_empty() && !self.allow_unsigned {
            return Err(ConfigError::new(
                "DEEPSOURCE_WEBHOOK_SECRETS",
                "no secret set; set one (or ALLOW_UNSIGNED_WEBHOOKS=true to accept unsigned events)",
            ));
        }
        Ok(())
    }

    pub fn secrets_enabled(&self) -> bool {
        !self.secrets.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A setting that could not be used: names the variable so start-up fails with one clear line.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let secrets = match get("DEEPSOURCE_WEBHOOK_SECRETS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(WebhookSecret::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::new("DEEPSOURCE_WEBHOOK_SECRETS", e))?,
        };
        let allow_unsigned = parse_or(
            "ALLOW_UNSIGNED_WEBHOOKS",
            get("ALLOW_UNSIGNED_WEBHOOKS"),
            false,
            parse_bool,
        )?;

        let max_body_bytes = parse_or("MAX_BODY_BYTES", get("MAX_BODY_BYTES"), 1_048_576, |v| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or("expected a positive number of bytes")
        })?;
        let bind_addr = parse_or(
            "BIND_ADDR",
            get("BIND_ADDR"),
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            |v| v.parse().map_err(|_| "expected host:port, e.g. 0.0.0.0:8080"),
        )?;
        let log_format = parse_or("LOG_FORMAT", get("LOG_FORMAT"), LogFormat::Pretty, |v| {
            match v.to_ascii_lowercase().as_str() {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected pretty or json"),
            }
        })?;
        let max_connections = parse_or(
            "DATABASE_MAX_CONNECTIONS",
            get("DATABASE_MAX_CONNECTIONS"),
            10,
            |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 2)
                    .ok_or("expected a whole number of at least 2")
            },
        )?;
        let url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::new("DATABASE_URL", "expected a postgres:// URL"));
        }

        let github = github_settings(&get)?;
        let sync =
            SyncSettings {
                categories: list(get("SYNC_CATEGORIES"))
                    .into_iter()
                    .map(|c| c.to_ascii_uppercase())
                    .collect(),
                analyzers: list(get("SYNC_ANALYZERS")),
                reopen_policy: parse_or("REOPEN_POLICY", get("REOPEN_POLICY"), ReopenPolicy::Reopen, |v| {
                    match v.to_ascii_lowercase().as_str() {
                        "reopen" => Ok(ReopenPolicy::Reopen),
                        "new" => Ok(ReopenPolicy::New),
                        _ => Err("expected reopen or new"),
                    }
                })?,
            };

        Ok(Settings {
            github,
            sync,
            database: DatabaseSettings {
                url: SecretString::from(url),
                max_connections,
            },
            webhook: WebhookSettings {
                secrets,
                allow_unsigned,
                max_body_bytes,
            },
            bind_addr,
            log_format,
        })
    }
}

fn parse_or<T>(
    var: &'static str,
    value: Option<String>,
    default: T,
    parse: impl Fn(&str) -> Result<T, &'static str>,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse(v.trim()).map_err(|reason| ConfigError::new(var, reason)),
    }
}

fn github_settings(get: &impl Fn(&str) -> Option<String>) -> Result<GitHubSettings, ConfigError> {
    let api_url_configured = get("GITHUB_API_URL").is_some();
    let api_url = get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned());
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(ConfigError::new("GITHUB_API_URL", "expected an http(s):// URL"));
    }
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
            if !private_key.contains("PRIVATE KEY") {
                return Err(ConfigError::new(
                    "GITHUB_APP_PRIVATE_KEY",
                    "expected a PEM private key",
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
    })
}

fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn parse_bool(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_only_a_secret_is_set() {
        let s = settings(&[("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef")]).unwrap();
        assert_eq!(s.database.url(), DEFAULT_DATABASE_URL);
        assert_eq!(s.bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.webhook.max_body_bytes, 1_048_576);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert!(!s.webhook.allow_unsigned);
        assert_eq!(s.webhook.secrets.len(), 1);
    }

    #[test]
    fn several_secrets_are_split_on_commas() {
        let s = settings(&[(
            "DEEPSOURCE_WEBHOOK_SECRETS",
            "0123456789abcdef, fedcba9876543210fedcba",
        )])
        .unwrap();
        assert_eq!(s.webhook.secrets.len(), 2);
    }

    #[test]
    fn no_secret_and_no_opt_out_refuses_to_serve() {
        let err = settings(&[]).unwrap().webhook.check_signing().unwrap_err();
        assert_eq!(err.var, "DEEPSOURCE_WEBHOOK_SECRETS");
        let opted_out = settings(&[("ALLOW_UNSIGNED_WEBHOOKS", "true")]).unwrap();
        assert!(opted_out.webhook.check_signing().is_ok());
    }

    #[test]
    fn a_short_secret_is_refused() {
        let err = settings(&[("DEEPSOURCE_WEBHOOK_SECRETS", "short")]).unwrap_err();
        assert_eq!(err.var, "DEEPSOURCE_WEBHOOK_SECRETS");
    }

    #[test]
    fn wrong_values_name_their_variable() {
        let secret = ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef");
        for (var, value) in [
            ("MAX_BODY_BYTES", "lots"),
            ("MAX_BODY_BYTES", "0"),
            ("BIND_ADDR", "localhost"),
            ("LOG_FORMAT", "xml"),
            ("ALLOW_UNSIGNED_WEBHOOKS", "maybe"),
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_MAX_CONNECTIONS", "1"),
            ("GITHUB_API_URL", "api.github.com"),
            ("GITHUB_REPO", "just-a-name"),
            ("GITHUB_APP_ID", "not-a-number"),
            ("GITHUB_WRITES_PER_MINUTE", "0"),
            ("GITHUB_MIN_WRITE_INTERVAL_MS", "soon"),
            ("REOPEN_POLICY", "sometimes"),
        ] {
            let err = settings(&[secret, (var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(err.to_string().starts_with(&format!("invalid {var}: ")));
        }
    }

    #[test]
    fn github_defaults_to_a_dry_run_against_github_com() {
        let s = settings(&[]).unwrap();
        assert!(matches!(s.github.auth, GitHubAuth::DryRun));
        assert_eq!(s.github.api_url, "https://api.github.com");
        assert!(!s.github.api_url_configured);
        assert_eq!(s.github.min_write_interval.as_millis(), 1000);
        assert_eq!((s.github.writes_per_minute, s.github.writes_per_hour), (80, 500));
        assert_eq!(s.sync.reopen_policy, ReopenPolicy::Reopen);
        assert!(s.sync.categories.is_empty() && s.sync.analyzers.is_empty());
    }

    #[test]
    fn github_settings_are_read() {
        let s = settings(&[
            ("GITHUB_TOKEN", "ghp_x"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
            ("GITHUB_REPO", "acme/findings"),
            ("SYNC_CATEGORIES", "security, bug_risk"),
            ("SYNC_ANALYZERS", "go,python"),
            ("REOPEN_POLICY", "new"),
        ])
        .unwrap();
        assert!(matches!(s.github.auth, GitHubAuth::Token(_)));
        assert_eq!(s.github.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(s.github.repo_override.unwrap().to_string(), "acme/findings");
        assert_eq!(s.sync.categories, ["SECURITY", "BUG_RISK"]);
        assert_eq!(s.sync.analyzers, ["go", "python"]);
        assert_eq!(s.sync.reopen_policy, ReopenPolicy::New);
    }

    #[test]
    fn an_app_needs_its_private_key() {
        let err = settings(&[("GITHUB_APP_ID", "12")]).unwrap_err();
        assert_eq!(err.var, "GITHUB_APP_PRIVATE_KEY");
        let pem = "-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----";
        let s = settings(&[("GITHUB_APP_ID", "12"), ("GITHUB_APP_PRIVATE_KEY", pem)]).unwrap();
        assert!(matches!(s.github.auth, GitHubAuth::App { app_id: 12, .. }));
        assert!(settings(&[("GITHUB_APP_ID", "12"), ("GITHUB_TOKEN", "t")]).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef-topsecret"),
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("GITHUB_TOKEN", "ghp_supersecret"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("topsecret"));
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("supersecret"));
    }
}
