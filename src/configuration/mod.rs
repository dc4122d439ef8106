//! Typed settings read from the environment (and `.env`, loaded by `main`).
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

mod deepsource;
mod github;
mod issues;
mod operations;
mod overview;
mod parse;
mod server;
mod sync;
mod webhook;

use deepsource::deepsource_settings;
pub use deepsource::DeepSourceSettings;
use github::github_settings;
pub use github::{GitHubAuth, GitHubSettings};
use issues::issue_settings;
pub use issues::{
    severity_rank, FindingIssues, IssueSettings, TitleField, TitlePart, TitleTemplate,
    DEFAULT_TITLE_TEMPLATE, SEVERITIES,
};
use operations::operations_settings;
pub use operations::OperationsSettings;
use overview::overview_settings;
pub use overview::{OverviewSettings, DEFAULT_OVERVIEW_TITLE};
pub use parse::ConfigError;
use parse::{parse_or, positive_millis};
pub use server::{BindAddr, TrustedProxies};
use sync::sync_settings;
pub use sync::{ReopenPolicy, SyncSettings};
use webhook::webhook_settings;
pub use webhook::WebhookSettings;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/deepsource_sync";

#[derive(Clone, Debug)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub webhook: WebhookSettings,
    pub bind_addr: BindAddr,
    /// Peers whose forwarding headers name the client in logs; any other peer is the client.
    pub trusted_proxies: TrustedProxies,
    pub log_format: LogFormat,
    /// `RUST_LOG`, checked at start-up.
    pub log_filter: String,
    pub github: GitHubSettings,
    pub sync: SyncSettings,
    /// What every issue shows besides its finding, and who it is assigned to.
    pub issues: IssueSettings,
    /// The overview issue per repository.
    pub overview: OverviewSettings,
    pub deepsource: DeepSourceSettings,
    /// `METRICS_TOKEN`: when set, `GET /metrics` wants it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// The admin token and retention.
    pub operations: OperationsSettings,
}

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// May carry a password, hence secret: `Debug` prints it redacted.
    pub url: SecretString,
    pub max_connections: u32,
    /// Longest wait for a pooled connection before a request is answered 503.
    pub acquire_timeout: Duration,
    /// `DATABASE_LISTEN_URL`: a direct connection for `LISTEN` (a transaction-mode pooler in
    /// front of `url` cannot carry it); `url` when not set.
    pub listen_url: SecretString,
}

impl DatabaseSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    pub fn listen_url(&self) -> &str {
        self.listen_url.expose_secret()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let webhook = webhook_settings(&get)?;
        let bind_addr = BindAddr::parse(get("BIND_ADDR").as_deref().unwrap_or("0.0.0.0:8080").trim())
            .map_err(|e| ConfigError::new("BIND_ADDR", e))?;
        let trusted_proxies = TrustedProxies::parse(&get("TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|e| ConfigError::new("TRUSTED_PROXIES", e))?;
        let log_filter = server::log_filter(get("RUST_LOG"))?;
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
        let acquire_timeout = parse_or(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            get("DATABASE_ACQUIRE_TIMEOUT_MS"),
            Duration::from_millis(2000),
            positive_millis,
        )?;
        let url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::new("DATABASE_URL", "expected a postgres:// URL"));
        }
        // Parsed now so a bad port or option stops start-up naming the variable. The message
        // names the part at fault, never the URL (it may hold a password).
        sqlx::postgres::PgConnectOptions::from_str(&url)
            .map_err(|e| ConfigError::new("DATABASE_URL", e.to_string()))?;
        let listen_url = match get("DATABASE_LISTEN_URL") {
            None => url.clone(),
            Some(listen) => {
                let listen = listen.trim().to_owned();
                if !(listen.starts_with("postgres://") || listen.starts_with("postgresql://")) {
                    return Err(ConfigError::new(
                        "DATABASE_LISTEN_URL",
                        "expected a postgres:// URL",
                    ));
                }
                sqlx::postgres::PgConnectOptions::from_str(&listen)
                    .map_err(|e| ConfigError::new("DATABASE_LISTEN_URL", e.to_string()))?;
                listen
            }
        };

        let github = github_settings(&get)?;
        let deepsource = deepsource_settings(&get)?;
        let issues = issue_settings(&get)?;
        let overview = overview_settings(&get, &issues.finding_issues)?;
        let sync = sync_settings(&get)?;

        let metrics_token = get("METRICS_TOKEN").map(|t| SecretString::from(t.trim().to_owned()));

        let operations = operations_settings(&get)?;

        Ok(Settings {
            metrics_token,
            operations,
            github,
            deepsource,
            sync,
            issues,
            overview,
            database: DatabaseSettings {
                url: SecretString::from(url),
                max_connections,
                acquire_timeout,
                listen_url: SecretString::from(listen_url),
            },
            webhook,
            bind_addr,
            trusted_proxies,
            log_format,
            log_filter,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
