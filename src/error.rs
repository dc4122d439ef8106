use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::admin::AdminError;
use crate::domain::{EnvelopeError, SignatureError};
use crate::github_webhooks::GitHubEventError;
use crate::ingest::IngestError;

/// Seconds DeepSource (or a load balancer) is asked to wait after a 503.
const RETRY_AFTER_SECS: &str = "5";

/// Every way a request can fail, each with the status DeepSource's retry logic needs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Unauthorized(#[from] SignatureError),
    #[error("body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    UnreadableBody(String),
    #[error("the body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// The bytes of the bodies being read at once are at `MAX_INFLIGHT_BODY_BYTES`.
    #[error("too many deliveries are being received at once, retry later")]
    IntakeBusy,
    #[error(transparent)]
    BadEnvelope(#[from] EnvelopeError),
    /// The cause is logged where it happens; the client only learns to retry.
    #[error("storage is unavailable, retry later")]
    StorageUnavailable(IngestError),
    /// Postgres refused the event itself (alone, not with its batch): retrying cannot help.
    #[error("{0}")]
    EventRefused(String),
    #[error("not ready: {0}")]
    NotReady(String),
    /// A GitHub delivery whose `X-Hub-Signature-256` is missing or wrong.
    #[error("{0}")]
    GitHubUnauthorized(String),
    #[error(transparent)]
    BadGitHubEvent(#[from] GitHubEventError),
    /// `GET /metrics` without the right `METRICS_TOKEN`.
    #[error("missing or wrong bearer token")]
    MetricsUnauthorized,
    /// An endpoint whose setting is not set.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// The admin API or status page without the right `ADMIN_TOKEN`.
    #[error("missing or wrong admin token")]
    AdminUnauthorized,
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Refused(reason) => ApiError::EventRefused(format!(
                "the database refuses this event ({reason}); it cannot be stored as sent"
            )),
            other => ApiError::StorageUnavailable(other),
        }
    }
}

impl ApiError {
    /// The `outcome` label of `deepsource_sync_webhook_requests_total` (and of the GitHub
    /// endpoint's counter) for a refused delivery. A body that did not arrive in time is the
    /// client's failure, counted as `bad_request`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_)
            | ApiError::GitHubUnauthorized(_)
            | ApiError::MetricsUnauthorized
            | ApiError::AdminUnauthorized => "bad_signature",
            ApiError::PayloadTooLarge { .. } => "too_large",
            ApiError::UnreadableBody(_)
            | ApiError::BodyTimeout(_)
            | ApiError::BadEnvelope(_)
            | ApiError::EventRefused(_)
            | ApiError::BadGitHubEvent(_) => "bad_request",
            ApiError::IntakeBusy | ApiError::StorageUnavailable(_) | ApiError::NotReady(_) => "unavailable",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::Admin(AdminError::Database(_)) => "unavailable",
            ApiError::Admin(_) => "bad_request",
        }
    }

    /// The `error` field of every error body: a stable code scripts can match on (the
    /// `message` beside it is for people).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) | ApiError::GitHubUnauthorized(_) => "bad_signature",
            ApiError::MetricsUnauthorized | ApiError::AdminUnauthorized => "unauthorized",
            ApiError::PayloadTooLarge { .. } => "too_large",
            ApiError::UnreadableBody(_) | ApiError::BadEnvelope(_) | ApiError::BadGitHubEvent(_) => {
                "bad_request"
            }
            ApiError::EventRefused(_) => "refused",
            ApiError::BodyTimeout(_) => "timeout",
            ApiError::IntakeBusy => "busy",
            ApiError::StorageUnavailable(_) => "unavailable",
            ApiError::NotReady(_) => "not_ready",
            ApiError::NotConfigured(_) => "not_configured",
            ApiError::Admin(AdminError::NotFound(_)) => "not_found",
            ApiError::Admin(AdminError::BadRequest(_)) => "bad_request",
            ApiError::Admin(AdminError::Conflict(_)) => "conflict",
            ApiError::Admin(AdminError::Database(e)) if crate::db::is_unavailable(e) => "unavailable",
            ApiError::Admin(AdminError::Database(_)) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnreadableBody(_)
            | ApiError::BadEnvelope(_)
            | ApiError::EventRefused(_)
            | ApiError::BadGitHubEvent(_) => StatusCode::BAD_REQUEST,
            ApiError::GitHubUnauthorized(_) | ApiError::MetricsUnauthorized | ApiError::AdminUnauthorized => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::NotConfigured(_) => StatusCode::NOT_FOUND,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::StorageUnavailable(_) | ApiError::NotReady(_) | ApiError::IntakeBusy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Admin(AdminError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Admin(AdminError::BadRequest(_)) => StatusCode::BAD_REQUEST,
            ApiError::Admin(AdminError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::Admin(AdminError::Database(e)) if crate::db::is_unavailable(e) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Admin(AdminError::Database(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self.status_code() {
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
                if matches!(self, ApiError::IntakeBusy) {
                    response.force_close(); // its body was not read either
                }
            }
            // Answered before the body was read whole: what is left of it must not be taken for
            // the next request on this connection, so the connection ends with the answer.
            StatusCode::UNAUTHORIZED | StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
                if matches!(self, ApiError::MetricsUnauthorized | ApiError::AdminUnauthorized) {
                    response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
                response.force_close();
            }
            _ => {}
        }
        if let ApiError::Admin(AdminError::Database(e)) = self {
            tracing::error!(error = %e, "an admin request failed in the database");
        }
        response.json(serde_json::json!({ "error": self.code(), "message": self.to_string() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_request_the_database_cannot_take_now_is_a_503_to_retry() {
        for unavailable in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            let error = ApiError::Admin(AdminError::Database(unavailable));
            let response = error.error_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
            assert_eq!(error.code(), "unavailable");
        }
        let other = ApiError::Admin(AdminError::Database(sqlx::Error::RowNotFound));
        assert_eq!(other.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(other.code(), "internal");
    }
}
