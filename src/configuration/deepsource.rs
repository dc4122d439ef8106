//! DeepSource's GraphQL API: where, with which token, and how many requests an hour.
use std::time::Duration;

use secrecy::SecretString;

use super::parse::{duration_or, parse_or, ConfigError};
use crate::domain::RepositoryRef;

#[derive(Clone, Debug)]
pub struct DeepSourceSettings {
    /// A personal access token; without it the service works from events alone.
    pub token: Option<SecretString>,
    pub api_url: String,
    /// The service's share of the token's 5,000 requests an hour, shared by every replica.
    pub requests_per_hour: u32,
    /// Compared before any event arrives, and on every timer.
    pub repositories: Vec<RepositoryRef>,
    /// Every known repository is compared this often; `None` (`0`) is never on a timer.
    pub reconcile_interval: Option<Duration>,
    /// A repository is compared this long after its last event.
    pub reconcile_delay: Duration,
}

/// The dashboard's base URL, without a trailing slash.
pub(super) fn app_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| "https://app.deepsource.com".to_owned());
    let url = url.trim().trim_end_matches('/');
    super::parse::http_url("DEEPSOURCE_APP_URL", url, "https://app.deepsource.com")?;
    Ok(url.to_owned())
}

pub(super) fn deepsource_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<DeepSourceSettings, ConfigError> {
    let api_url =
        get("DEEPSOURCE_API_URL").unwrap_or_else(|| "https://api.deepsource.io/graphql/".to_owned());
    super::parse::http_url(
        "DEEPSOURCE_API_URL",
        &api_url,
        "https://api.deepsource.io/graphql/",
    )?;
    let requests_per_hour = parse_or(
        "DEEPSOURCE_REQUESTS_PER_HOUR",
        get("DEEPSOURCE_REQUESTS_PER_HOUR"),
        4000,
        |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=5000).contains(n))
                .ok_or("expected a whole number from 1 to 5000 (DeepSource allows 5,000 an hour)")
        },
    )?;
    let repositories = super::parse::list(get("DEEPSOURCE_REPOSITORIES"))
        .iter()
        .map(|item| RepositoryRef::parse(item, "GITHUB"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new("DEEPSOURCE_REPOSITORIES", e))?;
    let reconcile_interval = match get("RECONCILE_INTERVAL").as_deref().map(str::trim) {
        Some("0") => None,
        other => Some(duration_or(
            "RECONCILE_INTERVAL",
            other.map(str::to_owned),
            Duration::from_secs(6 * 3600),
        )?),
    };
    let reconcile_delay = match get("RECONCILE_DELAY").as_deref().map(str::trim) {
        Some("0") => Duration::ZERO,
        other => duration_or(
            "RECONCILE_DELAY",
            other.map(str::to_owned),
            Duration::from_secs(120),
        )?,
    };
    Ok(DeepSourceSettings {
        token: get("DEEPSOURCE_API_TOKEN").map(|t| SecretString::from(t.trim().to_owned())),
        api_url: api_url.trim().to_owned(),
        requests_per_hour,
        repositories,
        reconcile_interval,
        reconcile_delay,
    })
}
