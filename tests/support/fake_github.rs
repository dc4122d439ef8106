//! An in-memory GitHub for tests and benchmarks: keeps issues, labels and comments, answers
//! with GitHub's status codes, JSON shapes and rate-limit headers, enforces write limits, and
//! injects faults on demand.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[path = "fake_github_people.rs"]
mod people;
#[path = "fake_github_routes.rs"]
mod routes;
use routes::{route, validation_failed};
#[path = "fake_github_contents.rs"]
mod contents;
#[path = "fake_github_sub_issues.rs"]
mod sub_issues;

pub const TOKEN: &str = "ghp_test_token";
pub const INSTALLATION_ID: u64 = 4242;
pub const INSTALLATION_TOKEN: &str = "ghs_installation_token";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub number: i64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub comments: Vec<String>,
    /// Who closed it last, when a person did (`close_as`).
    pub closed_by: Option<String>,
    /// A logical clock: bumped on every change, rendered as `updated_at`.
    pub version: i64,
    /// A person deleted it: reads and writes answer 410.
    pub deleted: bool,
    /// A person transferred it: reads and writes answer 301 to its new place.
    pub moved_to: Option<(String, i64)>,
    pub assignees: Vec<String>,
}

/// A request held at the fake until the test lets it through: `arrived` fires when it gets
/// there (before it is carried out), and it is carried out once `release` is called.
#[derive(Debug, Default)]
pub struct Hold {
    arrived: tokio::sync::Notify,
    released: tokio::sync::Notify,
}

impl Hold {
    /// Waits for the request; a worker that never makes it fails the test instead of hanging
    /// it (the bound is far beyond the milliseconds it takes).
    pub async fn arrived(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(15), self.arrived.notified())
            .await
            .expect("the held request arrived at the fake GitHub");
    }

    pub fn release(&self) {
        self.released.notify_one();
    }

    /// At a fake: says the request arrived, then waits until the test releases it.
    pub async fn here(&self) {
        self.arrived.notify_one();
        self.released.notified().await;
    }
}

/// What the next matching request gets instead of a normal answer.
#[derive(Clone, Debug)]
pub enum Fault {
    Status(u16),
    /// 403 "secondary rate limit", with or without `retry-after`.
    SecondaryLimit {
        retry_after: Option<u64>,
    },
    /// 429 without headers.
    TooManyRequests,
    /// The request is carried out, but the answer is a 502: the client cannot know it worked.
    LoseResponse,
    Unauthorized,
    /// 422 "Validation Failed" with one entry in `errors[]`, as GitHub answers a field it
    /// refuses (an assignee it cannot assign, a title too long).
    Invalid {
        resource: &'static str,
        field: &'static str,
        code: &'static str,
    },
    /// 301 to this `Location`, as GitHub answers for an issue transferred away.
    Redirect(String),
    /// Waits at the fake (as a slow network or a paused worker would) until released, then is
    /// carried out.
    Hold(Arc<Hold>),
    /// Is carried out at once; the answer waits until released.
    HoldAnswer(Arc<Hold>),
}

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub if_none_match: Option<String>,
}

