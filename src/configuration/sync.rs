//! What the sync worker syncs, and how: filters, the reopen policy, the minimum count, state
//! comments, the lease a worker holds a finding by, and how often it looks for work unwoken.
use super::parse::{duration_or, list, parse_bool, parse_or, ConfigError};

#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// Upper-case DeepSource categories to sync; empty means all.
    pub categories: Vec<String>,
    /// Analyzer shortcodes to sync; empty means all.
    pub analyzers: Vec<String>,
    /// Upper-case severities to sync; empty means all. A finding whose severity is not known
    /// yet (no snapshot has said) passes.
    pub severities: Vec<String>,
    /// DeepSource's dashboard (`DEEPSOURCE_APP_URL`), which issues link their finding in.
    pub deepsource_app_url: String,
    pub reopen_policy: ReopenPolicy,
    /// How long a worker holds a finding without renewing it; a sync's deadline is three
    /// quarters of it.
    pub lease: std::time::Duration,
    /// `SYNC_MIN_OCCURRENCES`: fewer open occurrences than this get no issue (an open one is
    /// closed, saying why).
    pub min_occurrences: i64,
    /// `STATE_COMMENTS`: a close or reopen comments why; without, the reason is in the body and
    /// the change costs one write instead of two.
    pub state_comments: bool,
    /// `SYNC_POLL_INTERVAL`: how often a worker looks for due work when nothing woke it. A
    /// commit that makes work due wakes every worker at once (`NOTIFY`); this only bounds how
    /// long a lost notification, or a worker that cannot listen, waits.
    pub poll_interval: std::time::Duration,
}

impl SyncSettings {
    /// Why `SYNC_CATEGORIES`, `SYNC_ANALYZERS` or `SYNC_SEVERITIES` leave a finding untracked;
    /// `None` when they let it through (a severity not known yet passes).
    pub fn filtered_out(&self, category: &str, analyzer: &str, severity: Option<&str>) -> Option<String> {
        if !self.categories.is_empty() && !self.categories.contains(&category.to_ascii_uppercase()) {
            return Some(format!("category {category} is not in SYNC_CATEGORIES"));
        }
        if !self.analyzers.is_empty() && !self.analyzers.iter().any(|a| a == analyzer) {
            return Some(format!("analyzer {analyzer} is not in SYNC_ANALYZERS"));
        }
        let severity = severity?;
        (!self.severities.is_empty() && !self.severities.contains(&severity.to_ascii_uppercase()))
            .then(|| format!("severity {severity} is not in SYNC_SEVERITIES"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReopenPolicy {
    /// Reopen the closed issue (and comment).
    Reopen,
    /// Open a fresh issue that links the old one.
    New,
}

pub(super) fn sync_settings(get: &impl Fn(&str) -> Option<String>) -> Result<SyncSettings, ConfigError> {
    Ok(SyncSettings {
        categories: list(get("SYNC_CATEGORIES"))
            .into_iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        analyzers: list(get("SYNC_ANALYZERS")),
        severities: list(get("SYNC_SEVERITIES"))
            .into_iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        deepsource_app_url: super::deepsource::app_url(get("DEEPSOURCE_APP_URL"))?,
        reopen_policy: parse_or(
            "REOPEN_POLICY",
            get("REOPEN_POLICY"),
            ReopenPolicy::Reopen,
            |v| match v.to_ascii_lowercase().as_str() {
                "reopen" => Ok(ReopenPolicy::Reopen),
                "new" => Ok(ReopenPolicy::New),
                _ => Err("expected reopen or new"),
            },
        )?,
        lease: std::time::Duration::from_secs(parse_or(
            "SYNC_LEASE_SECS",
            get("SYNC_LEASE_SECS"),
            120,
            |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (4..=3600).contains(n))
                    .ok_or("expected whole seconds from 4 to 3600")
            },
        )?),
        min_occurrences: parse_or("SYNC_MIN_OCCURRENCES", get("SYNC_MIN_OCCURRENCES"), 1, |v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or("expected a whole number of at least 1")
        })?,
        state_comments: parse_or("STATE_COMMENTS", get("STATE_COMMENTS"), true, parse_bool)?,
        poll_interval: duration_or(
            "SYNC_POLL_INTERVAL",
            get("SYNC_POLL_INTERVAL"),
            std::time::Duration::from_secs(10),
        )?,
    })
}
