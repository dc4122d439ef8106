//! An in-memory DeepSource GraphQL API for tests and benchmarks: repositories with open
//! RepositoryIssues and their occurrences, Relay pages of at most 100 with opaque cursors, and
//! the failures the real one has (`errors` in a 200, 429 with and without `Retry-After`, 5xx,
//! 401, one page that fails) on demand.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// A request held until the test releases it, as at the fake GitHub.
pub use crate::fake_github::Hold;
use serde_json::{json, Value};

pub const TOKEN: &str = "dsp_test_token";
const MAX_PAGE: usize = 100;

#[derive(Clone, Debug, Default)]
pub struct Finding {
    pub id: String,
    pub shortcode: String,
    pub title: String,
    pub category: String,
    pub severity: String,
    pub analyzer: String,
    /// `autofixAvailable`, left out of the answer when `None`.
    pub autofix_available: Option<bool>,
    /// (path, begin line, end line)
    pub occurrences: Vec<(String, i64, i64)>,
}

impl Finding {
    /// A finding with `count` occurrences in `file`, one per line from 1.
    pub fn new(id: &str, shortcode: &str, severity: &str, file: &str, count: usize) -> Self {
        Self {
            id: id.into(),
            shortcode: shortcode.into(),
            title: format!("{shortcode} in {file}"),
            category: "BUG_RISK".into(),
            severity: severity.into(),
            analyzer: "python".into(),
            autofix_available: None,
            occurrences: (1..=count as i64).map(|l| (file.to_owned(), l, l)).collect(),
        }
    }
}

/// What the next request gets instead of its answer.
#[derive(Clone, Debug)]
pub enum Fault {
    Status(u16),
    TooManyRequests {
        retry_after: Option<u64>,
    },
    /// A 200 whose `errors` name the field that failed, with what data there was.
    GraphQlErrors,
    Unauthorized,
    /// The answer comes, but one item of its page is missing (as when a listing shifts while
    /// it is paged): the pages no longer add up to the count.
    MissingItem,
    /// The page says more follow but gives no cursor to them.
    NoCursor,
    /// The answer comes only after this long (a client with a shorter timeout gives up).
    Slow(std::time::Duration),
    /// The request waits at the fake until released, then is answered from what is open then.
    Hold(Arc<Hold>),
}

/// An ignore rule as DeepSource's API lists it.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    pub shortcode: String,
    /// `REPOSITORY` or `FILE`.
    pub level: String,
    /// `FOREVER`, `PATTERN` or `TEST_PATTERN`.
    pub kind: String,
    pub file_path: Option<String>,
    pub glob: Option<String>,
    pub created_at: String,
}

#[derive(Default)]
struct State {
    /// (provider, login, name) → its open findings, in listing order.
    repositories: BTreeMap<(String, String, String), Vec<Finding>>,
    /// (provider, login, name) → its ignore rules, and the categories it does not report.
    rules: BTreeMap<(String, String, String), Vec<Rule>>,
    categories_off: BTreeMap<(String, String, String), Vec<String>>,
    /// (provider, login) → the shortcodes its team suppressed.
    suppressed: BTreeMap<(String, String), Vec<String>>,
    faults: VecDeque<(usize, Fault)>,
    requests: usize,
}

#[derive(Clone)]
pub struct FakeDeepSource {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeDeepSource {
    /// Listens on a free port of 127.0.0.1, on a thread of its own.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::JsonConfig::default().limit(1 << 20))
                .route("/graphql/", web::post().to(handle))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        Self {
            url: format!("http://127.0.0.1:{port}/graphql/"),
            state,
        }
    }

    /// Sets what `login/name` (on GitHub) lists as open now.
    pub fn set_open(&self, login_name: &str, findings: Vec<Finding>) {
        let (login, name) = login_name.split_once('/').unwrap();
        self.state
            .lock()
            .unwrap()
            .repositories
            .insert(("GITHUB".into(), login.into(), name.into()), findings);
    }

    /// Sets `login/name`'s ignore rules and the categories it no longer reports.
    pub fn set_rules(&self, login_name: &str, rules: Vec<Rule>, categories_off: &[&str]) {
        let (login, name) = login_name.split_once('/').unwrap();
        let key = ("GITHUB".to_owned(), login.to_owned(), name.to_owned());
        let mut state = self.state.lock().unwrap();
        state.rules.insert(key.clone(), rules);
        state
            .categories_off
            .insert(key, categories_off.iter().map(|c| c.to_string()).collect());
    }

