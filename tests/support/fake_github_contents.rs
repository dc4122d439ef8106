//! The fake GitHub's repository files and assignees: `GET …/contents/{path}` (base64 JSON with an
//! `ETag`, 304 on a matching `If-None-Match`), and the 422 GitHub answers a create or update
//! naming a user who cannot be assigned.
use std::collections::{HashMap, HashSet};

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{answer, message, FakeGitHub, HttpResponse, State};

#[derive(Default)]
pub(super) struct Contents {
    /// (repository, path) → the file's text.
    files: HashMap<(String, String), String>,
    /// (repository, lower-case login) GitHub will not assign.
    unassignable: HashSet<(String, String)>,
}

impl FakeGitHub {
    pub fn put_file(&self, repo: &str, path: &str, content: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .contents
            .files
            .insert((repo.to_owned(), path.to_owned()), content.to_owned());
    }

    pub fn remove_file(&self, repo: &str, path: &str) {
        let mut state = self.state.lock().unwrap();
        state.contents.files.remove(&(repo.to_owned(), path.to_owned()));
    }

    /// As GitHub does a login that is not a collaborator (or does not exist): a create or
    /// update assigning it is refused.
    pub fn refuse_assignee(&self, repo: &str, login: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .contents
            .unassignable
            .insert((repo.to_owned(), login.to_ascii_lowercase()));
    }

    /// Calls to the contents endpoint so far: (path, `If-None-Match` sent).
    pub fn contents_calls(&self) -> Vec<(String, Option<String>)> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.contains("/contents/"))
            .map(|c| (c.path.split('?').next().unwrap().to_owned(), c.if_none_match))
            .collect()
    }
}

/// `GET /repos/{owner}/{repo}/contents/{path}`, or `None` for any other request.
pub(super) fn route(
    state: &State,
    method: &str,
    path: &str,
    if_none_match: Option<&str>,
) -> Option<HttpResponse> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["repos", owner, name, "contents", file @ ..] = parts.as_slice() else {
        return None;
    };
    if method != "GET" {
        return Some(message(404, "Not Found"));
    }
    let repo = format!("{owner}/{name}");
    let file = file.join("/");
    let Some(content) = state
        .contents
        .files
        .get(&(repo.clone(), file.clone()))
        .filter(|_| !state.missing_repos.contains(&repo))
    else {
        return Some(message(404, "Not Found"));
    };
    let sha = hex::encode(Sha256::digest(content.as_bytes()));
    let etag = format!("W/\"{sha}\"");
    if if_none_match == Some(etag.as_str()) {
        return Some(HttpResponse::NotModified().insert_header(("etag", etag)).finish());
    }
    // GitHub wraps the base64 text in lines of 60.
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(60)
        .map(|line| String::from_utf8(line.to_vec()).unwrap())
        .collect();
    let mut response = answer(
        200,
        json!({
            "type": "file", "encoding": "base64", "path": file, "sha": sha,
            "name": file.rsplit('/').next(), "content": wrapped.join("\n") + "\n",
        }),
    );
    response
        .headers_mut()
        .insert("etag".parse().unwrap(), etag.parse().unwrap());
    Some(response)
}

/// The 422 for a create or update whose `assignees` name someone who cannot be assigned: one
/// `errors[]` entry per login, as GitHub names them.
pub(super) fn refused_assignees(state: &State, repo: &str, body: &Value) -> Option<HttpResponse> {
    let errors: Vec<Value> = assignees(body)?
        .into_iter()
        .filter(|login| {
            state
                .contents
                .unassignable
                .contains(&(repo.to_owned(), login.to_ascii_lowercase()))
        })
        .map(|login| json!({ "resource": "Issue", "field": "assignees", "code": "invalid", "value": login }))
        .collect();
    (!errors.is_empty()).then(|| {
        answer(
            422,
            json!({
                "message": "Validation Failed",
                "errors": errors,
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
            }),
        )
    })
}

pub(super) fn assignees(body: &Value) -> Option<Vec<String>> {
    body.get("assignees")?
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}
