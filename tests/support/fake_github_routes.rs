//! The fake GitHub's REST surface: what each endpoint does with its state, and the limits
//! GitHub enforces on what an issue may say.
use serde_json::{json, Value};

use super::contents::{assignees, refused_assignees};
use super::people::{repository_id, timestamp};
use super::{answer, message, HttpResponse, Issue, State};

/// The service's own account, as GitHub would name the closer of what it closed.
const SERVICE_LOGIN: &str = "deepsource-sync[bot]";

pub(super) fn issue_json(base: &str, repo: &str, issue: &Issue) -> Value {
    json!({
        "repository_url": format!("{base}/repos/{repo}"),
        "updated_at": timestamp(issue.version),
        "closed_by": issue.closed_by.as_ref().map(|login| json!({ "login": login })),
        "id": issue.number * 1000,
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "labels": labels_json(issue),
        "assignees": issue.assignees.iter().map(|l| json!({"login": l})).collect::<Vec<_>>(),
        "comments": issue.comments.len(),
        "html_url": format!("https://github.com/{repo}/issues/{}", issue.number),
    })
}

/// An issue's labels as GitHub lists them.
fn labels_json(issue: &Issue) -> Value {
    json!(issue
        .labels
        .iter()
        .map(|l| json!({ "name": l }))
        .collect::<Vec<_>>())
}

/// GitHub's 422: a `message` and an `errors[]` entry naming the resource, field and code.
pub(super) fn validation_failed(resource: &str, field: &str, code: &str, text: &str) -> HttpResponse {
    answer(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": resource, "field": field, "code": code, "message": text }],
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
        }),
    )
}

