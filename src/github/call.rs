//! One GitHub call as the client makes it: its method, and the answer whatever its status, read
//! into what it means for the sync.
use http::{HeaderMap, StatusCode};

use super::errors::{classify, GitHubError};

/// How long after a GitHub write was begun it may still land: the client's connect and read
/// timeouts with room to spare. A create or comment whose answer was lost is looked for only
/// after this, so a call still on the wire (a stalled worker's) is not followed by a second one.
pub const CALL_SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

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
