//! What operators do without SQL: list findings, deliveries and jobs, retry dead jobs, replay
//! stored events, resync a finding. The admin API (`routes/api/`), the CLI and the status page
//! all call these, so each action means the same wherever it is asked for.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::configuration::{GitHubSettings, Settings};
use crate::domain::RepositoryRef;

pub mod deliveries;
pub mod findings;
pub mod jobs;
pub mod overviews;
pub mod status;

/// Why an operator's request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    /// A filter, cursor or parameter that cannot be used.
    #[error("{0}")]
    BadRequest(String),
    /// The action does not apply to the thing as it stands (retrying a job that is not dead).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Where people read what a row names: the GitHub issue, DeepSource's dashboard.
#[derive(Clone, Debug)]
pub struct Links {
    github: GitHubSettings,
    deepsource_app: String,
}

impl Links {
    pub fn new(settings: &Settings) -> Self {
        Self {
            github: settings.github.clone(),
            deepsource_app: settings.sync.deepsource_app_url.clone(),
        }
    }

    pub fn issue(&self, repo: &str, number: i64) -> String {
        self.github.issue_url(repo, number)
    }

    /// The finding's occurrences in DeepSource, for the providers whose dashboard is known.
    pub fn dashboard(&self, provider: &str, vcs_url: &str, shortcode: &str) -> Option<String> {
        RepositoryRef::from_vcs(provider, vcs_url)?.dashboard_url(&self.deepsource_app, shortcode)
    }
}

/// Longest page a list returns, and what it returns when not asked.
pub const MAX_LIMIT: i64 = 500;
pub const DEFAULT_LIMIT: i64 = 50;

/// One page of a list: `next_cursor` fetches the page after it, `None` on the last.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` fetched with one more than `limit`: the extra row only says another page exists.
    fn of(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = match more {
            true => rows.last().map(|last| encode_cursor(&key(last))),
            false => None,
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// A page size as asked, checked.
pub fn limit(asked: Option<i64>) -> Result<i64, AdminError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(AdminError::BadRequest(format!(
            "limit {n}: expected 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Cursors are opaque to clients (the key of the last row, encoded), so their form may change.
fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(cursor: &str) -> Result<String, AdminError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AdminError::BadRequest("cursor: not one this service gave".into()))
}

/// A moment as operators write it: RFC 3339 (`2026-12-01T09:00:00Z`), or a span back from now
/// (`90m`, `2h`, `7days`).
pub fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, AdminError> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_utc());
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|ago| chrono::Duration::from_std(ago).ok())
        .and_then(|ago| chrono::Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| {
            AdminError::BadRequest(format!(
                "since {text:?}: expected an RFC 3339 time (2026-12-01T09:00:00Z) or a span back from now (2h)"
            ))
        })
}

/// Checks a filter against the values it may take.
fn one_of<'a>(name: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str, AdminError> {
    match allowed.contains(&value) {
        true => Ok(value),
        false => Err(AdminError::BadRequest(format!(
            "{name} {value:?}: expected one of {}",
            allowed.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_says_whether_another_follows() {
        let page = Page::of(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(decode_cursor(page.next_cursor.as_deref().unwrap()).unwrap(), "2");
        let last = Page::of(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.items, vec![1, 2]);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(MAX_LIMIT + 1)).is_err());
        assert!(decode_cursor("not base64!").is_err());
        assert_eq!(decode_cursor(&encode_cursor("a=b/c")).unwrap(), "a=b/c");
        assert!(one_of("state", "open", &["open", "closed"]).is_ok());
        assert!(one_of("state", "opne", &["open", "closed"]).is_err());
        assert_eq!(
            parse_since("2026-12-01T09:00:00Z").unwrap().to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
        let ago = chrono::Utc::now() - parse_since("2h").unwrap();
        assert!((ago.num_seconds() - 7200).abs() < 5, "{ago}");
        assert!(parse_since("yesterday-ish").is_err());
    }
}
