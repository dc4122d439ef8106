use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

use super::bearer::BearerToken;
use crate::error::ApiError;
use crate::metrics::{render_all, DatabaseGauges, IntakeMetrics};

/// `METRICS_TOKEN`: unset, anyone may scrape (as is usual on a scrape port).
#[derive(Clone, Debug, Default)]
pub struct MetricsToken(BearerToken);

impl MetricsToken {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self(BearerToken::new(token))
    }

    fn admits(&self, request: &HttpRequest) -> bool {
        !self.0.is_set() || self.0.authorizes(request)
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