/// GitHub's content-creation limits, scaled as a test or benchmark needs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_minute: usize,
    pub window: Duration,
    pub min_interval: Duration,
    /// Timer jitter forgiven: a write this much early against the window is not a violation.
    pub tolerance: Duration,
    /// What is forgiven against the interval: none unless a test says (several processes reach
    /// the fake by paths whose times differ, see `replicas.rs`).
    pub interval_tolerance: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_minute: usize::MAX,
            window: Duration::from_secs(60),
            min_interval: Duration::ZERO,
            tolerance: Duration::ZERO,
            interval_tolerance: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct State {
    repos: HashMap<String, Vec<Issue>>,
    missing_repos: HashSet<String>,
    faults: VecDeque<(String, Fault)>,
    calls: Vec<Call>,
    /// When each of `calls` arrived, by position (benchmarks time GitHub's side).
    arrivals: Vec<Instant>,
    writes: Vec<Instant>,
    limits: Limits,
    /// What each write that broke the limits broke, in the order they came.
    violations: Vec<String>,
    stale_search: bool,
    /// As GitHub does for callers without push access: labels on a create are dropped.
    drop_labels_on_create: bool,
    /// The logical clock issues' `version`s come from.
    clock: i64,
    /// `/repositories/{id}` ids, by position (GitHub's Location for a moved issue uses them).
    repo_ids: Vec<String>,
    base_url: String,
    /// Repository files and who cannot be assigned (`fake_github_contents.rs`).
    contents: contents::Contents,
    /// Sub-issue ids by (repository, parent number) (`fake_github_sub_issues.rs`).
    sub_issues: HashMap<(String, i64), Vec<i64>>,
    sub_issues_disabled: bool,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    /// Serves on a random loopback port from the current Tokio runtime.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            base_url: url.clone(),
            ..State::default()
        }));
        let data = web::Data::new(state.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(handle)))
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
        tokio::spawn(server);
        Self { url, state }
    }

    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push_back((method.to_owned(), fault));
    }

    /// Holds the next `method` request until the returned handle releases it.
    pub fn hold_next(&self, method: &str) -> Arc<Hold> {
        let hold = Arc::new(Hold::default());
        self.fail_next(method, Fault::Hold(hold.clone()));
        hold
    }

    /// Carries out the next `method` request at once but holds its answer until released.
    pub fn hold_answer_next(&self, method: &str) -> Arc<Hold> {
        let hold = Arc::new(Hold::default());
        self.fail_next(method, Fault::HoldAnswer(hold.clone()));
        hold
    }

    /// Answers as GitHub does a caller without push access: labels on a create are dropped.
    pub fn drop_labels_on_create(&self) {
        self.state.lock().unwrap().drop_labels_on_create = true;
    }

    pub fn remove_repo(&self, repo: &str) {
        self.state.lock().unwrap().missing_repos.insert(repo.to_owned());
    }

    pub fn set_limits(&self, limits: Limits) {
        self.state.lock().unwrap().limits = limits;
    }

    /// Search answers as if nothing were indexed yet.
    pub fn make_search_stale(&self) {
        self.state.lock().unwrap().stale_search = true;
    }

    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        self.state
            .lock()
            .unwrap()
            .repos
            .get(repo)
            .cloned()
            .unwrap_or_default()
    }

    pub fn all_issues(&self) -> Vec<(String, Issue)> {
        let state = self.state.lock().unwrap();
        let mut all: Vec<_> = state
            .repos
            .iter()
            .flat_map(|(repo, issues)| issues.iter().map(move |i| (repo.clone(), i.clone())))
            .collect();
        all.sort_by(|a, b| (&a.0, a.1.number).cmp(&(&b.0, b.1.number)));
        all
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls from the `from`-th on, each with when it arrived: a benchmark that polls
    /// learns when a call came without being limited by how often it looks.
    pub fn calls_since(&self, from: usize) -> Vec<(Instant, Call)> {
        let state = self.state.lock().unwrap();
        let from = from.min(state.calls.len());
        state.arrivals[from..]
            .iter()
            .copied()
            .zip(state.calls[from..].iter().cloned())
            .collect()
    }

    /// POST, PATCH and DELETE calls made so far.
    pub fn writes(&self) -> usize {
        self.calls().iter().filter(|c| c.method != "GET").count()
    }

    pub fn violations(&self) -> usize {
        self.state.lock().unwrap().violations.len()
    }

    /// Why each violation was one, for a failing assertion to show.
    pub fn violation_reasons(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }
}

fn answer(status: u16, body: Value) -> HttpResponse {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header(("x-ratelimit-limit", "5000"))
        .insert_header(("x-ratelimit-remaining", "4999"))
        .insert_header(("x-ratelimit-reset", reset.to_string()))
        .json(body)
}

fn message(status: u16, text: &str) -> HttpResponse {
    answer(
        status,
        json!({ "message": text, "documentation_url": "https://docs.github.com/rest" }),
    )
}

