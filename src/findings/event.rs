//! The parts of a `repository_issue.*` event the sync needs, read from the stored body.
//!
//! DeepSource's webhooks are beta and their fields come and go, so only the finding's id and the
//! occurrence count are required; everything else only decorates the issue and may be missing
//! or null. Text is made storable here (Postgres text cannot hold NUL), and counts are checked,
//! so one odd event fails alone, with a reason, instead of failing its finding's other events.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::strip_nul;

/// More occurrences than any repository has: a count beyond it is a broken event, not data.
pub const MAX_OCCURRENCES: i64 = 10_000_000;

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
    #[serde(default)]
    issue_occurrences_introduced: Option<i64>,
    #[serde(default)]
    issue_occurrences_resolved: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RepositoryIssue {
    pub id: String,
    #[serde(default)]
    pub repository: Option<Repository>,
    #[serde(default)]
    pub issue: Option<Issue>,
    #[serde(default)]
    pub occurrences: Option<Vec<Occurrence>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub vcs_provider: Option<String>,
    #[serde(default)]
    pub vcs_url: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    #[serde(default)]
    pub shortcode: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub short_description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub analyzer: Option<Analyzer>,
    #[serde(default)]
    pub autofix_available: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Analyzer {
    #[serde(default)]
    pub shortcode: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// DeepSource's id of the occurrence, where it sent one; what tells two apart first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub begin_line: Option<i64>,
    #[serde(default)]
    pub end_line: Option<i64>,
    #[serde(default)]
    pub title: Option<String>,
}

/// What an event says about its finding, every field flattened to what the store keeps
/// (an empty string where DeepSource sent nothing).
#[derive(Clone, Debug, Default)]
pub struct FindingFields {
    pub id: String,
    pub repository_id: String,
    pub repository_name: String,
    pub vcs_provider: String,
    pub vcs_url: String,
    pub default_branch: String,
    pub issue_shortcode: String,
    pub issue_title: String,
    pub issue_description: String,
    pub category: String,
    pub analyzer_shortcode: String,
    pub analyzer_name: String,
    /// `None` where the event did not say.
    pub autofix_available: Option<bool>,
    pub occurrences: Vec<Occurrence>,
}

/// One issue event, ready to apply to its finding.
#[derive(Clone, Debug)]
pub struct FindingEvent {
    pub object: FindingFields,
    /// +introduced or -resolved occurrences.
    pub delta: i64,
    pub introduced: bool,
    pub event_time: DateTime<Utc>,
}

impl FindingEvent {
    /// Fails with a reason a person can act on; such a job is dead, not retried.
    pub fn parse(body: &[u8], event_time: DateTime<Utc>) -> Result<Self, String> {
        let mut value: Value =
            serde_json::from_slice(body).map_err(|e| format!("not a usable repository_issue event: {e}"))?;
        strip_nul(&mut value);
        let body: Body =
            serde_json::from_value(value).map_err(|e| format!("not a usable repository_issue event: {e}"))?;
        let data = body.data;
        let object = data.object;
        let (delta, introduced) = match body.kind.as_str() {
            "repository_issue.introduced" => {
                let listed = object.occurrences.as_ref().map_or(0, Vec::len) as i64;
                let n = count(
                    "data.issueOccurrencesIntroduced",
                    data.issue_occurrences_introduced.unwrap_or(listed),
                )?;
                (n, true)
            }
            "repository_issue.resolved" => {
                let n = data
                    .issue_occurrences_resolved
                    .ok_or("data.issueOccurrencesResolved is missing")?;
                (-count("data.issueOccurrencesResolved", n)?, false)
            }
            other => return Err(format!("`{other}` is not an issue event")),
        };
        if object.id.is_empty() {
            return Err("data.object.id is empty".into());
        }
        Ok(Self {
            object: FindingFields::from(object),
            delta,
            introduced,
            event_time,
        })
    }
}

fn count(field: &str, n: i64) -> Result<i64, String> {
    if (0..=MAX_OCCURRENCES).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{field} is {n}, not a count between 0 and {MAX_OCCURRENCES}"
        ))
    }
}

