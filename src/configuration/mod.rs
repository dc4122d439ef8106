//! Typed settings read from the environment (and `.env`, loaded by `main`).
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

mod deepsource;
mod github;
mod issues;
mod operations;
mod server;
mod sync;
mod webhook;

use deepsource::deepsource_settings;
pub use deepsource::DeepSourceSettings;
use github::github_settings;
pub use github::{GitHubAuth, GitHubSettings};
use issues::issue_settings;
pub use issues::{IssueSettings, TitleField, TitlePart, TitleTemplate, DEFAULT_TITLE_TEMPLATE};
use operations::operations_settings;
pub use operations::OperationsSettings;
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
}

impl DatabaseSettings {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
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
    pub(crate) fn new(var: &'static str, reason: impl Into<String>) -> Self {
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

        let github = github_settings(&get)?;
        let deepsource = deepsource_settings(&get)?;
        let issues = issue_settings(&get)?;
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
            database: DatabaseSettings {
                url: SecretString::from(url),
                max_connections,
                acquire_timeout,
            },
            webhook,
            bind_addr,
            trusted_proxies,
            log_format,
            log_filter,
        })
    }
}

pub(crate) fn parse_or<T>(
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

/// An http(s) URL with a host, parsed as the HTTP clients will parse it, so one they would
/// refuse stops start-up naming its variable; `example` shows what is expected.
pub(crate) fn http_url(var: &'static str, url: &str, example: &str) -> Result<(), ConfigError> {
    let usable = url.trim().parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
    });
    match usable {
        true => Ok(()),
        false => Err(ConfigError::new(
            var,
            format!("expected an http(s):// URL with a host, e.g. {example}"),
        )),
    }
}

/// A duration such as `10s`, `500ms`, `2m` or `6h`; a bare number is seconds.
pub(crate) fn duration_or(
    var: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let value = value.trim();
    let parsed = match value.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(value).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(ConfigError::new(var, "expected a positive duration, e.g. 10s")),
        Err(e) => Err(ConfigError::new(
            var,
            format!("expected a duration such as 10s or 500ms ({e})"),
        )),
    }
}

pub(crate) fn positive_millis(v: &str) -> Result<Duration, &'static str> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_millis)
        .ok_or("expected a positive number of milliseconds")
}

pub(crate) fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn parse_bool(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
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
        assert_eq!(s.webhook.ingest_timeout, Duration::from_millis(5000));
        assert_eq!(s.webhook.body_read_timeout, Duration::from_secs(10));
        assert_eq!(s.webhook.max_inflight_body_bytes, 64 * 1_048_576);
        assert!(!s.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
        assert_eq!(s.log_filter, "info");
        assert_eq!(s.database.acquire_timeout, Duration::from_millis(2000));
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
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "0"),
            ("INGEST_TIMEOUT_MS", "5s"),
            ("GITHUB_API_URL", "api.github.com"),
            ("GITHUB_REPO", "just-a-name"),
            ("GITHUB_APP_ID", "not-a-number"),
            ("GITHUB_WRITES_PER_MINUTE", "0"),
            ("GITHUB_MIN_WRITE_INTERVAL_MS", "soon"),
            ("REOPEN_POLICY", "sometimes"),
            ("SYNC_LEASE_SECS", "1"),
            ("DATABASE_URL", "postgres://u:pw@db:99999/x"),
            ("GITHUB_API_URL", "http://exa mple"),
            ("GITHUB_API_URL", "https://"),
            ("RUST_LOG", "wran"),
            ("BODY_READ_TIMEOUT", "soon"),
            ("BODY_READ_TIMEOUT", "0s"),
            ("MAX_INFLIGHT_BODY_BYTES", "1000"),
            ("TRUSTED_PROXIES", "the-proxy"),
            ("DEEPSOURCE_API_URL", "api.deepsource.io/graphql/"),
            ("DEEPSOURCE_REQUESTS_PER_HOUR", "6000"),
            ("DEEPSOURCE_APP_URL", "app.deepsource.com"),
        ] {
            let err = settings(&[secret, (var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
            assert!(err.to_string().starts_with(&format!("invalid {var}: ")));
        }
    }

    #[test]
    fn durations_take_units_or_seconds() {
        let secret = ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef");
        for (value, expected) in [
            ("500ms", 500),
            ("2m", 120_000),
            ("15", 15_000),
            ("1s 500ms", 1500),
        ] {
            let s = settings(&[secret, ("BODY_READ_TIMEOUT", value)]).unwrap();
            assert_eq!(
                s.webhook.body_read_timeout,
                Duration::from_millis(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn a_bad_database_url_is_named_without_its_password() {
        let err = settings(&[("DATABASE_URL", "postgres://u:hunter2@db:99999/x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            ("DEEPSOURCE_WEBHOOK_SECRETS", "0123456789abcdef-topsecret"),
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("GITHUB_TOKEN", "ghp_supersecret"),
            ("DEEPSOURCE_API_TOKEN", "dsp_supersecret"),
            ("METRICS_TOKEN", "scrape-supersecret"),
            ("ADMIN_TOKEN", "admin-supersecret"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("topsecret"));
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("supersecret"));
    }
}
