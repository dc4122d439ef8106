//! DeepSource's GraphQL API: where, with which token, and how many requests an hour.
use secrecy::SecretString;

use super::{parse_or, ConfigError};

#[derive(Clone, Debug)]
pub struct DeepSourceSettings {
    /// A personal access token; without it the service works from events alone.
    pub token: Option<SecretString>,
    pub api_url: String,
    /// The service's share of the token's 5,000 requests an hour, shared by every replica.
    pub requests_per_hour: u32,
}

pub(super) fn deepsource_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<DeepSourceSettings, ConfigError> {
    let api_url =
        get("DEEPSOURCE_API_URL").unwrap_or_else(|| "https://api.deepsource.io/graphql/".to_owned());
    let uri = api_url.trim().parse::<http::Uri>();
    let usable = uri.as_ref().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
    });
    if !usable {
        return Err(ConfigError::new(
            "DEEPSOURCE_API_URL",
            "expected an http(s):// URL with a host, e.g. https://api.deepsource.io/graphql/",
        ));
    }
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
    Ok(DeepSourceSettings {
        token: get("DEEPSOURCE_API_TOKEN").map(|t| SecretString::from(t.trim().to_owned())),
        api_url: api_url.trim().to_owned(),
        requests_per_hour,
    })
}
