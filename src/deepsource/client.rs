//! DeepSource's GraphQL API: one POST per query, and every way an answer can fail sorted into
//! what the caller does next (wait, retry later, stop loudly).
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::budget::{Budget, MAX_INLINE_WAIT};

/// Without `Retry-After`, a 429 is waited out this long (DeepSource's limit is per hour).
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The longest `Retry-After` believed; a larger one is taken as this.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);
/// After DeepSource rejects the token, lookups and comparisons stop this long.
pub const AUTH_PAUSE: Duration = Duration::from_secs(300);
/// One request, connection to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeepSourceError {
    /// A bad or expired token: nothing can be read until an operator fixes it.
    #[error("DeepSource rejected the token (401): {0}")]
    Unauthorized(String),
    #[error("rate limited by DeepSource; retry in {wait:?}")]
    RateLimited { wait: Duration },
    /// 5xx, a timeout, a dropped connection, `errors` in a 200, an answer that does not parse:
    /// this request failed, another may not.
    #[error("DeepSource request failed: {0}")]
    Failed(String),
    /// The service's share of the token's hourly requests is spent for now.
    #[error("DeepSource request budget spent; next request in {wait:?}")]
    Budget { wait: Duration },
    #[error("the request budget could not be read: {0}")]
    Database(String),
}

/// A client for one endpoint and token.
#[derive(Clone, Debug)]
pub struct DeepSource {
    http: reqwest::Client,
    url: String,
    token: SecretString,
    budget: Option<Budget>,
}

impl DeepSource {
    pub fn new(url: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        Self::with_timeout(url, token, REQUEST_TIMEOUT)
    }

    /// As `new`, giving up on a request after `timeout` (30 s by default).
    pub fn with_timeout(url: &str, token: SecretString, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("deepsource-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            url: url.to_owned(),
            token,
            budget: None,
        })
    }

    /// Every request from now on is taken from `budget` first, and a 429 blocks it.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Waits for the budget's next request when that is soon; otherwise says when.
    async fn take_from_budget(&self) -> Result<(), DeepSourceError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        loop {
            match budget.take().await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) if wait <= MAX_INLINE_WAIT => tokio::time::sleep(wait).await,
                Ok(Some(wait)) => return Err(DeepSourceError::Budget { wait }),
                Err(e) => return Err(DeepSourceError::Database(e.to_string())),
            }
        }
    }

    /// Runs `query` and returns its `data`. A 200 that carries `errors` is a failure: the
    /// fields they name are missing or wrong, so nothing in the answer can be trusted whole.
    #[tracing::instrument(skip_all, fields(query = query_name(query)))]
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, DeepSourceError> {
        self.take_from_budget().await?;
        let answer = self.send(query, variables).await;
        crate::metrics::deepsource_request(match &answer {
            Ok(_) => "ok",
            Err(DeepSourceError::RateLimited { .. }) => "rate_limited",
            Err(DeepSourceError::Unauthorized(_)) => "unauthorized",
            Err(_) => "failed",
        });
        if let (Err(DeepSourceError::RateLimited { wait }), Some(budget)) = (&answer, &self.budget) {
            // Every replica on this token holds off, not only the one that was told.
            budget
                .block(*wait)
                .await
                .map_err(|e| DeepSourceError::Database(e.to_string()))?;
        }
        answer
    }

    /// One request and what its answer means.
    async fn send(&self, query: &str, variables: Value) -> Result<Value, DeepSourceError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| DeepSourceError::Failed(format!("no answer: {e}")))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response
            .bytes()
            .await
            .map_err(|e| DeepSourceError::Failed(format!("answer cut off: {e}")))?;
        classify(status, retry_after, &body)
    }
}

/// The operation's name (`query Snapshot(...)`), for logs; never the variables.
fn query_name(query: &str) -> &str {
    query
        .trim_start()
        .strip_prefix("query")
        .and_then(|rest| rest.trim_start().split(['(', '{', ' ']).next())
        .filter(|name| !name.is_empty())
        .unwrap_or("anonymous")
}

pub(crate) fn classify(status: u16, retry_after: Option<u64>, body: &[u8]) -> Result<Value, DeepSourceError> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    match status {
        200 => {}
        401 => return Err(DeepSourceError::Unauthorized(text())),
        429 => {
            let wait = retry_after
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
                .clamp(Duration::from_secs(1), MAX_RATE_LIMIT_WAIT);
            return Err(DeepSourceError::RateLimited { wait });
        }
        other => return Err(DeepSourceError::Failed(format!("HTTP {other}: {}", text()))),
    }
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| DeepSourceError::Failed(format!("answer is not JSON ({e}): {}", text())))?;
    if let Some(errors) = answer
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let message = e["message"].as_str().unwrap_or("(no message)");
                match e.get("path").filter(|p| !p.is_null()) {
                    Some(path) => format!("{message} at {path}"),
                    None => message.to_owned(),
                }
            })
            .collect();
        return Err(DeepSourceError::Failed(format!(
            "GraphQL errors: {}",
            messages.join("; ")
        )));
    }
    match answer.get("data") {
        Some(data) if !data.is_null() => Ok(data.clone()),
        _ => Err(DeepSourceError::Failed(format!(
            "answer without data: {}",
            text()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_what_to_do_next() {
        let ok = br#"{"data":{"repository":null}}"#;
        assert_eq!(classify(200, None, ok).unwrap(), json!({"repository": null}));
        assert!(matches!(
            classify(401, None, b"bad token"),
            Err(DeepSourceError::Unauthorized(_))
        ));
        assert_eq!(
            classify(429, Some(7), b""),
            Err(DeepSourceError::RateLimited {
                wait: Duration::from_secs(7)
            })
        );
        assert_eq!(
            classify(429, None, b""),
            Err(DeepSourceError::RateLimited {
                wait: DEFAULT_RATE_LIMIT_WAIT
            })
        );
        assert_eq!(
            classify(429, Some(u64::MAX), b""),
            Err(DeepSourceError::RateLimited {
                wait: MAX_RATE_LIMIT_WAIT
            })
        );
        for (status, body) in [
            (502, &b"bad gateway"[..]),
            (200, b"<html>"),
            (200, br#"{"data":null}"#),
            (404, b""),
        ] {
            assert!(
                matches!(classify(status, None, body), Err(DeepSourceError::Failed(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn errors_in_a_200_fail_the_query_and_say_where() {
        let partial = br#"{"errors":[{"message":"timeout","path":["repository","issues"]}],"data":{"repository":{"issues":null}}}"#;
        let err = classify(200, None, partial).unwrap_err();
        assert!(
            err.to_string().contains("timeout at [\"repository\",\"issues\"]"),
            "{err}"
        );
        // An empty list is no error.
        assert!(classify(200, None, br#"{"errors":[],"data":{"a":1}}"#).is_ok());
    }

    #[test]
    fn the_query_name_is_logged_not_its_text() {
        assert_eq!(query_name("query Snapshot($a: String) { x }"), "Snapshot");
        assert_eq!(query_name("  query Occurrences{ x }"), "Occurrences");
        assert_eq!(query_name("{ x }"), "anonymous");
    }
}
