//! DeepSource's Autofix: the pull request a run opened, and which findings it fixes. An
//! `autofix_run.updated` is read here; `record.rs` keeps the newest word on each pull request
//! and queues a sync for each finding whose issue shows it; the issue's body names it
//! (`issue/fix_lines.rs`).
pub mod record;

use serde_json::Value;

use crate::domain::{strip_nul, RepositoryRef};

/// A title longer than this is cut on receipt; the issue body shows less still.
const MAX_TITLE_CHARS: usize = 1_000;
/// A run fixing more issue shortcodes than this keeps the first ones.
const MAX_SHORTCODES: usize = 1_000;

/// What GitHub says of the pull request, as DeepSource reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixStatus {
    Open,
    Merged,
    Closed,
}

impl FixStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OPEN" => Some(Self::Open),
            "MERGED" => Some(Self::Merged),
            "CLOSED" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Merged => "MERGED",
            Self::Closed => "CLOSED",
        }
    }
}

/// An Autofix pull request and the issue shortcodes it fixes, from one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixPullRequest {
    /// DeepSource's repository id; empty when the event had none.
    pub repository_id: String,
    /// `provider:login/name` from `vcsProvider` and `vcsUrl`, when they name one.
    pub repository_key: Option<String>,
    pub number: i64,
    pub url: String,
    pub title: String,
    pub status: FixStatus,
    pub shortcodes: Vec<String>,
}

impl FixPullRequest {
    /// How the pull request is filed: by DeepSource's id for its repository when there is one.
    pub fn repository(&self) -> &str {
        match self.repository_id.as_str() {
            "" => self.repository_key.as_deref().unwrap_or_default(),
            id => id,
        }
    }
}

/// A fix as a finding's issue shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedFix {
    pub number: i64,
    pub title: String,
    pub status: FixStatus,
}

