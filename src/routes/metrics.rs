use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::metrics::{render_all, DatabaseGauges, IntakeMetrics};

/// `METRICS_TOKEN`, kept as its SHA-256: comparing digests takes the same time whatever the
/// length or content of what a client sends.
#[derive(Clone, Debug, Default)]
pub struct MetricsToken(Option<[u8; 32]>);

impl MetricsToken {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self(token.map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()))
    }

    /// Without a token anyone may scrape (as is usual on a scrape port).
    fn admits(&self, request: &HttpRequest) -> bool {
        let Some(expected) = &self.0 else {
            return true;
        };
        let Some(given) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        // Every byte compared, whatever the first difference.
        given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// `GET /metrics`: Prometheus' text format; behind `Authorization: Bearer $METRICS_TOKEN` when
/// that is set.
pub async fn metrics(
    request: HttpRequest,
    token: web::Data<MetricsToken>,
    intake: web::Data<IntakeMetrics>,
    gauges: web::Data<DatabaseGauges>,
) -> Result<HttpResponse, ApiError> {
    if !token.admits(&request) {
        return Err(ApiError::MetricsUnauthorized);
    }
    let gauges = gauges.render().await;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render_all(&intake, &gauges)))
}
