//! One GitHub call as the client makes it: its method, and the answer whatever its status, read
//! into what it means for the sync.
use http::{HeaderMap, StatusCode};

use super::errors::{classify, GitHubError};

#[derive(Clone, Copy)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

/// GitHub's answer, whatever its status.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// A success read as `T`; anything else as what it means for the sync.
    pub fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, GitHubError> {
        let status = self.status;
        if status.is_success() {
            // Some answers (a 204) have no body; to a caller that wants none, that is `null`.
            let text = if self.text.trim().is_empty() {
                "null"
            } else {
                self.text.as_str()
            };
            return serde_json::from_str(text).map_err(|e| GitHubError::Transient {
                detail: format!("unexpected answer from GitHub ({status}): {e}"),
            });
        }
        Err(classify(status, &self.headers, &self.text))
    }
}