    /// Sets the shortcodes the team of `login` (on GitHub) suppressed.
    pub fn set_suppressed(&self, login: &str, shortcodes: &[&str]) {
        self.state.lock().unwrap().suppressed.insert(
            ("GITHUB".into(), login.into()),
            shortcodes.iter().map(|s| s.to_string()).collect(),
        );
    }

    /// The `n`th request from now (1 = the next one) gets `fault` instead of its answer.
    pub fn fail_request(&self, n: usize, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        let at = state.requests + n;
        state.faults.push_back((at, fault));
    }

    /// Holds the next request until released.
    pub fn hold_next(&self) -> Arc<Hold> {
        let hold = Arc::new(Hold::default());
        self.fail_request(1, Fault::Hold(hold.clone()));
        hold
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

fn offset(after: &Value) -> usize {
    after
        .as_str()
        .and_then(|c| c.strip_prefix("cursor:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One Relay page of `items` from `after`, at most `first` (and never more than 100) long.
fn connection<T>(items: &[T], first: usize, after: &Value, node: impl Fn(&T) -> Value) -> Value {
    let start = offset(after).min(items.len());
    let end = (start + first.min(MAX_PAGE)).min(items.len());
    let edges: Vec<Value> = (start..end)
        .map(|i| json!({ "cursor": format!("cursor:{}", i + 1), "node": node(&items[i]) }))
        .collect();
    json!({
        "totalCount": items.len(),
        "pageInfo": {
            "hasNextPage": end < items.len(),
            "endCursor": if end > start { Value::from(format!("cursor:{end}")) } else { Value::Null },
        },
        "edges": edges,
    })
}

fn occurrence(o: &(String, i64, i64)) -> Value {
    json!({ "id": occurrence_id(o), "path": o.0, "beginLine": o.1, "beginColumn": 1, "endLine": o.2, "endColumn": 10,
            "title": format!("at line {}", o.1) })
}

/// The same occurrence has the same id in every answer, as DeepSource's global ids do.
pub fn occurrence_id(o: &(String, i64, i64)) -> String {
    format!("OC:{}:{}-{}", o.0, o.1, o.2)
}

fn repository_issue(f: &Finding) -> Value {
    let mut node = json!({
        "id": f.id,
        "issue": { "shortcode": f.shortcode, "title": f.title, "category": f.category,
                   "severity": f.severity, "shortDescription": format!("About {}", f.shortcode),
                   "analyzer": { "shortcode": f.analyzer, "name": "Python" } },
        // As the real API: the first page of occurrences comes with the issue.
        "occurrences": connection(&f.occurrences, MAX_PAGE, &Value::Null, occurrence),
    });
    if let Some(available) = f.autofix_available {
        node["issue"]["autofixAvailable"] = available.into();
    }
    node
}

async fn handle(
    req: HttpRequest,
    body: web::Json<Value>,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    // Numbered as they arrive; a slow answer waits without holding the others up.
    let fault = {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        let now = state.requests;
        let i = state.faults.iter().position(|(at, _)| *at == now);
        i.and_then(|i| state.faults.remove(i)).map(|(_, fault)| fault)
    };
    let fault = match fault {
        Some(Fault::Slow(wait)) => {
            actix_web::rt::time::sleep(wait).await;
            None
        }
        Some(Fault::Hold(hold)) => {
            hold.here().await;
            None
        }
        other => other,
    };
    let state = state.lock().unwrap();
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if !authorized {
        return HttpResponse::Unauthorized().json(json!({ "detail": "Invalid token" }));
    }
    let mut damage = None;
    if let Some(fault) = fault {
        match fault {
            Fault::MissingItem | Fault::NoCursor => damage = Some(fault),
            Fault::Slow(_) | Fault::Hold(_) => unreachable!("waited out above"),
            Fault::Status(code) => {
                return HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                    .body("upstream trouble")
            }
            Fault::TooManyRequests { retry_after } => {
                let mut answer = HttpResponse::TooManyRequests();
                if let Some(secs) = retry_after {
                    answer.insert_header(("retry-after", secs.to_string()));
                }
                return answer.json(json!({ "detail": "Request was throttled." }));
            }
            Fault::GraphQlErrors => {
                return HttpResponse::Ok().json(json!({
                    "errors": [{ "message": "Internal server error", "path": ["repository", "issues"] }],
                    "data": { "repository": { "issues": null } },
                }))
            }
            Fault::Unauthorized => {
                return HttpResponse::Unauthorized().json(json!({ "detail": "Token expired" }))
            }
        }
    }
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let repository_key = || {
        (
            vars["provider"].as_str().unwrap_or_default().to_owned(),
            vars["login"].as_str().unwrap_or_default().to_owned(),
            vars["name"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let data = if query.contains("ignoreRules(") {
        let key = repository_key();
        let categories = [
            "ANTI_PATTERN",
            "BUG_RISK",
            "PERFORMANCE",
            "SECURITY",
            "STYLE",
            "DOCUMENTATION",
        ];
        let off = state.categories_off.get(&key).cloned().unwrap_or_default();
        match state.repositories.get(&key) {
            None => json!({ "repository": null }),
            Some(_) => json!({ "repository": {
                "issueCategorySettings": categories.iter().map(|c| json!({
                    "category": c, "isReported": !off.iter().any(|o| o == c), "canFailCheck": true,
                })).collect::<Vec<_>>(),
                "ignoreRules": connection(state.rules.get(&key).map_or(&[][..], Vec::as_slice), MAX_PAGE, &vars["after"], |r: &Rule| json!({
                    "id": format!("IR:{}:{}", r.shortcode, r.kind), "level": r.level, "type": r.kind,
                    "filePath": r.file_path, "globPattern": r.glob, "createdAt": r.created_at,
                    "issue": { "shortcode": r.shortcode },
                })),
            }}),
        }
    } else if query.contains("suppressedIssues(") {
        let key = (
            vars["provider"].as_str().unwrap_or_default().to_owned(),
            vars["login"].as_str().unwrap_or_default().to_owned(),
        );
        let suppressed = state.suppressed.get(&key).cloned().unwrap_or_default();
        json!({ "account": {
            "suppressedIssues": connection(&suppressed, MAX_PAGE, &vars["after"], |s: &String| json!({
                "id": format!("TS:{s}"), "createdAt": "2026-10-01T08:00:00Z", "issue": { "shortcode": s },
            })),
        }})
    } else if query.contains("repository(") {
        let key = (
            vars["provider"].as_str().unwrap_or_default().to_owned(),
            vars["login"].as_str().unwrap_or_default().to_owned(),
            vars["name"].as_str().unwrap_or_default().to_owned(),
        );
        match state.repositories.get(&key) {
            None => json!({ "repository": null }),
            Some(findings) => json!({ "repository": {
                "issues": connection(findings, MAX_PAGE, &vars["after"], repository_issue),
            }}),
        }
    } else if query.contains("f0: node(") {
        // Several findings by id, each under its alias: f0 for $i0, and so on.
        let mut answer = serde_json::Map::new();
        for i in 0.. {
            let Some(id) = vars[format!("i{i}").as_str()].as_str() else {
                break;
            };
            let node = match state.repositories.values().flatten().find(|f| f.id == id) {
                None => Value::Null,
                Some(f) => repository_issue(f),
            };
            answer.insert(format!("f{i}"), node);
        }
        Value::Object(answer)
    } else if query.contains("node(") {
        let id = vars["id"].as_str().unwrap_or_default();
        let found = state.repositories.values().flatten().find(|f| f.id == id);
        match found {
            None => json!({ "node": null }),
            Some(f) => json!({ "node": {
                "occurrences": connection(&f.occurrences, MAX_PAGE, &vars["after"], occurrence),
            }}),
        }
    } else {
        return HttpResponse::Ok().json(json!({ "errors": [{ "message": "unknown query" }], "data": null }));
    };
    let mut data = data;
    if damage.is_none() {
        return HttpResponse::Ok().json(json!({ "data": data }));
    }
    let page = if query.contains("ignoreRules(") {
        &mut data["repository"]["ignoreRules"]
    } else if query.contains("suppressedIssues(") {
        &mut data["account"]["suppressedIssues"]
    } else {
        match data.get_mut("repository") {
            Some(repository) => &mut repository["issues"],
            None => &mut data["node"]["occurrences"],
        }
    };
    match damage {
        Some(Fault::MissingItem) => {
            page["edges"].as_array_mut().unwrap().pop();
        }
        Some(Fault::NoCursor) => {
            page["pageInfo"] = json!({ "hasNextPage": true, "endCursor": null });
        }
        _ => {}
    }
    HttpResponse::Ok().json(json!({ "data": data }))
}