/// GitHub's limits on an issue, counted in characters as GitHub counts them: what it refuses
/// here, the fake refuses, so a test sees what GitHub would do.
fn refused_content(
    title: Option<&str>,
    body: Option<&str>,
    labels: Option<&[String]>,
) -> Option<HttpResponse> {
    let too_long = |field: &str, max: usize| format!("{field} is too long (maximum is {max} characters)");
    if let Some(title) = title {
        if title.is_empty() {
            return Some(validation_failed(
                "Issue",
                "title",
                "missing_field",
                "title is missing",
            ));
        }
        if title.chars().count() > 256 {
            return Some(validation_failed(
                "Issue",
                "title",
                "custom",
                &too_long("title", 256),
            ));
        }
    }
    if body.is_some_and(|b| b.chars().count() > 65_536) {
        return Some(validation_failed(
            "Issue",
            "body",
            "custom",
            &too_long("body", 65_536),
        ));
    }
    if labels.is_some_and(|l| l.iter().any(|name| name.chars().count() > 50)) {
        return Some(validation_failed(
            "Label",
            "name",
            "invalid",
            &too_long("name", 50),
        ));
    }
    None
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

pub(super) fn route(
    state: &mut State,
    method: &str,
    path: &str,
    query: &str,
    body: &Value,
    if_none_match: Option<&str>,
) -> HttpResponse {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts == ["search", "issues"] {
        let base = state.base_url.clone();
        let q = query_param(query, "q").unwrap_or_default();
        let phrase = q.split('"').nth(1).unwrap_or("").to_owned();
        let repo = q
            .split_whitespace()
            .find_map(|w| w.strip_prefix("repo:"))
            .unwrap_or("")
            .to_owned();
        let items: Vec<Value> = if state.stale_search {
            Vec::new()
        } else {
            state
                .repos
                .get(&repo)
                .map(|issues| {
                    issues
                        .iter()
                        .filter(|i| !phrase.is_empty() && i.body.contains(&phrase))
                        .map(|i| issue_json(&base, &repo, i))
                        .collect()
                })
                .unwrap_or_default()
        };
        return answer(
            200,
            json!({ "total_count": items.len(), "incomplete_results": false, "items": items }),
        );
    }
    let (repo, rest) = match parts.as_slice() {
        ["repos", owner, name, "issues", rest @ ..] => (format!("{owner}/{name}"), rest),
        ["repositories", id, "issues", rest @ ..] => {
            match id
                .parse::<usize>()
                .ok()
                .and_then(|i| state.repo_ids.get(i.wrapping_sub(1)))
            {
                Some(repo) => (repo.clone(), rest),
                None => return message(404, "Not Found"),
            }
        }
        _ => return message(404, "Not Found"),
    };
    if state.missing_repos.contains(&repo) {
        return message(404, "Not Found");
    }
    if let Some(response) = super::sub_issues::route(state, method, &repo, rest, body) {
        return response;
    }
    let drop_labels = state.drop_labels_on_create;
    let base = state.base_url.clone();
    state.clock += 1;
    let now = state.clock;
    // Where a moved issue went, as GitHub's Location names it.
    let moved_location = |state: &mut State, to: &str, number: i64| {
        let id = repository_id(state, to);
        format!("{}/repositories/{id}/issues/{number}", state.base_url)
    };
    if let [number, ..] = rest {
        let moved = number.parse::<i64>().ok().and_then(|n| {
            state
                .repos
                .get(&repo)?
                .iter()
                .find(|i| i.number == n)?
                .moved_to
                .clone()
        });
        if let Some((to, new_number)) = moved {
            let location = moved_location(state, &to, new_number);
            let mut response = answer(301, json!({ "message": "Moved Permanently", "url": location }));
            response
                .headers_mut()
                .insert("location".parse().unwrap(), location.parse().unwrap());
            return response;
        }
    }
    let unassignable = refused_assignees(state, &repo, body);
    let issues = state.repos.entry(repo.clone()).or_default();
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_owned);
    let labels = |body: &Value| {
        body.get("labels").and_then(Value::as_array).map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
    };
    match (method, rest) {
        ("POST", []) => {
            let title = text("title").unwrap_or_default();
            if let Some(refused) =
                refused_content(Some(&title), text("body").as_deref(), labels(body).as_deref())
            {
                return refused;
            }
            if let Some(refused) = unassignable {
                return refused;
            }
            let issue = Issue {
                number: issues.len() as i64 + 1,
                title,
                body: text("body").unwrap_or_default(),
                labels: if drop_labels {
                    Vec::new()
                } else {
                    labels(body).unwrap_or_default()
                },
                state: "open".into(),
                state_reason: None,
                comments: Vec::new(),
                closed_by: None,
                version: now,
                deleted: false,
                moved_to: None,
                assignees: assignees(body).unwrap_or_default(),
            };
            issues.push(issue.clone());
            answer(201, issue_json(&base, &repo, &issue))
        }
        ("GET", []) => {
            let label = query_param(query, "labels");
            let state_filter = query_param(query, "state").unwrap_or_else(|| "open".into());
            let per_page: usize = query_param(query, "per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30);
            let page: usize = query_param(query, "page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let mut matching: Vec<&Issue> = issues
                .iter()
                .filter(|i| label.as_ref().is_none_or(|l| i.labels.contains(l)))
                .filter(|i| state_filter == "all" || i.state == state_filter)
                .collect();
            matching.reverse(); // newest first
            let page_items: Vec<Value> = matching
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|i| issue_json(&base, &repo, i))
                .collect();
            answer(200, Value::Array(page_items))
        }
        (_, [number, tail @ ..]) => {
            let Some(issue) = number
                .parse::<i64>()
                .ok()
                .and_then(|n| issues.iter_mut().find(|i| i.number == n))
            else {
                return message(404, "Not Found");
            };
            if issue.deleted {
                return message(410, "This issue was deleted");
            }
            if method != "GET" {
                issue.version = now;
            }
            match (method, tail) {
                ("PATCH", []) => {
                    if let Some(refused) = refused_content(
                        text("title").as_deref(),
                        text("body").as_deref(),
                        labels(body).as_deref(),
                    ) {
                        return refused;
                    }
                    if let Some(refused) = unassignable {
                        return refused;
                    }
                    if let Some(a) = assignees(body) {
                        issue.assignees = a;
                    }
                    if let Some(title) = text("title") {
                        issue.title = title;
                    }
                    if let Some(b) = text("body") {
                        issue.body = b;
                    }
                    if let Some(l) = labels(body) {
                        issue.labels = l;
                    }
                    if let Some(s) = text("state") {
                        issue.state_reason = if s == "closed" {
                            issue.closed_by = Some(SERVICE_LOGIN.into());
                            text("state_reason")
                        } else {
                            Some("reopened".into())
                        };
                        issue.state = s;
                    }
                    answer(200, issue_json(&base, &repo, issue))
                }
                // With an ETag of its version: a conditional read of an unchanged issue is a 304,
                // which GitHub does not count against the rate limit.
                ("GET", []) => {
                    let etag = format!("W/\"v{}\"", issue.version);
                    if if_none_match == Some(etag.as_str()) {
                        return HttpResponse::NotModified().insert_header(("etag", etag)).finish();
                    }
                    let mut response = answer(200, issue_json(&base, &repo, issue));
                    response
                        .headers_mut()
                        .insert("etag".parse().unwrap(), etag.parse().unwrap());
                    response
                }
                // Adds, keeping every label already there.
                ("POST", ["labels"]) => {
                    for label in labels(body).unwrap_or_default() {
                        if !issue.labels.contains(&label) {
                            issue.labels.push(label);
                        }
                    }
                    answer(200, labels_json(issue))
                }
                ("DELETE", ["labels", name]) => {
                    let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
                    let Some(at) = issue.labels.iter().position(|l| *l == name) else {
                        return message(404, "Label does not exist");
                    };
                    issue.labels.remove(at);
                    answer(200, labels_json(issue))
                }
                ("POST", ["comments"]) => {
                    issue.comments.push(text("body").unwrap_or_default());
                    answer(201, json!({ "id": issue.comments.len(), "body": text("body") }))
                }
                // Oldest first, as GitHub lists them; `since` and paging are not needed here.
                ("GET", ["comments"]) => answer(
                    200,
                    Value::Array(
                        issue
                            .comments
                            .iter()
                            .enumerate()
                            .map(|(i, c)| json!({ "id": i + 1, "body": c }))
                            .collect(),
                    ),
                ),
                _ => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}