/// The pull request an `autofix_run.updated` names, or why the event changes nothing (a run
/// still going or failed, one that committed its fix directly, fields missing or unknown).
pub fn parse(body: &[u8]) -> Result<FixPullRequest, String> {
    let mut event: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    strip_nul(&mut event);
    let run = event
        .pointer("/data/object")
        .filter(|o| o.is_object())
        .ok_or("the event has no data.object")?;
    match run.get("status").and_then(Value::as_str) {
        Some("SUCCESS") => {}
        Some(other) => {
            return Err(format!(
                "the run's status is {other:?}, not SUCCESS: it proposes no fix"
            ))
        }
        None => return Err("the run has no status".into()),
    }
    let pr = run.get("autofixPullRequest").filter(|p| p.is_object()).ok_or(
        "the run names no autofixPullRequest (a fix committed directly has no pull request to link)",
    )?;
    let number = pr
        .get("number")
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .ok_or("autofixPullRequest.number is missing or not a pull request number")?;
    let status = match pr.get("status").and_then(Value::as_str) {
        Some(s) => FixStatus::parse(s).ok_or_else(|| {
            format!("autofixPullRequest.status {s:?} is not one this service knows (OPEN, MERGED, CLOSED)")
        })?,
        None => return Err("autofixPullRequest.status is missing".into()),
    };
    let issues = run
        .get("affectedIssues")
        .and_then(Value::as_array)
        .ok_or("the run has no affectedIssues, so it names no finding")?;
    let mut shortcodes: Vec<String> = issues
        .iter()
        .filter_map(|i| i.get("shortcode").and_then(Value::as_str))
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
        .take(MAX_SHORTCODES)
        .collect();
    shortcodes.sort();
    shortcodes.dedup();
    if shortcodes.is_empty() {
        return Err("no affectedIssues[].shortcode, so the run names no finding".into());
    }
    let repository = run.get("repository").unwrap_or(&Value::Null);
    let field = |name: &str| {
        repository
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let repository_id = field("id");
    let repository_key = RepositoryRef::from_vcs(&field("vcsProvider"), &field("vcsUrl")).map(|r| r.key());
    if repository_id.is_empty() && repository_key.is_none() {
        return Err("the run names no repository (no repository.id, vcsProvider or vcsUrl)".into());
    }
    let text = |name: &str| {
        pr.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(FixPullRequest {
        repository_id,
        repository_key,
        number,
        url: text("url"),
        title: text("title").chars().take(MAX_TITLE_CHARS).collect(),
        status,
        shortcodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(object: Value) -> Vec<u8> {
        json!({"id": "1", "type": "autofix_run.updated", "createdAt": 1, "data": {"object": object}})
            .to_string()
            .into_bytes()
    }

    fn succeeded() -> Value {
        json!({
            "status": "SUCCESS",
            "autofixPullRequest": {"number": 12, "url": "https://github.com/o/r/pull/12", "title": "Fix it", "status": "OPEN"},
            "affectedIssues": [{"shortcode": "PYL-R0201"}, {"shortcode": "PYL-R0201"}, {"shortcode": "PTC-W0001"}],
            "repository": {"id": "UmVwbzox", "vcsProvider": "GITHUB", "vcsUrl": "https://github.com/O/R"}
        })
    }

    #[test]
    fn the_published_sample_names_its_pull_request_and_issue() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/deepsource/autofix_run_updated.json"
        );
        let body = std::fs::read(path).unwrap();
        let pr = parse(&body).unwrap();
        assert_eq!(pr.number, 1);
        assert_eq!(pr.status, FixStatus::Open);
        assert_eq!(pr.shortcodes, ["PYL-R0201"]);
        assert_eq!(
            pr.repository_key.as_deref(),
            Some("github:deepsourcelabs/demo-python")
        );
    }

    #[test]
    fn a_successful_run_names_its_pull_request_once_per_shortcode() {
        let pr = parse(&run(succeeded())).unwrap();
        assert_eq!(pr.number, 12);
        assert_eq!(pr.title, "Fix it");
        assert_eq!(pr.shortcodes, ["PTC-W0001", "PYL-R0201"]);
        assert_eq!(pr.repository(), "UmVwbzox");
        assert_eq!(pr.repository_key.as_deref(), Some("github:o/r"));
    }

    #[test]
    fn without_a_repository_id_the_pull_request_is_filed_by_provider_and_name() {
        let mut object = succeeded();
        object["repository"]["id"] = Value::Null;
        assert_eq!(parse(&run(object)).unwrap().repository(), "github:o/r");
    }

    #[test]
    fn what_names_no_fix_says_why() {
        let cases: [(&str, Value); 7] = [
            ("not SUCCESS", json!("FAILED")),
            ("no autofixPullRequest", Value::Null),
            (
                "not one this service knows",
                json!({"number": 1, "status": "DRAFTED"}),
            ),
            ("no affectedIssues", json!("missing")),
            ("no affectedIssues[].shortcode", json!([])),
            ("no repository", json!({})),
            ("number", json!({"number": -1, "status": "OPEN"})),
        ];
        for (n, (why, value)) in cases.into_iter().enumerate() {
            let mut object = succeeded();
            match n {
                0 => object["status"] = value,
                1 | 2 | 6 => object["autofixPullRequest"] = value,
                3 => {
                    object.as_object_mut().unwrap().remove("affectedIssues");
                }
                4 => object["affectedIssues"] = value,
                _ => object["repository"] = value,
            }
            let reason = parse(&run(object)).unwrap_err();
            assert!(reason.contains(why), "{why}: {reason}");
        }
    }

    #[test]
    fn nul_characters_and_huge_titles_are_made_storable() {
        let mut object = succeeded();
        object["autofixPullRequest"]["title"] = json!(format!("a\0b{}", "x".repeat(5_000)));
        object["affectedIssues"] = json!([{"shortcode": "PY\0L"}]);
        let pr = parse(&run(object)).unwrap();
        assert!(pr.title.starts_with("abx"));
        assert_eq!(pr.title.chars().count(), MAX_TITLE_CHARS);
        assert_eq!(pr.shortcodes, ["PYL"]);
    }
}
