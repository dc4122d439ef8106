use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use sqlx::PgPool;
use tracing::field::Empty;

use super::bounded_body::BodyLimits;
use crate::domain::SignatureError;
use crate::error::ApiError;
use crate::github_webhooks::{store_delivery, DeliveryHeaders, GitHubEvent, GitHubWebhooks, Stored};
use crate::ingest::IngestError;
use crate::metrics::IntakeMetrics;

pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// `POST /github/webhooks`: GitHub's `issues` events, by the same rules as DeepSource's: the
/// signature header judged before the body is read, 401 on a bad signature, 400 on what GitHub
/// would not send, 503 while the database is down, and 200 only once stored.
#[tracing::instrument(
    name = "github_webhook",
    skip_all,
    fields(
        delivery_id = Empty,
        event_type = Empty,
        action = Empty,
        outcome = Empty,
        finding = Empty,
        repository = Empty,
        github_issue = Empty
    )
)]
pub async fn receive_github_webhook(
    request: HttpRequest,
    payload: web::Payload,
    hooks: web::Data<GitHubWebhooks>,
    pool: web::Data<PgPool>,
    limits: web::Data<BodyLimits>,
    metrics: web::Data<IntakeMetrics>,
) -> Result<HttpResponse, ApiError> {
    match receive(request, payload, &hooks, &pool, &limits).await {
        Ok((outcome, answer)) => {
            metrics.github_webhook(outcome);
            Ok(answer)
        }
        Err(e) => {
            metrics.github_webhook(e.outcome());
            tracing::Span::current().record("outcome", e.outcome());
            Err(e)
        }
    }
}

async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    hooks: &GitHubWebhooks,
    pool: &PgPool,
    limits: &BodyLimits,
) -> Result<(&'static str, HttpResponse), ApiError> {
    let received_at = Utc::now();
    let Some(verifier) = &hooks.verifier else {
        return Err(ApiError::NotConfigured(
            "GitHub webhooks are off: GITHUB_WEBHOOK_SECRET is not set",
        ));
    };
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let refused = |e: SignatureError| {
        tracing::warn!(reason = %e, "refused a GitHub delivery with a bad signature");
        ApiError::GitHubUnauthorized(match e {
            SignatureError::Missing => format!("missing {GITHUB_SIGNATURE_HEADER} header"),
            SignatureError::Mismatch => format!("{GITHUB_SIGNATURE_HEADER} does not match the body"),
            _ => format!("{GITHUB_SIGNATURE_HEADER} is not sha256= and 64 hex digits"),
        })
    };
    let signature = header(GITHUB_SIGNATURE_HEADER);
    if signature
        .as_deref()
        .is_some_and(|s| !s.trim().starts_with("sha256="))
    {
        return Err(refused(SignatureError::NotHex));
    }
    let signature = verifier.expect_signature(signature.as_deref()).map_err(refused)?;
    let headers = DeliveryHeaders::parse(
        header("x-github-delivery").as_deref(),
        header("x-github-event").as_deref(),
    )?;
    let span = tracing::Span::current();
    span.record("delivery_id", headers.id.as_str());
    span.record("event_type", headers.event_type.as_str());

    let body = limits.read(&request, payload).await?;
    verifier.check(signature.as_ref(), &body.bytes).map_err(refused)?;
    let event = GitHubEvent::parse(&headers.event_type, &body.bytes).inspect_err(|e| {
        tracing::warn!(reason = %e, "refused a malformed GitHub delivery");
    })?;
    if let Some(action) = &event.action {
        span.record("action", action.as_str());
    }
    if let Some((repository, number, _)) = &event.issue {
        span.record("repository", repository.as_str());
        span.record("github_issue", number);
    }
    let stored = store_delivery(pool, &headers, &event, &body.bytes, received_at)
        .await
        .map_err(|e| {
            if crate::db::is_data_error(&e) {
                tracing::warn!(error = %e, "the database refuses this GitHub delivery");
                return ApiError::EventRefused(format!("the database refuses this delivery: {e}"));
            }
            tracing::error!(error = %e, "could not store a GitHub delivery");
            ApiError::StorageUnavailable(IngestError::Database(e.to_string()))
        })?;
    drop(body);
    span.record("outcome", stored.status());
    match &stored {
        Stored::New { outcome, finding } => {
            if let Some(finding) = finding {
                span.record("finding", finding.as_str());
            }
            tracing::info!(result = %outcome, "GitHub delivery stored");
        }
        Stored::Duplicate => tracing::info!("duplicate GitHub delivery; nothing new stored"),
        Stored::Conflict => tracing::warn!(
            "a GitHub delivery arrived again with a different body; kept it in github_event_conflicts"
        ),
    }
    let answer = HttpResponse::Ok().json(serde_json::json!({ "id": headers.id, "status": stored.status() }));
    Ok((stored.status(), answer))
}
