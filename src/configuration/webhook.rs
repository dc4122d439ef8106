//! Intake settings: who may post, and what one delivery (and all of them at once) may cost.
use std::time::Duration;

use super::parse::{duration_or, parse_bool, parse_or, ConfigError};
use crate::domain::WebhookSecret;

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub secrets: Vec<WebhookSecret>,
    pub allow_unsigned: bool,
    pub max_body_bytes: usize,
    /// A body must arrive whole within this once its head is read, or it is answered 408.
    pub body_read_timeout: Duration,
    /// The bytes of all bodies being read at once; beyond it a delivery is answered 503.
    pub max_inflight_body_bytes: usize,
    /// Deadline for writing one batch of events once a connection is in hand.
    pub ingest_timeout: Duration,
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

pub(super) fn webhook_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<WebhookSettings, ConfigError> {
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
    let bytes = |v: &str| {
        v.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("expected a positive number of bytes")
    };
    let max_body_bytes = parse_or("MAX_BODY_BYTES", get("MAX_BODY_BYTES"), 1_048_576, bytes)?;
    let max_inflight_body_bytes = parse_or(
        "MAX_INFLIGHT_BODY_BYTES",
        get("MAX_INFLIGHT_BODY_BYTES"),
        64 * 1_048_576,
        bytes,
    )?;
    // A semaphore counts in u32 permits, and a limit below one body would refuse every delivery.
    if max_inflight_body_bytes > u32::MAX as usize || max_inflight_body_bytes < max_body_bytes {
        return Err(ConfigError::new(
            "MAX_INFLIGHT_BODY_BYTES",
            format!(
                "expected at least MAX_BODY_BYTES ({max_body_bytes}) and at most {}",
                u32::MAX
            ),
        ));
    }
    let body_read_timeout = duration_or(
        "BODY_READ_TIMEOUT",
        get("BODY_READ_TIMEOUT"),
        Duration::from_secs(10),
    )?;
    let ingest_timeout = parse_or(
        "INGEST_TIMEOUT_MS",
        get("INGEST_TIMEOUT_MS"),
        Duration::from_millis(5000),
        super::parse::positive_millis,
    )?;
    Ok(WebhookSettings {
        secrets,
        allow_unsigned,
        max_body_bytes,
        body_read_timeout,
        max_inflight_body_bytes,
        ingest_timeout,
    })
}
