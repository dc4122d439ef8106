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

use super::call::{Answer, Method};
use super::content::IssueContent;
use super::errors::unassignable;
use crate::configuration::{GitHubAuth, GitHubSettings};
use crate::domain::RepoSlug;
pub use crate::github::errors::{GitHubError, Unassignable};

#[derive(Clone, Debug, Deserialize)]
pub struct RemoteIssue {
    /// GitHub's id of the issue (not its number): what a sub-issue is named by.
    #[serde(default)]
    pub id: Option<i64>,
    pub number: i64,
    pub state: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub labels: Vec<RemoteLabel>,
    #[serde(default)]
    pub state_reason: Option<String>,
    /// For ordering what is seen of an issue: an older view changes nothing.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_by: Option<RemoteUser>,
    /// `…/repos/{owner}/{repo}`: where the issue lives now (a transferred one has moved).
    #[serde(default)]
    pub repository_url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RemoteUser {
    pub login: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RemoteLabel {
    pub name: String,
}

impl RemoteIssue {
    /// Whether GitHub already shows `content`: its title and body, and each of its labels
    /// (people may have added others).
    pub fn shows(&self, content: &IssueContent) -> bool {
        self.title == content.title
            && self.body.as_deref() == Some(content.body.as_str())
            && content.labels.iter().all(|l| self.has_label(l))
    }

    /// Its title and body hashed as `IssueContent::text_hash` hashes what the service writes, so
    /// the two compare.
    pub fn text_hash(&self) -> String {
        IssueContent {
            title: self.title.clone(),
            labels: Vec::new(),
            body: self.body.clone().unwrap_or_default(),
        }
        .text_hash()
    }

    pub fn has_label(&self, name: &str) -> bool {
        self.labels.iter().any(|l| l.name == name)
    }
}

/// What a conditional read found.
#[derive(Debug)]
pub enum Read {
    /// 304: nothing changed since the ETag (and GitHub does not count it against the rate limit).
    Unchanged,
    Changed {
        issue: Box<RemoteIssue>,
        etag: Option<String>,
    },
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
    api_url: String,
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
            api_url: settings.api_url.to_string(),
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

    pub(crate) async fn client_for(&self, repo: &RepoSlug) -> Result<Octocrab, GitHubError> {
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

    /// Creates the issue, assigned to `assignees`. GitHub refuses the whole create when one of
    /// them cannot be assigned; that answer (nothing was created) is `Ok(Err(_))`.
    pub async fn create_issue(
        &self,
        repo: &RepoSlug,
        content: &IssueContent,
        assignees: &[String],
    ) -> Result<Result<RemoteIssue, Unassignable>, GitHubError> {
        let client = self.client_for(repo).await?;
        let mut body = json!({ "title": content.title, "body": content.body, "labels": content.labels });
        if !assignees.is_empty() {
            body["assignees"] = json!(assignees);
        }
        let path = format!("/repos/{}/{}/issues", repo.owner(), repo.repo());
        let answer = send_raw(&client, Method::Post, &path, Some(&body), None).await?;
        if answer.status == StatusCode::UNPROCESSABLE_ENTITY && !assignees.is_empty() {
            if let Some(refused) = unassignable(&answer.text) {
                return Ok(Err(refused));
            }
        }
        answer.parse().map(Ok).map_err(GitHubError::gone_is_permanent)
    }

    /// The issue as GitHub shows it now (a read: no write budget). A transferred issue is
    /// followed to where it lives (`Moved` answers are read once more at their `Location`).
    pub async fn get_issue(&self, repo: &RepoSlug, number: i64) -> Result<RemoteIssue, GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!("/repos/{}/{}/issues/{number}", repo.owner(), repo.repo());
        match send(&client, Method::Get, &path, None).await {
            Err(GitHubError::Moved { location }) => {
                let path = self.path_of(&location);
                send(&client, Method::Get, &path, None).await
            }
            other => other,
        }
    }

    /// The issue unless it is unchanged since `etag` (`If-None-Match`). A transferred issue is
    /// `Moved`, a deleted one `Gone`: the caller decides what that means for it.
    pub async fn read_issue(
        &self,
        repo: &RepoSlug,
        number: i64,
        etag: Option<&str>,
    ) -> Result<Read, GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!("/repos/{}/{}/issues/{number}", repo.owner(), repo.repo());
        let mut headers = HeaderMap::new();
        if let Some(value) = etag.and_then(|e| http::HeaderValue::from_str(e).ok()) {
            headers.insert(http::header::IF_NONE_MATCH, value);
        }
        let answer = send_raw(&client, Method::Get, &path, None, Some(headers)).await?;
        if answer.status == StatusCode::NOT_MODIFIED {
            return Ok(Read::Unchanged);
        }
        let etag = answer
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Read::Changed {
            issue: Box::new(answer.parse()?),
            etag,
        })
    }

