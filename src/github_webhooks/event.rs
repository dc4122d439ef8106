//! GitHub's webhook deliveries as the service reads them: the headers that name a delivery, and
//! what an `issues` event says about an issue (`Seen`). Only what decides a sync is read; the
//! body is stored whole.
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::findings::decisions::{Seen, SeenState};

/// Why a delivery is refused with 400: it is not something GitHub sends.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GitHubEventError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("{0} is not a GitHub delivery id (1 to 255 printable characters)")]
    BadHeader(&'static str),
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("an issues event needs {0}")]
    MissingField(&'static str),
}

/// A delivery's name: `X-GitHub-Delivery` (its idempotency key) and `X-GitHub-Event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryHeaders {
    pub id: String,
    pub event_type: String,
}

impl DeliveryHeaders {
    pub fn parse(id: Option<&str>, event_type: Option<&str>) -> Result<Self, GitHubEventError> {
        let printable = |name: &'static str, value: Option<&str>| {
            let value = value.ok_or(GitHubEventError::MissingHeader(name))?.trim();
            if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
                return Err(GitHubEventError::BadHeader(name));
            }
            Ok(value.to_owned())
        };
        Ok(Self {
            id: printable("X-GitHub-Delivery", id)?,
            event_type: printable("X-GitHub-Event", event_type)?,
        })
    }
}

/// What a delivery says, once parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubEvent {
    pub action: Option<String>,
    /// The issue it is about (`owner/repo`, number) and what it shows of it; `None` when the
    /// event cannot change a sync, with the reason in `ignored`.
    pub issue: Option<(String, i64, Seen)>,
    pub ignored: Option<String>,
    /// The issue's body, on an `edited` event: an overview's ticked boxes are read from it.
    pub body: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    action: Option<String>,
    issue: Option<Issue>,
    repository: Option<Repository>,
    sender: Option<User>,
    changes: Option<Changes>,
}

#[derive(Deserialize)]
struct Issue {
    number: Option<i64>,
    body: Option<String>,
    state: Option<String>,
    state_reason: Option<String>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
}

#[derive(Deserialize)]
struct Changes {
    new_issue: Option<Issue>,
    new_repository: Option<Repository>,
}

impl GitHubEvent {
    pub fn parse(event_type: &str, body: &[u8]) -> Result<Self, GitHubEventError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| GitHubEventError::NotJson(e.to_string()))?;
        if !value.is_object() {
            return Err(GitHubEventError::NotJson("not an object".into()));
        }
        let ignored = |action: Option<String>, why: String| Self {
            action,
            issue: None,
            ignored: Some(why),
            body: None,
        };
        if event_type != "issues" {
            return Ok(ignored(None, format!("a {event_type} event changes no issue")));
        }
        // Fields of the wrong type are as good as missing: the event cannot be read.
        let body: Body =
            serde_json::from_value(value).map_err(|e| GitHubEventError::NotJson(e.to_string()))?;
        let action = body.action.ok_or(GitHubEventError::MissingField("action"))?;
        let issue = body.issue.ok_or(GitHubEventError::MissingField("issue"))?;
        let number = issue
            .number
            .ok_or(GitHubEventError::MissingField("issue.number"))?;
        let repo = body
            .repository
            .and_then(|r| r.full_name)
            .ok_or(GitHubEventError::MissingField("repository.full_name"))?;
        let closed = |issue: &Issue| match issue.state.as_deref() {
            Some("closed") => SeenState::Closed {
                reason: issue.state_reason.clone(),
            },
            _ => SeenState::Open,
        };
        let (state, moved_to) = match action.as_str() {
            "closed" => (
                SeenState::Closed {
                    reason: issue.state_reason.clone(),
                },
                None,
            ),
            "reopened" => (SeenState::Open, None),
            // Only an overview answers an edit (its ticked boxes); a finding's issue does not.
            "edited" => (closed(&issue), None),
            "deleted" => (SeenState::Deleted, None),
            "transferred" => {
                let changes = body.changes.ok_or(GitHubEventError::MissingField("changes"))?;
                let new_issue = changes
                    .new_issue
                    .ok_or(GitHubEventError::MissingField("changes.new_issue"))?;
                let new_number = new_issue
                    .number
                    .ok_or(GitHubEventError::MissingField("changes.new_issue.number"))?;
                let new_repo = changes
                    .new_repository
                    .and_then(|r| r.full_name)
                    .ok_or(GitHubEventError::MissingField("changes.new_repository.full_name"))?;
                (closed(&new_issue), Some((new_repo, new_number)))
            }
            // Labels and assignees are people's: the service changes only its own labels, one
            // at a time, so what they do there needs no answer.
            other => {
                return Ok(ignored(
                    Some(action.clone()),
                    format!("nothing to do for {other}"),
                ))
            }
        };
        let seen = Seen {
            state,
            moved_to,
            by: body.sender.and_then(|s| s.login),
            at: issue.updated_at,
        };
        let body = (action == "edited").then(|| issue.body.clone().unwrap_or_default());
        Ok(Self {
            action: Some(action),
            issue: Some((repo, number, seen)),
            ignored: None,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/github/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|_| panic!("fixture {name}"))
    }

    #[test]
    fn githubs_samples_read_as_what_they_say() {
        let reopened = GitHubEvent::parse("issues", &fixture("issues.reopened.json")).unwrap();
        let (repo, number, seen) = reopened.issue.unwrap();
        assert_eq!((repo.as_str(), number), ("Codertocat/Hello-World", 1));
        assert_eq!(seen.state, SeenState::Open);
        assert_eq!(seen.by.as_deref(), Some("Codertocat"));
        assert!(seen.at.is_some());

        let deleted = GitHubEvent::parse("issues", &fixture("issues.deleted.json")).unwrap();
        assert_eq!(deleted.issue.unwrap().2.state, SeenState::Deleted);

        let moved = GitHubEvent::parse("issues", &fixture("issues.transferred.json")).unwrap();
        let (_, _, seen) = moved.issue.unwrap();
        assert_eq!(seen.moved_to, Some(("Codertocat/Hello-World".into(), 1)));

        let labeled = GitHubEvent::parse("issues", &fixture("issues.labeled.json")).unwrap();
        assert_eq!(
            (labeled.issue, labeled.action.as_deref()),
            (None, Some("labeled"))
        );
        let ping = GitHubEvent::parse("ping", &fixture("ping.json")).unwrap();
        assert!(ping.issue.is_none() && ping.ignored.is_some());
    }

    #[test]
    fn what_github_would_not_send_is_refused() {
        assert!(matches!(
            GitHubEvent::parse("issues", b"not json"),
            Err(GitHubEventError::NotJson(_))
        ));
        assert!(GitHubEvent::parse("ping", b"[1]").is_err());
        assert_eq!(
            GitHubEvent::parse(
                "issues",
                br#"{"action":"closed","repository":{"full_name":"a/b"}}"#
            ),
            Err(GitHubEventError::MissingField("issue"))
        );
        assert!(matches!(
            GitHubEvent::parse("issues", br#"{"action":"closed","issue":{"number":"x"}}"#),
            Err(GitHubEventError::NotJson(_))
        ));
        assert_eq!(
            DeliveryHeaders::parse(None, Some("issues")),
            Err(GitHubEventError::MissingHeader("X-GitHub-Delivery"))
        );
        assert_eq!(
            DeliveryHeaders::parse(Some("a\nb"), Some("issues")),
            Err(GitHubEventError::BadHeader("X-GitHub-Delivery"))
        );
    }
}
