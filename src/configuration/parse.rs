//! Reading one variable: the error that names it, and the parsers every group of settings uses
//! (numbers, durations, lists, flags, URLs).

use std::time::Duration;

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