impl From<RepositoryIssue> for FindingFields {
    fn from(o: RepositoryIssue) -> Self {
        let repository = o.repository.unwrap_or_default();
        let issue = o.issue.unwrap_or_default();
        let analyzer = issue.analyzer.unwrap_or_default();
        Self {
            id: o.id,
            repository_id: repository.id.unwrap_or_default(),
            repository_name: repository.name.unwrap_or_default(),
            vcs_provider: repository.vcs_provider.unwrap_or_default(),
            vcs_url: repository.vcs_url.unwrap_or_default(),
            default_branch: repository.default_branch.unwrap_or_default(),
            issue_shortcode: issue.shortcode.unwrap_or_default(),
            issue_title: issue.title.unwrap_or_default(),
            issue_description: issue.short_description.unwrap_or_default(),
            category: issue.category.unwrap_or_default(),
            analyzer_shortcode: analyzer.shortcode.unwrap_or_default(),
            analyzer_name: analyzer.name.unwrap_or_default(),
            autofix_available: issue.autofix_available,
            occurrences: o.occurrences.unwrap_or_default(),
        }
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
        assert_eq!(introduced.object.issue_shortcode, "CRT-A0016");
        assert_eq!(
            introduced.object.vcs_url,
            "https://github.com/deepsourcelabs/demo-go"
        );
        assert_eq!(introduced.object.occurrences[0].begin_line, Some(160));
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

    #[test]
    fn only_the_id_and_the_count_are_required() {
        let t = Utc::now();
        let e = FindingEvent::parse(
            br#"{"type":"repository_issue.resolved","data":{"object":{"id":"RI","repository":null,"issue":{"analyzer":null}},"issueOccurrencesResolved":2}}"#,
            t,
        )
        .unwrap();
        assert_eq!((e.object.id.as_str(), e.delta), ("RI", -2));
        assert_eq!(e.object.vcs_url, "");
        let e = FindingEvent::parse(
            br#"{"type":"repository_issue.introduced","data":{"object":{"id":"RI","occurrences":[{"path":"a"},{}]}}}"#,
            t,
        )
        .unwrap();
        assert_eq!(e.delta, 2, "counted from the listed occurrences");
    }

    #[test]
    fn counts_out_of_range_are_refused_by_name() {
        let t = Utc::now();
        for (kind, field, n) in [
            ("resolved", "issueOccurrencesResolved", i64::MIN.to_string()),
            ("resolved", "issueOccurrencesResolved", "-1".into()),
            ("introduced", "issueOccurrencesIntroduced", "-3".into()),
            (
                "introduced",
                "issueOccurrencesIntroduced",
                (MAX_OCCURRENCES + 1).to_string(),
            ),
        ] {
            let body = format!(
                r#"{{"type":"repository_issue.{kind}","data":{{"object":{{"id":"RI"}},"{field}":{n}}}}}"#
            );
            let err = FindingEvent::parse(body.as_bytes(), t).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
        let body = format!(
            r#"{{"type":"repository_issue.introduced","data":{{"object":{{"id":"RI"}},"issueOccurrencesIntroduced":{MAX_OCCURRENCES}}}}}"#
        );
        assert_eq!(
            FindingEvent::parse(body.as_bytes(), t).unwrap().delta,
            MAX_OCCURRENCES
        );
    }

    #[test]
    fn nul_is_removed_from_every_string() {
        let body = br#"{"type":"repository_issue.introduced","data":{"object":{"id":"R\u0000I","issue":{"title":"a\u0000b"},"occurrences":[{"path":"p\u0000","title":"\u0000"}]},"issueOccurrencesIntroduced":1}}"#;
        let e = FindingEvent::parse(body, Utc::now()).unwrap();
        assert_eq!(e.object.id, "RI");
        assert_eq!(e.object.issue_title, "ab");
        assert_eq!(e.object.occurrences[0].path.as_deref(), Some("p"));
        assert_eq!(e.object.occurrences[0].title.as_deref(), Some(""));
    }
}