    /// Adds labels, leaving every other label on the issue as it is.
    pub async fn add_labels(
        &self,
        repo: &RepoSlug,
        number: i64,
        labels: &[String],
    ) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!("/repos/{}/{}/issues/{number}/labels", repo.owner(), repo.repo());
        let _: serde_json::Value =
            send(&client, Method::Post, &path, Some(&json!({ "labels": labels }))).await?;
        Ok(())
    }

    /// Removes one label; one that is not there (a person took it off) is not an error.
    pub async fn remove_label(&self, repo: &RepoSlug, number: i64, label: &str) -> Result<(), GitHubError> {
        let client = self.client_for(repo).await?;
        let path = format!(
            "/repos/{}/{}/issues/{number}/labels/{}",
            repo.owner(),
            repo.repo(),
            utf8_percent_encode(label, NON_ALPHANUMERIC)
        );
        match send::<serde_json::Value>(&client, Method::Delete, &path, None).await {
            Ok(_) | Err(GitHubError::Permanent { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A `Location` GitHub gave, as a path under the configured API URL (GitHub Enterprise
    /// Server's has a path of its own, which the client adds again).
    fn path_of(&self, location: &str) -> String {
        if let Some(rest) = location.strip_prefix(self.api_url.trim_end_matches('/')) {
            return rest.to_owned();
        }
        match location.find("://") {
            Some(scheme) => {
                let after = &location[scheme + 3..];
                after.find('/').map_or("/".to_owned(), |i| after[i..].to_owned())
            }
            None => location.to_owned(),
        }
    }

    pub async fn update_issue(
        &self,
        repo: &RepoSlug,
        number: i64,
        patch: IssuePatch<'_>,
    ) -> Result<RemoteIssue, GitHubError> {
        let client = self.client_for(repo).await?;
        let mut body = serde_json::Map::new();
        // Never `labels`: a PATCH replaces the whole set, people's labels with it (`sync/labels.rs`).
        if let Some(content) = patch.content {
            body.insert("title".into(), json!(content.title));
            body.insert("body".into(), json!(content.body));
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
}

pub(crate) async fn send<T: serde::de::DeserializeOwned>(
    client: &Octocrab,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, GitHubError> {
    send_raw(client, method, path, body, None).await?.parse()
}

/// Sends the request; only a call that got no answer is an error here. `headers` go on a GET
/// (a conditional read's `If-None-Match`). Every call is counted in
/// `deepsource_sync_github_requests_total`.
pub(crate) async fn send_raw(
    client: &Octocrab,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    headers: Option<HeaderMap>,
) -> Result<Answer, GitHubError> {
    let answer = send_uncounted(client, method, path, body, headers).await;
    super::observe::count_call(method, path, &answer);
    answer
}

async fn send_uncounted(
    client: &Octocrab,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    headers: Option<HeaderMap>,
) -> Result<Answer, GitHubError> {
    let transport = |e: octocrab::Error| GitHubError::Transient {
        detail: format!("no answer from GitHub: {e}"),
    };
    let response = match method {
        Method::Get => client._get_with_headers(path, headers).await,
        Method::Post => client._post(path, body).await,
        Method::Patch => client._patch(path, body).await,
        Method::Delete => client._delete(path, body).await,
    }
    .map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = client.body_to_string(response).await.map_err(transport)?;
    Ok(Answer {
        status,
        headers,
        text,
    })
}
