//! The admin API under `/api`: JSON, behind `Authorization: Bearer $ADMIN_TOKEN`. Without
//! `ADMIN_TOKEN` every route answers 404, so an unconfigured service shows no admin surface.
use actix_web::web;

use crate::admin::AdminError;
use crate::error::ApiError;

mod answer;
mod deliveries;
mod findings;
mod guard;
mod jobs;
mod overviews;
mod status;

use guard::Admin;
pub use guard::AdminToken;

/// Every admin route, and errors in their query strings answered as ours are.
pub fn scope() -> actix_web::Scope {
    web::scope("/api")
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _| ApiError::Admin(AdminError::BadRequest(error.to_string())).into()),
        )
        .route("/status", web::get().to(status::get))
        .route("/findings", web::get().to(findings::list))
        .route("/findings/{id}", web::get().to(findings::get))
        .route("/findings/{id}/resync", web::post().to(findings::resync))
        .route("/deliveries", web::get().to(deliveries::list))
        .route("/deliveries/{id}", web::get().to(deliveries::get))
        .route("/deliveries/{id}/replay", web::post().to(deliveries::replay))
        .route("/overviews", web::get().to(overviews::list))
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
