//! Settings for the people running the service: the admin token, how long event bodies stay.
use std::time::Duration;

use secrecy::SecretString;

use super::parse::{parse_or, ConfigError};

#[derive(Clone, Debug)]
pub struct OperationsSettings {
    /// `ADMIN_TOKEN`: the admin API (`/api`) and the status page (`/`) want it; unset, they
    /// answer 404.
    pub admin_token: Option<SecretString>,
    /// `RETENTION_DAYS`: bodies of events whose jobs finished are deleted once older than this;
    /// `None` (0) keeps them for ever.
    pub retention: Option<Duration>,
}

pub(super) fn operations_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<OperationsSettings, ConfigError> {
    let days = parse_or("RETENTION_DAYS", get("RETENTION_DAYS"), 30u32, |v| {
        v.parse::<u32>()
            .ok()
            .filter(|d| *d <= 36_500)
            .ok_or("expected a whole number of days (0 keeps bodies for ever)")
    })?;
    Ok(OperationsSettings {
        admin_token: get("ADMIN_TOKEN").map(|t| SecretString::from(t.trim().to_owned())),
        retention: (days > 0).then(|| Duration::from_secs(u64::from(days) * 86_400)),
    })
}
