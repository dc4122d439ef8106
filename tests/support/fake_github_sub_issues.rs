//! The fake GitHub's sub-issues, as GitHub.com has them (a child named by its issue's `id`, at
//! most 100 per parent, one parent each) or, once `disable_sub_issues` is called, as GitHub
//! Enterprise Server answers: 404.
use serde_json::{json, Value};

use super::routes::issue_json;
use super::routes::validation_failed;
use super::{answer, message, FakeGitHub, HttpResponse, State};

const MAX_PER_PARENT: usize = 100;

impl FakeGitHub {
    /// Answers every sub-issue call with 404, as a GitHub without the API does.
    pub fn disable_sub_issues(&self) {
        self.state.lock().unwrap().sub_issues_disabled = true;
    }

    /// The ids of the sub-issues of `repo#number`, in the order they were attached.
    pub fn sub_issues(&self, repo: &str, number: i64) -> Vec<i64> {
        let state = self.state.lock().unwrap();
        state
            .sub_issues
            .get(&(repo.to_owned(), number))
            .cloned()
            .unwrap_or_default()
    }
}

/// `…/issues/{number}/sub_issues` and `…/issues/{number}/sub_issue`, or `None` for any other path.
pub(super) fn route(
    state: &mut State,
    method: &str,
    repo: &str,
    rest: &[&str],
    body: &Value,
) -> Option<HttpResponse> {
    let [number, kind @ ("sub_issues" | "sub_issue")] = rest else {
        return None;
    };
    if state.sub_issues_disabled {
        return Some(message(404, "Not Found"));
    }
    let Ok(parent) = number.parse::<i64>() else {
        return Some(message(404, "Not Found"));
    };
    let child = body["sub_issue_id"].as_i64().unwrap_or_default();
    let key = (repo.to_owned(), parent);
    let owner = repo.split('/').next().unwrap_or_default().to_owned();
    Some(match (method, *kind) {
        ("POST", "sub_issues") => {
            let found = state.repos.iter().find_map(|(r, issues)| {
                (r.split('/').next() == Some(owner.as_str()))
                    .then(|| {
                        issues
                            .iter()
                            .find(|i| i.number * 1000 == child)
                            .map(|i| (r.clone(), i.clone()))
                    })
                    .flatten()
            });
            let Some((child_repo, child_issue)) = found else {
                return Some(validation_failed(
                    "Issue",
                    "sub_issue_id",
                    "invalid",
                    "not an issue under this owner",
                ));
            };
            if state
                .sub_issues
                .values()
                .any(|children| children.contains(&child))
            {
                return Some(validation_failed(
                    "Issue",
                    "sub_issue_id",
                    "invalid",
                    "already has a parent",
                ));
            }
            let children = state.sub_issues.entry(key).or_default();
            if children.len() >= MAX_PER_PARENT {
                return Some(validation_failed(
                    "Issue",
                    "sub_issue_id",
                    "invalid",
                    "at most 100 sub-issues",
                ));
            }
            children.push(child);
            answer(201, issue_json(&state.base_url, &child_repo, &child_issue))
        }
        ("DELETE", "sub_issue") => {
            let children = state.sub_issues.entry(key).or_default();
            match children.iter().position(|c| *c == child) {
                Some(at) => {
                    children.remove(at);
                    answer(200, json!({ "id": child }))
                }
                None => message(404, "Not Found"),
            }
        }
        ("GET", "sub_issues") => {
            let children = state.sub_issues.get(&key).cloned().unwrap_or_default();
            answer(
                200,
                json!(children.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>()),
            )
        }
        _ => message(404, "Not Found"),
    })
}
