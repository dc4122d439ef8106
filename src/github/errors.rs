//! What GitHub's answers mean for the sync: retry, wait, give up, or stop. Waits are durations,
//! not instants: the database adds them to its own clock (`now() + interval`), so a pause GitHub
//! asks for holds whatever this machine's clock says, and no header value can overflow a date.
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};

/// Secondary-limit answers without a header ask for at least this long a pause.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);
/// The longest pause taken on GitHub's word: the primary limit's window. A header asking for
/// more (or for years) is read as this; the next answer says again if it is still needed.
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("rate limited for {}s: {detail}", wait.as_secs())]
    RateLimited { wait: Duration, detail: String },
    /// Worth retrying. For a create, the issue may or may not exist now.
    #[error("{detail}")]
    Transient { detail: String },
    /// Retrying will not help (404 repository, 410 issues disabled, 422, 403 forbidden).
    #[error("GitHub answered {status}: {detail}")]
    Permanent { status: u16, detail: String },
    #[error("GitHub rejected the credentials: {0}")]
    Unauthorized(String),
    /// 410 on an issue: a person deleted it.
    #[error("GitHub answered 410: {detail}")]
    Gone { detail: String },
    /// 301: the issue was transferred; it is read at `location`.
    #[error("GitHub answered 301: moved to {location}")]
    Moved { location: String },
}

impl GitHubError {
    /// A 410 to a create means issues are disabled in the repository, not a deleted issue.
    pub fn gone_is_permanent(self) -> Self {
        match self {
            GitHubError::Gone { detail } => GitHubError::Permanent { status: 410, detail },
            other => other,
        }
    }

    /// GitHub answered and the request did nothing: a create that failed so did not create.
    pub fn is_definite(&self) -> bool {
        !matches!(self, GitHubError::Transient { .. })
    }
}

pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> GitHubError {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let message = json
        .as_ref()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .map(|message| match json.as_ref().map(field_errors) {
            Some(errors) if !errors.is_empty() => format!("{message} ({errors})"),
            _ => message,
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The reset is an instant on GitHub's clock: measured against GitHub's own `Date`, it is a
    // wait that holds whatever this machine's clock says.
    let github_now = header("date")
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let reset = (header("x-ratelimit-remaining") == Some("0"))
        .then(|| header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok()))
        .flatten()
        .map(|secs| Duration::from_secs(secs.saturating_sub(github_now.timestamp()).max(0) as u64));
    let says_rate_limit = message.to_ascii_lowercase().contains("rate limit");
    match status.as_u16() {
        401 => GitHubError::Unauthorized(message),
        410 => GitHubError::Gone { detail: message },
        301 | 302 | 307 | 308 => match header("location") {
            Some(location) => GitHubError::Moved {
                location: location.to_owned(),
            },
            None => GitHubError::Transient {
                detail: format!("GitHub answered {status} without a Location"),
            },
        },
        403 | 429 if retry_after.is_some() || reset.is_some() || says_rate_limit || status == 429 => {
            let wait = retry_after.or(reset).unwrap_or(DEFAULT_BACKOFF);
            GitHubError::RateLimited {
                wait: wait.clamp(Duration::from_secs(1), MAX_PAUSE),
                detail: message,
            }
        }
        400..=499 => GitHubError::Permanent {
            status: status.as_u16(),
            detail: message,
        },
        _ => GitHubError::Transient {
            detail: format!("GitHub answered {status}: {message}"),
        },
    }
}

/// GitHub's `errors[]` (a 422 names each refused field: `resource`, `field`, `code`, sometimes a
/// `message`), so a dead job says what to fix and not only "Validation Failed". Entries are
/// objects or, on some endpoints, plain strings; at most a few are kept, each bounded.
fn field_errors(json: &serde_json::Value) -> String {
    let Some(errors) = json["errors"].as_array() else {
        return String::new();
    };
    let text =
        |v: &serde_json::Value, key: &str| v[key].as_str().map(|s| s.chars().take(200).collect::<String>());
    errors
        .iter()
        .take(5)
        .filter_map(|e| match e {
            serde_json::Value::String(s) => Some(s.chars().take(200).collect()),
            serde_json::Value::Object(_) => {
                let mut parts = Vec::new();
                for key in ["resource", "field", "code"] {
                    if let Some(value) = text(e, key) {
                        parts.push(format!("{key}={value}"));
                    }
                }
                if let Some(message) = text(e, "message") {
                    parts.push(format!("message={message:?}"));
                }
                (!parts.is_empty()).then(|| parts.join(" "))
            }
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// GitHub refused a create or update because of its assignees (422, an `errors[]` entry with
/// `field: "assignees"`): nothing was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unassignable {
    /// The logins GitHub named (`value`); empty when it did not say which.
    pub logins: Vec<String>,
    /// What GitHub said, for the log.
    pub detail: String,
}

/// The assignees a 422's body refuses, or `None` when it refuses something else.
pub fn unassignable(body: &str) -> Option<Unassignable> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let refusals: Vec<&serde_json::Value> = json["errors"]
        .as_array()?
        .iter()
        .filter(|e| e["field"].as_str() == Some("assignees"))
        .collect();
    if refusals.is_empty() {
        return None;
    }
    let mut logins = Vec::new();
    for value in refusals.iter().map(|e| &e["value"]) {
        // One login, or (on some answers) a list of them.
        let named = value
            .as_array()
            .map_or_else(|| vec![value], |all| all.iter().collect());
        logins.extend(named.into_iter().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    Some(Unassignable {
        logins,
        detail: format!(
            "{} ({})",
            json["message"].as_str().unwrap_or("Validation Failed"),
            field_errors(&json)
        ),
    })
}

/// Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at 10 minutes.
/// How long writing to GitHub pauses after it rejects the credentials: every write would fail the
/// same way until they are fixed.
pub const AUTH_PAUSE: Duration = Duration::from_secs(300);

pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 9) - 1;
    let base_ms = 2_000u64 << exp;
    let jitter = rand::random_range(0.75..1.25);
    Duration::from_millis(((base_ms as f64) * jitter) as u64).min(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn wait_of(e: GitHubError) -> Duration {
        match e {
            GitHubError::RateLimited { wait, .. } => wait,
            other => panic!("{other:?}"),
        }
    }

    const SECONDARY: &str = r#"{"message":"You have exceeded a secondary rate limit"}"#;

    #[test]
    fn rate_limits_wait_as_long_as_github_asks() {
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "30")]),
            SECONDARY,
        );
        assert_eq!(wait_of(e), Duration::from_secs(30));

        let e = classify(StatusCode::FORBIDDEN, &headers(&[]), SECONDARY);
        assert_eq!(wait_of(e), Duration::from_secs(60), "no header: 60 s");

        // The reset is read against GitHub's own clock, not this machine's.
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000300"),
                ("date", "Tue, 14 Nov 2023 22:13:20 GMT"), // 1700000000
            ]),
            r#"{"message":"API rate limit exceeded"}"#,
        );
        assert_eq!(wait_of(e), Duration::from_secs(300));

        assert_eq!(
            wait_of(classify(StatusCode::TOO_MANY_REQUESTS, &headers(&[]), "{}")),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn no_header_value_makes_a_wait_unbounded_or_zero() {
        for (name, value) in [
            ("retry-after", "9000000000000000000"),
            ("retry-after", "18446744073709551615"),
            ("x-ratelimit-reset", "9223372036854775807"),
        ] {
            let mut pairs = vec![(name, value)];
            if name == "x-ratelimit-reset" {
                pairs.push(("x-ratelimit-remaining", "0"));
            }
            let e = classify(StatusCode::FORBIDDEN, &headers(&pairs), SECONDARY);
            assert_eq!(wait_of(e), MAX_PAUSE, "{name}: {value}");
        }
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "0")]),
            SECONDARY,
        );
        assert_eq!(wait_of(e), Duration::from_secs(1));
        let past_reset = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]),
            SECONDARY,
        );
        assert_eq!(wait_of(past_reset), Duration::from_secs(1));
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "-5")]),
            SECONDARY,
        );
        assert_eq!(wait_of(e), Duration::from_secs(60), "unreadable: as if absent");
    }

    #[test]
    fn other_answers() {
        let none = headers(&[]);
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &none, "{}"),
            GitHubError::Unauthorized(_)
        ));
        for status in [403, 404, 422] {
            let e = classify(
                StatusCode::from_u16(status).unwrap(),
                &none,
                r#"{"message":"Not Found"}"#,
            );
            assert!(matches!(e, GitHubError::Permanent { .. }), "{status}");
        }
        // A deleted issue, and (to a create) issues turned off in the repository.
        let gone = classify(StatusCode::GONE, &none, r#"{"message":"This issue was deleted"}"#);
        assert!(matches!(gone, GitHubError::Gone { .. }));
        assert!(matches!(
            gone.gone_is_permanent(),
            GitHubError::Permanent { status: 410, .. }
        ));
        let moved = classify(
            StatusCode::MOVED_PERMANENTLY,
            &headers(&[("location", "https://api.github.com/repositories/1/issues/2")]),
            "{}",
        );
        assert!(
            matches!(&moved, GitHubError::Moved { location } if location.ends_with("/repositories/1/issues/2"))
        );
        for status in [500, 502, 503] {
            let e = classify(StatusCode::from_u16(status).unwrap(), &none, "oops");
            assert!(matches!(e, GitHubError::Transient { .. }), "{status}");
        }
        assert!(!GitHubError::Transient { detail: "x".into() }.is_definite());
        let body = r#"{"message":"Validation Failed","errors":[{"resource":"Issue","code":"custom","field":"title","message":"title is too long (maximum is 256 characters)"},"a plain one"]}"#;
        let e = classify(StatusCode::UNPROCESSABLE_ENTITY, &none, body);
        assert_eq!(
            e.to_string(),
            r#"GitHub answered 422: Validation Failed (resource=Issue field=title code=custom message="title is too long (maximum is 256 characters)"; a plain one)"#
        );
        assert!(GitHubError::Permanent {
            status: 422,
            detail: "x".into()
        }
        .is_definite());
    }

    #[test]
    fn refused_assignees_are_read_from_a_422() {
        let body = r#"{"message":"Validation Failed","errors":[{"value":"ghost","resource":"Issue","field":"assignees","code":"invalid"},{"value":["a","b"],"field":"assignees"}]}"#;
        let refused = unassignable(body).unwrap();
        assert_eq!(refused.logins, ["ghost", "a", "b"]);
        assert!(
            refused
                .detail
                .starts_with("Validation Failed (resource=Issue field=assignees"),
            "{refused:?}"
        );
        let unnamed = unassignable(
            r#"{"message":"Validation Failed","errors":[{"field":"assignees","code":"invalid"}]}"#,
        );
        assert_eq!(
            unnamed.unwrap().logins,
            Vec::<String>::new(),
            "refused, but not said which"
        );
        let title = r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"custom"}]}"#;
        assert_eq!(unassignable(title), None, "another field: not about assignees");
        assert_eq!(unassignable("not json"), None);
    }

    #[test]
    fn backoff_grows_then_is_capped() {
        for _ in 0..50 {
            let waits: Vec<Duration> = (0..=12).map(backoff).collect();
            // 0 and 1 are the first retry: about 2 s, jittered by a quarter either way.
            for w in &waits[..2] {
                assert!(
                    *w >= Duration::from_millis(1500) && *w < Duration::from_millis(2500),
                    "{w:?}"
                );
            }
            let a4 = waits[4];
            assert!(
                a4 >= Duration::from_millis(12_000) && a4 < Duration::from_millis(20_000),
                "{a4:?}"
            );
            // 2 s · 2^8 = 512 s at the ninth attempt, and never more than 10 minutes after.
            for w in &waits[9..] {
                assert!(
                    *w >= Duration::from_millis(384_000) && *w <= Duration::from_secs(600),
                    "{w:?}"
                );
            }
        }
        // Jitter spreads retries of many findings apart.
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(3)).collect();
        assert!(spread.len() > 1);
    }
}
