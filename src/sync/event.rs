//! The parts of a `repository_issue.*` event the sync needs, read from the stored body.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    object: RepositoryIssue,
    issue_occurrences_introduced: Option<i64>,
    issue_occurrences_resolved: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RepositoryIssue {
    pub id: String,
    pub repository: Repository,
    pub issue: Issue,
    #[serde(default)]
    pub occurrences: Vec<Occurrence>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub id: String,
    pub name: String,
    pub vcs_provider: String,
    pub vcs_url: String,
    pub default_branch: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub shortcode: String,
    pub title: String,
    #[serde(default)]
    pub short_description: Option<String>,
    pub category: String,
    pub analyzer: Analyzer,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Analyzer {
    pub shortcode: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    pub path: String,
    pub begin_line: i64,
    pub end_line: i64,
    #[serde(default)]
    pub title: Option<String>,
}

/// One issue event, ready to apply to its finding.
#[derive(Clone, Debug)]
pub struct FindingEvent {
    pub object: RepositoryIssue,
    /// +introduced or -resolved occurrences.
    pub delta: i64,
    pub introduced: bool,
    pub event_time: DateTime<Utc>,
}

impl FindingEvent {
    /// Fails with a reason a person can act on; such a job is dead, not retried.
    pub fn parse(body: &[u8], event_time: DateTime<Utc>) -> Result<Self, String> {
        let body: Body =
            serde_json::from_slice(body).map_err(|e| format!("not a usable repository_issue event: {e}"))?;
        let data = body.data;
        let (delta, introduced) = match body.kind.as_str() {
            "repository_issue.introduced" => {
                let n = data
                    .issue_occurrences_introduced
                    .unwrap_or(data.object.occurrences.len() as i64);
                (n, true)
            }
            "repository_issue.resolved" => {
                let n = data
                    .issue_occurrences_resolved
                    .ok_or("data.issueOccurrencesResolved is missing")?;
                (-n, false)
            }
            other => return Err(format!("`{other}` is not an issue event")),
        };
        if data.object.id.is_empty() {
            return Err("data.object.id is empty".into());
        }
        Ok(Self {
            object: data.object,
            delta,
            introduced,
            event_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/deepsource/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn reads_the_published_samples() {
        let t = Utc::now();
        let introduced = FindingEvent::parse(&sample("repository_issue_introduced.json"), t).unwrap();
        assert_eq!((introduced.delta, introduced.introduced), (1, true));
        assert_eq!(introduced.object.id, "PhVnb3NpdG9yeUl8c3VlOnp4a2E2bA==");
        assert_eq!(introduced.object.issue.shortcode, "CRT-A0016");
        assert_eq!(
            introduced.object.repository.vcs_url,
            "https://github.com/deepsourcelabs/demo-go"
        );
        assert_eq!(introduced.object.occurrences[0].begin_line, 160);
        let resolved = FindingEvent::parse(&sample("repository_issue_resolved.json"), t).unwrap();
        assert_eq!((resolved.delta, resolved.introduced), (-1, false));
    }

    #[test]
    fn unusable_events_say_why() {
        let t = Utc::now();
        let err = FindingEvent::parse(
            br#"{"type":"repository_issue.introduced","data":{"object":null}}"#,
            t,
        );
        assert!(err.unwrap_err().contains("not a usable"));
        let err = FindingEvent::parse(&sample("analysis_run_updated.json"), t);
        assert!(err.is_err());
    }
}
