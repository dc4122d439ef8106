//! GitHub's REST API through octocrab (auth, base URL, transport), with status codes and
//! rate-limit headers read here: octocrab's own retries are off, since retrying a create blindly
//! duplicates issues and ignores `retry-after`.
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::render::IssueContent;
use crate::configuration::{GitHubAuth, GitHubSettings};
use crate::domain::RepoSlug;

/// Secondary-limit answers without a header ask for at least this long a pause.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);
/// Recent issues looked through for the marker when search has not indexed a new issue yet.
const MARKER_SCAN_PAGES: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("rate limited until {until}: {detail}")]
    RateLimited { until: DateTime<Utc>, detail: String },
    /// Worth retrying. For a create, the issue may or may not exist now.
    #[error("{detail}")]
    Transient { detail: String },
    /// Retrying will not help (404 repository, 410 issues disabled, 422, 403 forbidden).
    #[error("GitHub answered {status}: {detail}")]
    Permanent { status: u16, detail: String },
    #[error("GitHub rejected the credentials: {0}")]
    Unauthorized(String),
}

impl GitHubError {
    /// GitHub answered and the request did nothing: a create that failed so did not create.
    pub fn is_definite(&self) -> bool {
        !matches!(self, GitHubError::Transient { .. })
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct RemoteIssue {
    pub number: i64,
    pub state: String,
    #[serde(default)]
    pub body: Option<String>,
}

/// What a PATCH changes.
#[derive(Debug, Default)]
pub struct IssuePatch<'a> {
    pub content: Option<&'a IssueContent>,
    pub close: bool,
    pub reopen: bool,
}

pub struct GitHub {
    /// With a token: the client for every call. With an app: authenticates as the app, to find
    /// installations.
    root: Octocrab,
    app_id: Option<u64>,
    token_fingerprint: Option<String>,
    installations: Mutex<HashMap<String, Octocrab>>,
}

impl GitHub {
    /// `None` without credentials: the worker then runs dry.
    pub fn new(settings: &GitHubSettings) -> anyhow::Result<Option<Self>> {
        let builder = Octocrab::builder()
            .base_uri(settings.api_url.as_str())?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        let (root, app_id, token_fingerprint) = match &settings.auth {
            GitHubAuth::DryRun => return Ok(None),
            GitHubAuth::Token(token) => {
                let fingerprint = hex::encode(&Sha256::digest(token.expose_secret().as_bytes())[..6]);
                (
                    builder.personal_token(token.expose_secret().to_owned()).build()?,
                    None,
                    Some(fingerprint),
                )
            }
            GitHubAuth::App { app_id, private_key } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key.expose_secret().as_bytes())?;
                (builder.app((*app_id).into(), key).build()?, Some(*app_id), None)
            }
        };
        Ok(Some(Self {
            root,
            app_id,
            token_fingerprint,
            installations: Mutex::new(HashMap::new()),
        }))
    }

    /// The write budget is per credential: per token, or per app installation.
    pub fn budget_key(&self, repo: &RepoSlug) -> String {
        match (&self.token_fingerprint, self.app_id) {
            (Some(fingerprint), _) => format!("token:{fingerprint}"),
            (None, Some(app_id)) => format!("app:{app_id}:{}", repo.owner()),
            (None, None) => "none".into(),
        }
    }

    async fn client_for(&self, repo: &RepoSlug) -> Result<Octocrab, GitHubError> {
        if self.app_id.is_none() {
            return Ok(self.root.clone());
        }
        let mut installations = self.installations.lock().await;
        if let Some(client) = installations.get(repo.owner()) {
            return Ok(client.clone());
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let path = format!("/repos/{}/{}/installation", repo.owner(), repo.repo());
        let installation: Installation = send(&self.root, Method::Get, &path, None).await?;
        let client = self
            .root
            .installation(installation.id.into())
            .map_err(|e| GitHubError::Transient {
                detail: e.to_string(),
            })?;
        installations.insert(repo.owner().to_owned(), client.clone());
        Ok(client)
    }

    pub async fn create_issue(
        &self,
        repo: &RepoSlug,
        content: &IssueContent,
    ) -> Result<RemoteIssue, GitHubError> {
        let client = self.client_for(repo).await?;
        let body = json!({ "title": content.title, "body": content.body, "labels": content.labels });
        let path = format!("/repos/{}/{}/issues", repo.owner(), repo.repo());
        send(&client, Method::Post, &path, Some(&body)).await
    }

    pub async fn update_issue(
        &self,
        repo: &RepoSlug,
        number: i64,
        patch: IssuePatch<'_>,
    ) -> Result<RemoteIssue, GitHubError> {
        let client = self.client_for(repo).await?;
        let mut body = serde_json::Map::new();
        if let Some(content) = patch.content {
            body.insert("title".into(), json!(content.title));
            body.insert("body".into(), json!(content.body));
            body.insert("labels".into(), json!(content.labels));
        }
        if patch.close {
            body.insert("state".into(), json!("closed"));
            body.insert("state_reason".into(), json!("completed"));
        }
        if patch.reopen {
            body.insert("state".into(), json!("open"));
        }
        let path = format!("/repos/{}/{}/issues/{number}", repo.owner(), repo.repo());
        send(&client, Method::Patch, &path, Some(&body.into())).await
    }

    pub async fn comment(&self, repo: &RepoSlug, number: i64, text: &str) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!("/repos/{}/{}/issues/{number}/comments", repo.owner(), repo.repo());
        let _: serde_json::Value = send(&client, Method::Post, &path, Some(&json!({ "body": text }))).await?;
        Ok(())
    }

    /// Looks for the issue carrying `marker`: by search first, then through the repository's
    /// newest `deepsource`-labelled issues, since search lags behind a create by a while.
    pub async fn find_by_marker(
        &self,
        repo: &RepoSlug,
        marker: &str,
    ) -> Result<Option<RemoteIssue>, GitHubError> {
        let client = self.client_for(repo).await?;
        #[derive(Deserialize)]
        struct Search {
            items: Vec<RemoteIssue>,
        }
        let needle = marker.trim_start_matches("<!-- ").trim_end_matches(" -->");
        let query = format!("\"{needle}\" repo:{repo} is:issue in:body");
        let path = format!(
            "/search/issues?q={}",
            utf8_percent_encode(&query, NON_ALPHANUMERIC)
        );
        let found: Search = send(&client, Method::Get, &path, None).await?;
        let has_marker = |issue: &RemoteIssue| issue.body.as_deref().is_some_and(|b| b.contains(marker));
        if let Some(issue) = found.items.into_iter().find(has_marker) {
            return Ok(Some(issue));
        }
        for page in 1..=MARKER_SCAN_PAGES {
            let path = format!(
                "/repos/{}/{}/issues?labels=deepsource&state=all&sort=created&direction=desc&per_page=100&page={page}",
                repo.owner(),
                repo.repo()
            );
            let issues: Vec<RemoteIssue> = send(&client, Method::Get, &path, None).await?;
            let last_page = issues.len() < 100;
            if let Some(issue) = issues.into_iter().find(has_marker) {
                return Ok(Some(issue));
            }
            if last_page {
                break;
            }
        }
        Ok(None)
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

async fn send<T: serde::de::DeserializeOwned>(
    client: &Octocrab,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, GitHubError> {
    let transport = |e: octocrab::Error| GitHubError::Transient {
        detail: format!("no answer from GitHub: {e}"),
    };
    let response = match method {
        Method::Get => client._get(path).await,
        Method::Post => client._post(path, body).await,
        Method::Patch => client._patch(path, body).await,
    }
    .map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = client.body_to_string(response).await.map_err(transport)?;
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|e| GitHubError::Transient {
            detail: format!("unexpected answer from GitHub ({status}): {e}"),
        });
    }
    Err(classify(status, &headers, &text))
}

fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> GitHubError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = Utc::now();
    let retry_after = header("retry-after")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|secs| now + chrono::Duration::seconds(secs.max(1)));
    let reset = (header("x-ratelimit-remaining") == Some("0"))
        .then(|| header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()))
        .flatten()
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    let says_rate_limit = message.to_ascii_lowercase().contains("rate limit");
    match status.as_u16() {
        401 => GitHubError::Unauthorized(message),
        403 | 429 if retry_after.is_some() || reset.is_some() || says_rate_limit || status == 429 => {
            let until = retry_after
                .or(reset)
                .unwrap_or_else(|| now + chrono::Duration::from_std(DEFAULT_BACKOFF).unwrap_or_default());
            GitHubError::RateLimited {
                until,
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

    #[test]
    fn rate_limits_are_transient_with_a_time() {
        let secondary = r#"{"message":"You have exceeded a secondary rate limit"}"#;
        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "30")]),
            secondary,
        );
        let GitHubError::RateLimited { until, .. } = e else {
            panic!("{e:?}")
        };
        assert!((until - Utc::now()).num_seconds() >= 29);

        let e = classify(StatusCode::FORBIDDEN, &headers(&[]), secondary);
        let GitHubError::RateLimited { until, .. } = e else {
            panic!("{e:?}")
        };
        assert!(
            (until - Utc::now()).num_seconds() >= 59,
            "no header: at least 60 s"
        );

        let e = classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "4102444800"),
            ]),
            r#"{"message":"API rate limit exceeded"}"#,
        );
        let GitHubError::RateLimited { until, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(until.timestamp(), 4102444800);

        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers(&[]), "{}"),
            GitHubError::RateLimited { .. }
        ));
    }

    #[test]
    fn other_answers() {
        let none = headers(&[]);
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &none, "{}"),
            GitHubError::Unauthorized(_)
        ));
        for status in [403, 404, 410, 422] {
            let e = classify(
                StatusCode::from_u16(status).unwrap(),
                &none,
                r#"{"message":"Not Found"}"#,
            );
            assert!(matches!(e, GitHubError::Permanent { .. }), "{status}");
        }
        for status in [500, 502, 503] {
            let e = classify(StatusCode::from_u16(status).unwrap(), &none, "oops");
            assert!(matches!(e, GitHubError::Transient { .. }), "{status}");
        }
    }
}
