use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use tracing::field::Empty;

use super::bounded_body::BodyLimits;
use crate::domain::{Envelope, SignatureVerifier};
use crate::error::ApiError;
use crate::ingest::{IncomingEvent, Ingestor, Outcome};
use crate::metrics::IntakeMetrics;

pub const SIGNATURE_HEADER: &str = "x-deepsource-signature";

/// `POST /webhooks`: check the signature header, read the body within its limits, verify,
/// parse the envelope, store durably, then answer.
#[tracing::instrument(
    name = "webhook",
    skip_all,
    fields(delivery_id = Empty, event_type = Empty, outcome = Empty, body_bytes = Empty)
)]
pub async fn receive_webhook(
    request: HttpRequest,
    payload: web::Payload,
    verifier: web::Data<SignatureVerifier>,
    ingestor: web::Data<Ingestor>,
    limits: web::Data<BodyLimits>,
    metrics: web::Data<IntakeMetrics>,
) -> Result<HttpResponse, ApiError> {
    match receive(request, payload, &verifier, &ingestor, &limits, &metrics).await {
        Ok((outcome, answer)) => {
            metrics.webhook(outcome.as_str());
            Ok(answer)
        }
        Err(e) => {
            metrics.webhook(e.outcome());
            tracing::Span::current().record("outcome", e.outcome());
            Err(e)
        }
    }
}

async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    verifier: &SignatureVerifier,
    ingestor: &Ingestor,
    limits: &BodyLimits,
    metrics: &IntakeMetrics,
) -> Result<(Outcome, HttpResponse), ApiError> {
    let received_at = Utc::now();
    let refused = |e: &crate::domain::SignatureError| {
        tracing::warn!(reason = %e, "refused an event with a bad signature");
    };
    // A header that is not even ASCII cannot be hex; the lossy copy fails as "not hex". Judged
    // before the body is read, so a client that cannot sign costs no more than its headers.
    let header = request
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let signature = verifier
        .expect_signature(header.as_deref())
        .inspect_err(refused)?;

    let body = limits.read(&request, payload).await.inspect_err(|e| {
        tracing::warn!(reason = %e, "refused a body");
    })?;
    let span = tracing::Span::current();
    span.record("body_bytes", body.bytes.len());
    verifier
        .check(signature.as_ref(), &body.bytes)
        .inspect_err(refused)?;

    let envelope = Envelope::parse(&body.bytes, received_at).inspect_err(|e| {
        tracing::warn!(reason = %e, "refused a malformed event");
    })?;
    span.record("delivery_id", envelope.id.as_str());
    span.record("event_type", envelope.event_type.as_str());
    let id = envelope.id.clone();

    let started = std::time::Instant::now();
    let outcome = ingestor
        .ingest(IncomingEvent::new(envelope, body.bytes.clone(), received_at))
        .await;
    metrics.ingest_took(started.elapsed());
    let outcome = outcome?;
    // The body's share of the in-flight budget is held until here: it was in memory until now.
    drop(body);
    span.record("outcome", outcome.as_str());
    match outcome {
        Outcome::Conflict => {
            tracing::warn!("an event arrived again with a different body; kept it in webhook_event_conflicts")
        }
        // One line per delivery: DeepSource sends a handful per commit, and operators trace them by id.
        Outcome::Stored => tracing::info!("event stored"),
        Outcome::Duplicate => tracing::info!("duplicate delivery; nothing new stored"),
    }
    let answer =
        HttpResponse::Ok().json(serde_json::json!({ "id": id.as_str(), "status": outcome.as_str() }));
    Ok((outcome, answer))
}
