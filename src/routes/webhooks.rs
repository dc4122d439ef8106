use actix_web::error::PayloadError;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use tracing::field::Empty;

use crate::domain::{Envelope, SignatureVerifier};
use crate::error::ApiError;
use crate::ingest::{IncomingEvent, Ingestor, Outcome};

pub const SIGNATURE_HEADER: &str = "x-deepsource-signature";

/// The body limit, for the 413 message (actix's `PayloadConfig` enforces it but does not expose it).
#[derive(Clone, Copy, Debug)]
pub struct MaxBodyBytes(pub usize);

/// `POST /webhooks`: verify, parse the envelope, store durably, then answer.
#[tracing::instrument(
    name = "webhook",
    skip_all,
    fields(delivery_id = Empty, event_type = Empty, outcome = Empty, body_bytes = Empty)
)]
pub async fn receive_webhook(
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    verifier: web::Data<SignatureVerifier>,
    ingestor: web::Data<Ingestor>,
    max_body: web::Data<MaxBodyBytes>,
) -> Result<HttpResponse, ApiError> {
    let received_at = Utc::now();
    let body = body.map_err(|e| match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit: max_body.0 },
        _ => ApiError::UnreadableBody(e.to_string()),
    })?;
    let span = tracing::Span::current();
    span.record("body_bytes", body.len());

    // A header that is not even ASCII cannot be hex; the lossy copy fails as "not hex".
    let header = request
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    verifier.verify(header.as_deref(), &body).inspect_err(|e| {
        tracing::warn!(reason = %e, "refused an event with a bad signature");
    })?;

    let envelope = Envelope::parse(&body, received_at).inspect_err(|e| {
        tracing::warn!(reason = %e, "refused a malformed event");
    })?;
    span.record("delivery_id", envelope.id.as_str());
    span.record("event_type", envelope.event_type.as_str());
    let id = envelope.id.clone();

    let outcome = ingestor
        .ingest(IncomingEvent::new(envelope, body, received_at))
        .await?;
    span.record("outcome", outcome.as_str());
    match outcome {
        Outcome::Conflict => {
            tracing::warn!("an event arrived again with a different body; kept it in webhook_event_conflicts")
        }
        // One line per delivery: DeepSource sends a handful per commit, and operators trace them by id.
        Outcome::Stored => tracing::info!("event stored"),
        Outcome::Duplicate => tracing::info!("duplicate delivery; nothing new stored"),
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id.as_str(), "status": outcome.as_str() })))
}