fn secondary_limit(retry_after: Option<u64>) -> HttpResponse {
    let mut response = message(
        403,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after".parse().unwrap(), secs.to_string().parse().unwrap());
    }
    response
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let query = req.query_string().to_owned();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let take_hold = |answered: bool| {
        let mut state = state.lock().unwrap();
        let i = state.faults.iter().position(|(m, f)| {
            (m == &method || m == "*")
                && match f {
                    Fault::Hold(_) => !answered,
                    Fault::HoldAnswer(_) => answered,
                    _ => false,
                }
        })?;
        match state.faults.remove(i) {
            Some((_, Fault::Hold(hold) | Fault::HoldAnswer(hold))) => Some(hold),
            _ => None,
        }
    };
    if let Some(hold) = take_hold(false) {
        hold.arrived.notify_one();
        hold.released.notified().await;
    }
    let answer_hold = take_hold(true);
    let response = carry_out(&state, &method, &path, &query, &auth, &body, if_none_match);
    if let Some(hold) = answer_hold {
        hold.arrived.notify_one();
        hold.released.notified().await;
    }
    response
}

fn carry_out(
    state: &Mutex<State>,
    method: &str,
    path: &str,
    query: &str,
    auth: &str,
    body: &Value,
    if_none_match: Option<String>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let state = &mut *state;
    state.arrivals.push(Instant::now());
    state.calls.push(Call {
        method: method.to_owned(),
        path: format!("{path}?{query}"),
        body: body.clone(),
        if_none_match: if_none_match.clone(),
    });

    // GitHub App flow: a JWT (three dot-separated parts) finds the installation and mints its token.
    let is_jwt = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| t.split('.').count() == 3);
    if path.ends_with("/installation") && method == "GET" {
        return if is_jwt {
            answer(200, json!({ "id": INSTALLATION_ID }))
        } else {
            message(401, "Bad credentials")
        };
    }
    if path == format!("/app/installations/{INSTALLATION_ID}/access_tokens") {
        return if is_jwt {
            answer(
                201,
                json!({ "token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z", "permissions": { "issues": "write" }, "repository_selection": "all" }),
            )
        } else {
            message(401, "Bad credentials")
        };
    }
    if auth != format!("Bearer {TOKEN}") && auth != format!("Bearer {INSTALLATION_TOKEN}") {
        return message(401, "Bad credentials");
    }

    let fault = state
        .faults
        .iter()
        .position(|(m, f)| (m == method || m == "*") && !matches!(f, Fault::Hold(_) | Fault::HoldAnswer(_)))
        .and_then(|i| state.faults.remove(i))
        .map(|(_, f)| f);
    match &fault {
        Some(Fault::Status(status)) => return message(*status, "injected failure"),
        Some(Fault::SecondaryLimit { retry_after }) => return secondary_limit(*retry_after),
        Some(Fault::TooManyRequests) => return message(429, "Too Many Requests"),
        Some(Fault::Unauthorized) => return message(401, "Bad credentials"),
        Some(Fault::Redirect(location)) => {
            let mut response = answer(301, json!({ "message": "Moved Permanently", "url": location }));
            response
                .headers_mut()
                .insert("location".parse().unwrap(), location.parse().unwrap());
            return response;
        }
        Some(Fault::Invalid {
            resource,
            field,
            code,
        }) => return validation_failed(resource, field, code, "injected"),
        Some(Fault::LoseResponse | Fault::Hold(_) | Fault::HoldAnswer(_)) | None => {}
    }

    if method != "GET" {
        let now = Instant::now();
        let limits = state.limits;
        state
            .writes
            .retain(|t| now.duration_since(*t) + limits.tolerance < limits.window);
        let since_last = state.writes.last().map(|t| now.duration_since(*t));
        let violation = if state.writes.len() >= limits.per_minute {
            Some(format!(
                "{} writes within {:?}",
                state.writes.len() + 1,
                limits.window
            ))
        } else {
            since_last
                .filter(|gap| *gap + limits.interval_tolerance < limits.min_interval)
                .map(|gap| format!("a write {gap:?} after the one before"))
        };
        if let Some(violation) = violation {
            state.violations.push(violation);
            return secondary_limit(Some(1));
        }
        state.writes.push(now);
    }

    let response = contents::route(state, method, path, if_none_match.as_deref())
        .unwrap_or_else(|| route(state, method, path, query, body, if_none_match.as_deref()));
    if matches!(fault, Some(Fault::LoseResponse)) {
        return message(502, "Bad Gateway");
    }
    response
}
