//! The admin API under `/api`: JSON, behind `Authorization: Bearer $ADMIN_TOKEN`. Without
//! `ADMIN_TOKEN` every route answers 404, so an unconfigured service shows no admin surface.
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use secrecy::SecretString;

use super::bearer::BearerToken;
use crate::admin::{AdminError, Page};
use crate::error::ApiError;

mod deliveries;
mod findings;
mod jobs;

/// `ADMIN_TOKEN`, for the admin API and the status page.
#[derive(Clone, Debug, Default)]
pub struct AdminToken(pub(crate) BearerToken);

impl AdminToken {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self(BearerToken::new(token))
    }
}

/// A request the admin token authorizes; a handler that takes one is an admin route.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = request.app_data::<web::Data<AdminToken>>();
        ready(match token {
            Some(token) if token.0.is_set() => match token.0.authorizes(request) {
                true => Ok(Admin),
                false => Err(ApiError::AdminUnauthorized),
            },
            _ => Err(ApiError::NotConfigured(
                "the admin API is off: set ADMIN_TOKEN to use it",
            )),
        })
    }
}

/// Every admin route, and errors in their query strings answered as ours are.
pub fn scope() -> actix_web::Scope {
    web::scope("/api")
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _| ApiError::Admin(AdminError::BadRequest(error.to_string())).into()),
        )
        .route("/findings", web::get().to(findings::list))
        .route("/findings/{id}", web::get().to(findings::get))
        .route("/findings/{id}/resync", web::post().to(findings::resync))
        .route("/deliveries", web::get().to(deliveries::list))
        .route("/deliveries/{id}", web::get().to(deliveries::get))
        .route("/deliveries/{id}/replay", web::post().to(deliveries::replay))
        .route("/jobs", web::get().to(jobs::list))
        .route("/jobs/retry", web::post().to(jobs::retry_all))
        .route("/jobs/{id}", web::get().to(jobs::get))
        .route("/jobs/{id}/retry", web::post().to(jobs::retry))
        .default_service(web::to(|_: Admin| async {
            Err::<actix_web::HttpResponse, _>(ApiError::Admin(AdminError::NotFound(
                "no such admin route".into(),
            )))
        }))
}

/// A page of a list as every list route answers it: `{"<name>": [...], "next_cursor": ...}`.
fn listed<T: serde::Serialize>(name: &str, page: Page<T>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ name: page.items, "next_cursor": page.next_cursor }))
}

/// A job id from the path.
fn job_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Admin(AdminError::NotFound(format!("no job {text}"))))
}
